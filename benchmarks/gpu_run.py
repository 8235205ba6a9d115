"""A real-scale KA training run on one device, for ``benchmarks/gpu_check.sh``: the real protocol's batch
(16 identities x 4 images + 64 PAR images) and its speed settings (``conf/real``: bf16 autocast, channels_last,
prefetching) at 256x128, on a memory-mapped uint8 cache of random images, for a few hundred steps of the real
training loop; KA (two networks) and MTL (one) in the same run. The steps run as two epochs: the first holds
cuDNN's autotuning and, with ``--compile``, the compilation, so img/s and the data-waiting share are the second
epoch's (steady state) and the first epoch's seconds are reported beside them. Prints JSON: img/s of each, the
KA/single ratio, peak device memory and the share of each step spent waiting for data.

    python benchmarks/gpu_run.py [--steps 300] [--compile] [--device cuda]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import torch
from train_step import cached_data, protocol_configs

from knowledge_assembly.config import ModelConfig, TrainingConfig, VariantConfig
from knowledge_assembly.training.loop import train


def real_configs(steps: int, device: str, compile_model: bool) -> tuple[TrainingConfig, ModelConfig, dict]:
    """conf/real's settings for ``steps`` steps in two epochs (random initialisation)."""
    return protocol_configs(
        "real",
        epochs=2,
        iterations_per_epoch=max(steps // 2, 1),
        device=device,
        compile=compile_model,
        progress=False,
        ssl_warmup_epochs=0,
    )


def measure(name: str, variant: VariantConfig, data, training: TrainingConfig, model: ModelConfig) -> dict:
    cuda = training.device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    result = train(name, variant, data, training, model)
    seconds = time.perf_counter() - start
    first, steady = result.history[0], result.history[-1]
    images = training.iterations_per_epoch * (training.ids_per_batch * training.images_per_id + training.par_batch_size)
    return {
        "seconds": round(seconds, 1),
        "first_epoch_seconds": round(images / first["images_per_second"], 1),
        "images_per_second": steady["images_per_second"],
        "data_wait_share": steady["data_wait_share"],
        "peak_memory_gb": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
        "final_total_loss": steady["total"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--compile", action="store_true", help="torch.compile the networks (training.compile)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    training, model, variants = real_configs(args.steps, args.device, args.compile)
    with tempfile.TemporaryDirectory() as folder:
        count = 4 * max(training.ids_per_batch * 8, 256)
        data = cached_data(Path(folder), count, 256, 128, training)
        runs = {
            name: measure(name, VariantConfig(**variants[group][name]), data, training, model)
            for group, name in (("supervised", "mtl"), ("ssl", "ka"))
        }
    device = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu"
    settings = dataclasses.asdict(training)
    print(
        json.dumps(
            {
                "benchmark": "gpu_run",
                "device": device,
                "steps": args.steps,
                "reported": "the second of two epochs (the first holds autotuning and compilation)",
                "batch": {"reid": training.ids_per_batch * training.images_per_id, "par": training.par_batch_size},
                "image": [256, 128],
                "precision": settings["precision"],
                "channels_last": settings["channels_last"],
                "compile": args.compile,
                "single_model_mtl": runs["mtl"],
                "ka_two_models": runs["ka"],
                "ka_vs_single_time_ratio": runs["mtl"]["images_per_second"] / runs["ka"]["images_per_second"],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
