"""Throughput of one KA training step vs one single-model step, measured in one run; prints JSON.

KA trains two networks on the same mixed batch, so its ideal cost is 2x a
single-model (MTL) step; the target is ``ka_vs_single_time_ratio <= 2.1``.
Achieved GFLOP/s (FLOPs counted by ``torch.utils.flop_counter``) is compared
with a float32 matmul measured in the same run.

    python benchmarks/train_step.py [--steps 10] [--height 128 --width 64]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
import yaml
from torch.utils.flop_counter import FlopCounterMode

from knowledge_assembly.config import ModelConfig, TrainingConfig, VariantConfig
from knowledge_assembly.memory import retain_freed_memory
from knowledge_assembly.models import build_model
from knowledge_assembly.training.loop import forward_losses, optimise
from knowledge_assembly.training.objective import Batch

PARAMS_FILE = "conf/base/parameters_training.yml"


def make_step(
    variant: VariantConfig,
    training: TrainingConfig,
    model: ModelConfig,
    images: torch.Tensor,
    batch: Batch,
    num_ids: int,
):
    networks = [build_model(model, num_ids, 40, seed=i) for i in range(variant.networks)]
    optimizer = torch.optim.Adam([p for n in networks for p in n.parameters()], lr=1e-4, fused=True)
    generator = torch.Generator().manual_seed(0)

    def step() -> None:
        optimise(optimizer, forward_losses(networks, images, batch, variant, training, generator)["total"])

    return step


def interleaved_step_seconds(steps: dict, repeats: int) -> dict[str, float]:
    """Median seconds per step, alternating the variants step by step so machine drift hits both alike."""
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def flops_per_step(step) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return counter.get_total_flops()


def matmul_gflops(size: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--height", type=int, default=128)
    parser.add_argument("--width", type=int, default=64)
    args = parser.parse_args()
    allocator_tuned = retain_freed_memory()  # as the training loop does on CPU
    config = yaml.safe_load(Path(PARAMS_FILE).read_text())
    training, model = TrainingConfig(**config["training"]), ModelConfig(**config["model"])
    n_reid = training.ids_per_batch * training.images_per_id
    n_par = training.par_batch_size
    num_ids = 751
    torch.manual_seed(0)
    images = torch.rand(n_reid + n_par, 3, args.height, args.width)
    batch = Batch(n_reid, torch.arange(n_reid) % num_ids, (torch.rand(n_par, 40) > 0.7).float(), None)
    variants = {
        "mtl": VariantConfig(**config["variants"]["supervised"]["mtl"]),
        "ka": VariantConfig(**config["variants"]["ssl"]["ka"]),
    }
    steps = {name: make_step(v, training, model, images, batch, num_ids) for name, v in variants.items()}
    flops = {name: flops_per_step(step) for name, step in steps.items()}  # also warms up
    for step in steps.values():
        step()
    seconds = interleaved_step_seconds(steps, args.steps)
    images_per_step = n_reid + n_par
    matmul = matmul_gflops()
    print(
        json.dumps(
            {
                "benchmark": "train_step",
                "threads": torch.get_num_threads(),
                "allocator_retains_freed_memory": allocator_tuned,
                "batch": {"reid": n_reid, "par": n_par, "height": args.height, "width": args.width},
                "images_per_second": {
                    "single_model_mtl": images_per_step / seconds["mtl"],
                    "ka_two_models": images_per_step / seconds["ka"],
                },
                "ka_vs_single_time_ratio": seconds["ka"] / seconds["mtl"],
                "target_ratio_max": 2.1,
                "gflop_per_step": {k: v / 1e9 for k, v in flops.items()},
                "achieved_gflops": {k: flops[k] / seconds[k] / 1e9 for k in flops},
                "matmul_gflops": matmul,
                "fraction_of_matmul": {k: flops[k] / seconds[k] / 1e9 / matmul for k in flops},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
