"""The accelerator input pipeline: prefetched uint8 batches, batched on-device augmentation, bf16 and NHWC."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from knowledge_assembly.models import build_model
from knowledge_assembly.training.batches import TrainingData, epoch_plan, strong_view, weak_view
from knowledge_assembly.training.input_pipeline import Prefetcher, device_images, gather_host_batch
from knowledge_assembly.training.loop import train
from knowledge_assembly.training.objective import Batch, shard_rows
from knowledge_assembly.training.step import forward_losses

from .conftest import model_config, training_config, two_sources, variant_config

pytestmark = pytest.mark.kernels  # training outcomes: `make test-kernels` runs them under every kernel set


def tiny_data(seed: int = 0) -> TrainingData:
    rng = np.random.default_rng(seed)
    return two_sources(
        rng.integers(0, 256, (40, 16, 8, 3), dtype=np.uint8),
        np.repeat(np.arange(10), 4),
        rng.integers(0, 256, (48, 16, 8, 3), dtype=np.uint8),
        (rng.random((48, 5)) > 0.5).astype(np.float32),
        pk=(2, 2),
        par_batch=4,
    )


def plan_of(data: TrainingData) -> list[tuple[np.ndarray, ...]]:
    return epoch_plan(data, (True, True), np.random.default_rng(1))


@pytest.mark.parametrize("depth", [1, 2, 5])
def test_prefetched_batches_are_the_plans_batches_in_order(depth):
    data = tiny_data()
    plan = plan_of(data)
    direct = list(Prefetcher(data, plan, 0, pin=False))
    ahead = list(Prefetcher(data, plan, depth, pin=False))
    assert len(ahead) == len(plan) == len(direct) > 1
    reid, par = data.sources
    for a, b, (reid_index, par_index) in zip(direct, ahead, plan):
        assert torch.equal(a.images, b.images) and torch.equal(a.labels["par"], b.labels["par"])
        assert a.blocks == b.blocks == (4, 4)
        assert torch.equal(a.images[:4], torch.from_numpy(reid.images[np.sort(reid_index)]))
        assert torch.equal(a.labels["par"], torch.from_numpy(par.labels["par"][np.sort(par_index)]))
        assert torch.equal(b.labels["reid"], torch.from_numpy(reid.labels["reid"][np.sort(reid_index)]))


def test_a_gathering_error_reaches_the_training_thread_and_stopping_early_ends_the_worker():
    data = tiny_data()
    broken = [*plan_of(data)[:2], (np.array([999]), np.array([0]))]
    with pytest.raises(IndexError):
        list(Prefetcher(data, broken, 2, pin=False))
    batches = Prefetcher(data, plan_of(data), 1, pin=False)
    for _ in batches:
        break
    assert not any(t.name == "batch-prefetch" for t in threading.enumerate())


def test_device_images_are_the_float_nchw_images():
    images = torch.from_numpy(tiny_data().sources[0].images[:3])
    out = device_images(images, torch.device("cpu"))
    assert out.shape == (3, 3, 16, 8) and out.dtype == torch.float32
    assert torch.equal(out[1, 2], images[1, :, :, 2].float() / 255)


def test_each_rank_gathers_and_augments_its_share_exactly_as_one_process_does():
    data = tiny_data()
    indices = plan_of(data)[0]
    whole = gather_host_batch(data, indices, pin=False)
    images = device_images(whole.images, torch.device("cpu"))
    weak = weak_view(images, torch.Generator().manual_seed(7))
    strong = strong_view(images, torch.Generator().manual_seed(8))
    for rank in range(2):
        share = gather_host_batch(data, indices, pin=False, rank=rank, world_size=2)
        reid_rows, par_rows = shard_rows(whole.blocks, rank, 2)
        rows = torch.cat([reid_rows, whole.blocks[0] + par_rows])
        assert torch.equal(share.rows, rows) and share.global_size == len(whole.images)
        assert torch.equal(share.images, whole.images[rows])
        assert torch.equal(share.labels["reid"], whole.labels["reid"][reid_rows])
        assert torch.equal(share.labels["par"], whole.labels["par"][par_rows])
        mine = device_images(share.images, torch.device("cpu"))
        assert torch.equal(weak_view(mine, torch.Generator().manual_seed(7), rows, share.global_size), weak[rows])
        assert torch.equal(strong_view(mine, torch.Generator().manual_seed(8), rows, share.global_size), strong[rows])


def test_augmentation_flips_and_shifts_but_keeps_pixels():
    images = torch.arange(2 * 3 * 16 * 8, dtype=torch.float32).view(2, 3, 16, 8) / 1000
    views = weak_view(images, torch.Generator().manual_seed(0))
    assert views.shape == images.shape
    assert set(views.flatten().tolist()) <= set(images.flatten().tolist())  # crops of reflect-padded pixels
    erased = strong_view(images.clamp(0, 1), torch.Generator().manual_seed(0))
    assert (erased == 0.5).any()


@pytest.mark.parametrize("precision,channels_last", [("bf16", True), ("bf16", False), ("fp32", True)])
def test_bf16_autocast_and_channels_last_give_finite_losses_that_train(precision, channels_last):
    torch.manual_seed(0)
    config = training_config(precision=precision, channels_last=channels_last)
    variant = variant_config(networks=2, supervised=["reid", "par"], ssl=["reid_triplet", "dataset_bce", "dice"])
    model = model_config(hidden_dim=32, feature_dim=16)
    networks = [build_model(model, {"reid": 4, "par": 5}, seed=i) for i in range(2)]
    if channels_last:
        networks = [n.to(memory_format=torch.channels_last) for n in networks]
    optimizer = torch.optim.Adam([p for n in networks for p in n.parameters()], lr=1e-3)
    images = torch.rand(12, 3, 32, 16)
    labels = {"reid": torch.tensor([0, 0, 1, 1, 2, 2, 3, 3]), "par": (torch.rand(4, 5) > 0.5).float()}
    batch = Batch.of((8, 4), labels, {"reid": (0,), "par": (1,)})
    totals = []
    for _ in range(3):
        terms = forward_losses(networks, images, batch, variant, config, torch.Generator().manual_seed(0))
        assert all(torch.isfinite(v).all() and v.dtype == torch.float32 for v in terms.values())
        optimizer.zero_grad()
        terms["total"].backward()
        optimizer.step()
        totals.append(float(terms["total"].detach()))
    assert totals[-1] < totals[0]


def test_training_does_not_depend_on_prefetching():
    """The same seed trains bit-identical weights (same machine and kernel set) with batches gathered ahead or
    in the training thread."""
    data = tiny_data()
    variant = variant_config(networks=1, supervised=["reid", "par"])
    weights, small = [], model_config(hidden_dim=32, feature_dim=16)
    for depth in (0, 3):
        config = training_config(
            epochs=1, ids_per_batch=2, images_per_id=2, par_batch_size=4, prefetch_batches=depth, progress=False
        )
        result = train("mtl", variant, data, config, small)
        weights.append(result.networks[0].state_dict())
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
