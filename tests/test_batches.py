"""Batch composition, sharding and the run fingerprint, tested directly (no Kedro session needed)."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
import torch

from knowledge_assembly.config import ConfigError
from knowledge_assembly.training.batches import TrainingData, epoch_plan, pk_batches, random_batches
from knowledge_assembly.training.checkpoint import source_digest
from knowledge_assembly.training.input_pipeline import gather_host_batch
from knowledge_assembly.training.loop import EpochMeter
from knowledge_assembly.training.run import config_digest

from .conftest import (
    BASE_TRAINING,
    REPO,
    model_config,
    training_config,
    two_sources,
    validation_config,
    variant_config,
)

pytestmark = pytest.mark.kernels  # training outcomes: `make test-kernels` runs them under every kernel set


def _data(ids: int = 10, per_id: int = 5, par: int = 50, pk: tuple[int, int] = (4, 2)) -> TrainingData:
    labels = np.repeat(np.arange(ids), per_id)
    images = np.zeros((len(labels), 8, 4, 3), np.uint8)
    return two_sources(images, labels, np.zeros((par, 8, 4, 3), np.uint8), np.zeros((par, 40), np.uint8), pk=pk)


def test_pk_batches_hold_p_identities_with_k_images_each():
    labels = np.repeat(np.arange(7), [1, 2, 4, 4, 6, 8, 3])
    batches = pk_batches(labels, p=3, k=2, rng=np.random.default_rng(0))
    assert batches
    for batch in batches:
        ids, counts = np.unique(labels[batch], return_counts=True)
        assert len(batch) == 6 and len(ids) == 3 and (counts == 2).all()
    used = np.concatenate(batches)
    assert len(np.unique(used[np.isin(labels[used], [4, 5])])) == len(used[np.isin(labels[used], [4, 5])])  # no repeats
    assert pk_batches(labels, p=3, k=2, rng=np.random.default_rng(0))[0].tolist() == batches[0].tolist()  # seeded


def test_random_batches_cover_every_index_before_repeating():
    batches = random_batches(10, 4, 5, np.random.default_rng(1))
    assert [len(b) for b in batches] == [4] * 5
    first_pass = np.concatenate(batches)[:10]
    assert sorted(first_pass.tolist()) == list(range(10))


@pytest.mark.parametrize("use_reid, use_par", [(True, True), (True, False), (False, True)])
def test_every_variant_gets_the_same_number_of_iterations(use_reid, use_par):
    """An epoch is as long for reid_only, par_only and the mixed variants: one pass over the larger set."""
    data = _data(ids=10, per_id=5, par=50)
    plan = epoch_plan(data, (use_reid, use_par), np.random.default_rng(0))
    assert len(plan) == max(-(-50 // 8), 50 // 8)
    reid_sizes, par_sizes = {len(r) for r, _ in plan}, {len(p) for _, p in plan}
    assert reid_sizes == ({8} if use_reid else {0}) and par_sizes == ({8} if use_par else {0})


@pytest.mark.parametrize("iterations", [1, 3, 20])
def test_a_fixed_number_of_iterations_per_epoch_cycles_or_cuts_the_sets(iterations):
    data = _data(ids=10, per_id=5, par=50)
    plan = epoch_plan(data, (True, True), np.random.default_rng(0), iterations)
    assert len(plan) == iterations and all(len(r) == 8 and len(p) == 8 for r, p in plan)


def test_epoch_plan_refuses_too_few_identities():
    with pytest.raises(
        ConfigError, match=r"fewer than 12 identities \(training.ids_per_batch\) in the training set of source reid"
    ):
        epoch_plan(_data(ids=3, pk=(12, 2)), (True, True), np.random.default_rng(0))


def test_a_batch_is_sharded_into_equal_shares_of_each_source_block():
    data = two_sources(
        np.zeros((4, 8, 4, 3), np.uint8),
        np.arange(4),
        np.zeros((6, 8, 4, 3), np.uint8),
        np.arange(6 * 2, dtype=np.float32).reshape(6, 2),
    )
    first, second = (gather_host_batch(data, (np.arange(4), np.arange(6)), False, rank, 2) for rank in (0, 1))
    assert first.rows.tolist() == [0, 1, 4, 5, 6] and second.rows.tolist() == [2, 3, 7, 8, 9]
    assert first.blocks == second.blocks == (2, 3)
    assert first.labels["reid"].tolist() == [0, 1] and second.labels["reid"].tolist() == [2, 3]
    whole = torch.cat([first.labels["par"], second.labels["par"]])
    assert torch.equal(whole, torch.from_numpy(data.sources[1].labels["par"]))
    with pytest.raises(ValueError, match=r"batch of 4 \+ 6 images \(per source\) cannot be split evenly over 4 proc"):
        gather_host_batch(data, (np.arange(4), np.arange(6)), False, 0, 4)


def test_the_fingerprint_follows_what_shapes_the_weights(tmp_path):
    data, config, model = _data(), training_config(), model_config()
    variant = variant_config(**BASE_TRAINING["variants"]["ssl"]["ka"])
    base = config_digest(variant, config, model, data)
    assert config_digest(variant, dataclasses.replace(config, progress=False, resume=False), model, data) == base
    assert config_digest(dataclasses.replace(variant, rows={"table1": "renamed"}), config, model, data) == base
    assert config_digest(variant, dataclasses.replace(config, lr=1e-2), model, data) != base
    assert config_digest(variant, config, dataclasses.replace(model, hidden_dim=8), data) != base
    reid, par = data.sources
    relabelled = dataclasses.replace(reid, labels={"reid": reid.labels["reid"][::-1].copy()})
    assert config_digest(variant, config, model, TrainingData((relabelled, par))) != base
    fewer_rows = dataclasses.replace(reid, rows=np.arange(len(reid)) + 5)  # other images trained on
    assert config_digest(variant, config, model, TrainingData((fewer_rows, par))) != base
    assert config_digest(variant, config, model, _data(pk=(5, 2))) != base  # another sampler
    validation = validation_config()
    validated = config_digest(variant, config, model, data, validation)
    assert validated != base  # the holdout, the schedule and the monitor of validation shape the (best) weights
    assert config_digest(variant, config, model, data, dataclasses.replace(validation, select="best")) == validated
    assert (
        config_digest(variant, config, model, data, dataclasses.replace(validation, monitor="par/pa100k/mA"))
        != validated
    )
    package = tmp_path / "knowledge_assembly"
    for folder in ("models", "training", "reports"):
        (package / folder).mkdir(parents=True)
        (package / folder / "a.py").write_text("x = 1\n")
    before = source_digest("models", "training", root=package)
    (package / "reports" / "a.py").write_text("x = 2\n")
    assert source_digest("models", "training", root=package) == before  # code that does not shape weights
    (package / "training" / "a.py").write_text("x = 2\n")
    assert source_digest("models", "training", root=package) != before
    assert source_digest("models", "training") == source_digest(
        "models", "training", root=REPO / "src/knowledge_assembly"
    )


def test_the_progress_line_is_compact_and_shows_loss_terms_lr_and_speed():
    meter = EpochMeter(started=time.perf_counter() - 0.01)  # 6,400 img/s
    terms = {"total": 186.376, "sup": 180.0, "id": 18.859, "attr": 165.973, "ssl": 14.382, "dice": 0.98, "dataset": 1.5}
    meter.add(terms, 64)
    line = f"ka_imgaug 10/10 240/240 00:17<00:01, {meter.progress(2e-3)}"  # what tqdm prints around it
    assert len(line) <= 100, line
    assert "loss 186.4 (id 18.86 attr 166 ssl 14.38) lr 2.0e-03" in line and line.endswith("img/s")
