"""Throughput of one KA training step vs one single-model step, and of the input pipeline, measured in one
run; prints JSON.

KA trains two networks on the same mixed batch, so its ideal cost is 2x a
single-model (MTL) step; the target is ``ka_vs_single_time_ratio <= 2.0``.
Achieved GFLOP/s (FLOPs counted by ``torch.utils.flop_counter``) is compared
with a float32 matmul measured in the same run.

``--protocol real`` takes the real protocol's batch and speed settings (``conf/real``: 16x4 + 64 images, bf16
autocast, channels_last) over the base ones (8x4 + 32, fp32), as a GPU run would train. On a GPU every timed step
ends with a synchronisation, so a step's time is the device's, not the time to queue its kernels.

Data preparation: uint8 batches gathered from a memory-mapped cache on one CPU
core (what the background thread does; target >= 20,000 img/s at 256x128), and
the conversion + augmentation that runs on the training device, at 256x128 and
64x128; then the share of a KA step spent waiting for data with the prefetching
thread (``training.prefetch_batches``) on and off.

Sources: a KA step with domain-specific BatchNorm on the same total batch from three sources (the PAR share split
over two attribute-labelled sources) against two; the target is ``three_vs_two_sources_time_ratio <= 1.05`` (the
cost is the images, not the number of sources). ``--compile`` compiles those steps' networks (on a GPU an eager
step is bound by the operations it launches, and a source adds its BatchNorm calls).

    python benchmarks/train_step.py [--steps 10] [--height 128 --width 64] [--device cpu|cuda] [--protocol real]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from torch.utils.flop_counter import FlopCounterMode

from knowledge_assembly.config import ModelConfig, TrainingConfig, VariantConfig
from knowledge_assembly.memory import retain_freed_memory
from knowledge_assembly.models import build_model
from knowledge_assembly.training.batches import (
    PKSampler,
    SourceData,
    TrainingData,
    UniformSampler,
    epoch_plan,
    weak_view,
)
from knowledge_assembly.training.input_pipeline import Prefetcher, device_images
from knowledge_assembly.training.objective import Batch
from knowledge_assembly.training.run import TrainingRun
from knowledge_assembly.training.step import StepPosition, forward_losses, optimise, run_step

BASE, REAL = Path("conf/base/parameters_training.yml"), Path("conf/real/parameters_training.yml")


def protocol_configs(protocol: str, **training_overrides) -> tuple[TrainingConfig, ModelConfig, dict]:
    """The ``training`` and ``model`` settings of conf/base, with conf/real's merged over them for ``real``
    (random initialisation: no weights file needed), and the configured variants."""
    base = yaml.safe_load(BASE.read_text())
    real = yaml.safe_load(REAL.read_text()) if protocol == "real" else {"training": {}, "model": {}}
    training = {**base["training"], **real["training"], **training_overrides}
    model = {**base["model"], **real["model"], "pretrained": "none"}
    return TrainingConfig(**training), ModelConfig(**model), base["variants"]


def make_step(
    variant: VariantConfig,
    training: TrainingConfig,
    model: ModelConfig,
    images: torch.Tensor,
    batch: Batch,
    num_ids: int,
    compiled: bool = False,
):
    """One training step of ``variant`` on ``images``, as the loop takes it (NHWC networks with
    ``training.channels_last``; ``compiled``: each network through ``torch.compile``)."""
    sources = len(batch.blocks)
    counts = {"reid": num_ids, "par": 40}
    networks = [build_model(model, counts, i, sources).to(images.device) for i in range(variant.networks)]
    if training.channels_last:
        networks = [network.to(memory_format=torch.channels_last) for network in networks]
    optimizer = torch.optim.Adam([p for n in networks for p in n.parameters()], lr=1e-4, fused=True)
    generator = torch.Generator().manual_seed(0)
    run = [torch.compile(network) for network in networks] if compiled else networks

    def step() -> None:
        optimise(optimizer, forward_losses(run, images, batch, variant, training, generator)["total"])

    return step


def cached_images(folder: Path, count: int, height: int, width: int) -> np.ndarray:
    """A memory-mapped uint8 image cache like the pipeline's (``(N, H, W, 3)``)."""
    images = np.lib.format.open_memmap(folder / f"{height}x{width}.npy", "w+", np.uint8, (count, height, width, 3))
    images[:] = np.random.default_rng(0).integers(0, 256, images.shape, dtype=np.uint8)
    images.flush()
    return np.load(folder / f"{height}x{width}.npy", mmap_mode="r")


def cached_data(folder: Path, count: int, height: int, width: int, training: TrainingConfig) -> TrainingData:
    """Training data on a memory-mapped cache: 4 images per identity, the same images as PAR images."""
    images = cached_images(folder, count, height, width)
    attributes = (np.random.default_rng(0).random((count, 40)) > 0.7).astype(np.float32)
    pk = PKSampler(training.ids_per_batch, training.images_per_id)
    reid = SourceData("reid", images, pk, {"reid": np.repeat(np.arange(count // 4), 4)})
    par = SourceData("par", images, UniformSampler(training.par_batch_size), {"par": attributes})
    return TrainingData((reid, par))


def mixed_plan(data: TrainingData, seed: int) -> list[tuple[np.ndarray, ...]]:
    return epoch_plan(data, (True, True), np.random.default_rng(seed))


def data_preparation(folder: Path, training: TrainingConfig, height: int, width: int, device: torch.device) -> dict:
    """img/s of the host gather (one thread, as the prefetcher runs it) and of device conversion + augmentation.

    The gather is timed on an epoch's batches consumed and freed one by one, as training does, after one untimed
    epoch (whose fresh batch memory page-faults in). Kept in a list, a fresh process's first epoch measured 7,200
    img/s at 256x128 on one 2-core CPU, a later one 35,000, and consumed batches 88,000-98,000."""
    data = cached_data(folder, 4096, height, width, training)
    plan, pin = mixed_plan(data, seed=0), device.type == "cuda"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    for _ in Prefetcher(data, plan, 0, pin):
        pass
    start, count = time.perf_counter(), 0
    for host in Prefetcher(data, plan, 0, pin):
        count += len(host.images)
    gather_s = time.perf_counter() - start
    torch.set_num_threads(threads)
    hosts = list(Prefetcher(data, plan[:16], 0, pin))
    generator = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for host in hosts:
        weak_view(device_images(host.images, device), generator)
    synchronize(device)
    augment_s = time.perf_counter() - start
    return {
        "host_gather_one_thread": count / gather_s,
        "device_convert_and_augment": sum(len(host.images) for host in hosts) / augment_s,
    }


def waiting_share(
    training: TrainingConfig,
    model: ModelConfig,
    variant: VariantConfig,
    device: torch.device,
    folder: Path,
    height: int,
    width: int,
    steps: int,
) -> dict:
    """Share of a KA step's time spent waiting for the next batch, with and without the prefetching thread (the
    training loop's run and step)."""
    data = cached_data(folder, 1024, height, width, training)
    run = TrainingRun.create(variant, data, dataclasses.replace(training, device=str(device)), model)
    generator = torch.Generator().manual_seed(0)
    shares = {}
    for depth in (0, 2):
        plan = mixed_plan(data, seed=depth)[:steps]
        batches = Prefetcher(data, plan, depth, pin=device.type == "cuda")
        start = time.perf_counter()
        for iteration, host in enumerate(batches):
            run_step(run, host, variant, training, generator, 1.0, StepPosition("ka", 0, iteration))
        synchronize(device)
        shares[f"prefetch_{depth}"] = batches.wait_seconds / (time.perf_counter() - start)
    return shares


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved_step_seconds(steps: dict, repeats: int, device: torch.device) -> dict[str, float]:
    """Median seconds per step, alternating the variants step by step so machine drift hits both alike."""
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            synchronize(device)
            start = time.perf_counter()
            step()
            synchronize(device)
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def flops_per_step(step) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return counter.get_total_flops()


def matmul_gflops(device: torch.device, dtype: torch.dtype, size: int = 2048, repeats: int = 10) -> float:
    """GFLOP/s of a square matrix product on ``device`` in ``dtype`` (the training precision's): the ceiling the
    steps' achieved GFLOP/s are compared with."""
    a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
    a @ b
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    synchronize(device)
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--height", type=int, default=128)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--wait-steps", type=int, default=6, help="KA steps for the data-waiting share")
    parser.add_argument("--protocol", choices=("base", "real"), default="base", help="batch and speed settings")
    parser.add_argument("--compile", action="store_true", help="torch.compile the networks of the 3 vs 2 sources steps")
    args = parser.parse_args()
    device = torch.device(args.device)
    allocator_tuned = retain_freed_memory()  # as the training loop does on CPU
    training, model, variant_settings = protocol_configs(args.protocol)
    n_reid = training.ids_per_batch * training.images_per_id
    n_par = training.par_batch_size
    num_ids = 751
    torch.manual_seed(0)
    images = torch.rand(n_reid + n_par, 3, args.height, args.width, device=device)
    labels = {
        "reid": (torch.arange(n_reid) % num_ids).to(device),
        "par": (torch.rand(n_par, 40) > 0.7).float().to(device),
    }
    batch = Batch.of((n_reid, n_par), labels, {"reid": (0,), "par": (1,)})
    variants = {
        "mtl": VariantConfig(**variant_settings["supervised"]["mtl_paper"]),  # shared BatchNorm, as the model
        "ka": VariantConfig(**variant_settings["ssl"]["ka_paper"]),
    }
    steps = {name: make_step(v, training, model, images, batch, num_ids) for name, v in variants.items()}
    flops = {name: flops_per_step(step) for name, step in steps.items()}  # also warms up
    for step in steps.values():
        step()
    seconds = interleaved_step_seconds(steps, args.steps, device)
    images_per_step = n_reid + n_par
    # the same total batch from 2 and from 3 sources (the PAR share split over two attribute-labelled sources)
    ka_dsbn, dsbn_model = (
        VariantConfig(**variant_settings["ssl"]["ka"]),  # per-source BatchNorm
        dataclasses.replace(model, domain_bn=True),
    )
    three = Batch.of((n_reid, n_par // 2, n_par - n_par // 2), labels, {"reid": (0,), "par": (1, 2)})
    by_sources = {
        k: make_step(ka_dsbn, training, dsbn_model, images, b, num_ids, args.compile)
        for k, b in ((2, batch), (3, three))
    }
    for step in by_sources.values():
        for _ in range(3 if args.compile else 1):  # warm-up (with --compile: the compilation)
            step()
    source_seconds = interleaved_step_seconds(by_sources, args.steps, device)
    matmul = matmul_gflops(device, torch.bfloat16 if training.precision == "bf16" else torch.float32)
    with tempfile.TemporaryDirectory() as folder:
        preparation = {
            f"{h}x{w}": data_preparation(Path(folder), training, h, w, device) for h, w in ((256, 128), (128, 64))
        }
        waiting = waiting_share(
            training, model, variants["ka"], device, Path(folder), args.height, args.width, args.wait_steps
        )
    print(
        json.dumps(
            {
                "benchmark": "train_step",
                "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                "threads": torch.get_num_threads(),
                "allocator_retains_freed_memory": allocator_tuned,
                "protocol": args.protocol,
                "precision": training.precision,
                "channels_last": training.channels_last,
                "batch": {"reid": n_reid, "par": n_par, "height": args.height, "width": args.width},
                "images_per_second": {
                    "single_model_mtl": images_per_step / seconds["mtl"],
                    "ka_two_models": images_per_step / seconds["ka"],
                },
                "ka_vs_single_time_ratio": seconds["ka"] / seconds["mtl"],
                "target_ratio_max": 2.0,
                "gflop_per_step": {k: v / 1e9 for k, v in flops.items()},
                "achieved_gflops": {k: flops[k] / seconds[k] / 1e9 for k in flops},
                "matmul_gflops": matmul,
                "fraction_of_matmul": {k: flops[k] / seconds[k] / 1e9 / matmul for k in flops},
                "data_preparation_images_per_second": preparation,
                "data_preparation_target_min": 20_000,
                "ka_step_share_waiting_for_data": waiting,
                "ka_dsbn_step_seconds_by_sources": {str(k): v for k, v in source_seconds.items()},
                "three_vs_two_sources_compiled": args.compile,
                "three_vs_two_sources_time_ratio": source_seconds[3] / source_seconds[2],
                "three_vs_two_sources_target_max": 1.05,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
