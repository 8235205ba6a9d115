"""Training from M sources, one domain each: per-source BatchNorm blocks, the source classifier, unlabelled sources."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from knowledge_assembly.models import build_model
from knowledge_assembly.models.ka_net import DomainBatchNorm
from knowledge_assembly.training.batches import SourceData, UniformSampler, epoch_plan
from knowledge_assembly.training.input_pipeline import gather_host_batch
from knowledge_assembly.training.loop import train
from knowledge_assembly.training.objective import Batch, block_rows, step_losses

from .conftest import model_config, training_config, two_sources, variant_config
from .test_input_pipeline import tiny_data

pytestmark = pytest.mark.kernels  # training outcomes: `make test-kernels` runs them under every kernel set

KA = {"networks": 2, "supervised": ["reid", "par"], "ssl": ["reid_triplet", "dataset_bce", "dice", "par_triplet"]}
TINY = model_config(hidden_dim=32, feature_dim=16)


def test_domain_batch_norm_normalises_each_source_block_with_its_own_statistics():
    """Three blocks of 2, 3 and 2 rows: each is normalised with its own batch mean and (biased) variance, then one
    shared scale and shift; each source's running statistics move towards its block's alone."""
    norm = nn.BatchNorm1d(2, momentum=0.5)
    with torch.no_grad():
        norm.weight.copy_(torch.tensor([2.0, 1.0]))
        norm.bias.copy_(torch.tensor([0.0, 1.0]))
    split = DomainBatchNorm(norm, num_domains=3)
    x = torch.tensor([[1.0, 0.0], [3.0, 2.0], [0.0, 1.0], [3.0, 1.0], [6.0, 4.0], [5.0, 5.0], [7.0, 3.0]])
    split.domains_of_rows = (2, 3, 2)
    out = split.train()(x)
    # block 0: mean (2, 1), var (1, 1); block 1: mean (3, 2), var (6, 2); block 2: mean (6, 4), var (1, 1)
    one, six, two = (1 / math.sqrt(v + norm.eps) for v in (1, 6, 2))
    expected = torch.tensor(
        [
            [2 * -one, 1 - one],
            [2 * one, 1 + one],
            [2 * -3 * six, 1 - two],
            [0.0, 1 - two],
            [2 * 3 * six, 1 + 2 * two],
            [2 * -one, 1 + one],
            [2 * one, 1 - one],
        ]
    )
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
    # running mean: 0.5 * 0 + 0.5 * block mean (momentum 0.5)
    torch.testing.assert_close(split.domains[0].running_mean, torch.tensor([1.0, 0.5]))
    torch.testing.assert_close(split.domains[1].running_mean, torch.tensor([1.5, 1.0]))
    torch.testing.assert_close(split.domains[2].running_mean, torch.tensor([3.0, 2.0]))
    split.eval().domains_of_rows = 2  # inference: every row normalised as source 2
    torch.testing.assert_close(split(x[:1]), (x[:1] - split.domains[2].running_mean) / torch.sqrt(
        split.domains[2].running_var + norm.eps) * norm.weight + norm.bias)  # fmt: skip


def test_a_network_of_three_sources_has_a_source_classifier_of_three_logits():
    two = build_model(TINY, {"reid": 4, "par": 5}, seed=0)(torch.rand(3, 3, 32, 16), (1, 2))
    three = build_model(TINY, {"reid": 4, "par": 5}, seed=0, num_sources=3)(torch.rand(3, 3, 32, 16), (1, 1, 1))
    assert two["dataset_logit"].shape == (3,) and "source_logits" not in two  # two sources: the paper's one logit
    assert three["source_logits"].shape == (3, 3) and "dataset_logit" not in three
    assert three["id_logits"].shape == (3, 4)


def _three_source_outputs(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "reid_feature": torch.randn(3, 8, generator=g),
        "id_logits": torch.randn(3, 4, generator=g),
        "source_logits": torch.randn(3, 3, generator=g),
        "par_feature": torch.randn(3, 8, generator=g),
        "attribute_logits": torch.randn(3, 5, generator=g),
    }


def test_the_source_classifier_is_supervised_by_the_true_source_and_its_consistency_by_the_twins_arg_max():
    variant = variant_config(networks=2, supervised=["reid", "par"], ssl=["dataset_bce"])
    labels = {"reid": torch.tensor([1]), "par": torch.tensor([[1.0, 0, 0, 1, 0], [0, 0, 1, 0, 0]])}
    batch = Batch.of((1, 1, 1), labels, {"reid": (0,), "par": (1, 2)})
    a, b = _three_source_outputs(1), _three_source_outputs(2)
    terms = step_losses([a, b], batch, variant, training_config(label_smoothing=0.0))

    def ce(logits: torch.Tensor, target: int) -> float:
        return -float(torch.log_softmax(logits, 0)[target])

    true_source = sum(ce(out["source_logits"][i], i) for out in (a, b) for i in range(3)) / 3
    assert terms["dataset"].item() == pytest.approx(true_source, abs=1e-5)
    consistency = (
        sum(
            ce(student["source_logits"][i], int(teacher["source_logits"][i].argmax()))
            for student, teacher in ((a, b), (b, a))
            for i in range(3)
        )
        / 3
    )
    assert terms["dataset_bce"].item() == pytest.approx(consistency, abs=1e-5)
    # the attribute rows are the last two blocks: one slice
    assert batch.rows["par"] == slice(1, 3) and block_rows((1, 1, 1), (0, 2)).tolist() == [0, 2]


def test_a_source_with_no_task_contributes_only_ssl_terms():
    """Rows of an unlabelled source enter no supervised term; they do enter every cross pseudo-supervision term."""
    variant = variant_config(**KA)
    config = training_config(label_smoothing=0.0, dataset_logit_supervision=False)
    labels = {"reid": torch.tensor([0, 1]), "par": torch.tensor([[1.0, 0, 0, 1, 0]])}
    labelled = Batch.of((2, 1), labels, {"reid": (0,), "par": (1,)})
    with_unlabelled = Batch.of((2, 1, 2), labels, {"reid": (0,), "par": (1,)})
    g = torch.Generator().manual_seed(0)
    outputs = [
        {k: torch.randn(5, *shape, generator=g) for k, shape in (("reid_feature", (8,)), ("id_logits", (2,)),
         ("source_logits", (3,)), ("par_feature", (8,)), ("attribute_logits", (5,)))}
        for _ in range(2)
    ]  # fmt: skip
    first_three = [{k: v[:3] for k, v in out.items()} for out in outputs]
    full, part = (
        step_losses(outputs, with_unlabelled, variant, config),
        step_losses(first_three, labelled, variant, config),
    )
    for term in ("id", "attr"):  # supervised: the same as without the unlabelled rows
        assert full[term].item() == pytest.approx(part[term].item(), abs=1e-6)
    for term in ("reid_triplet", "par_triplet", "dice", "dataset_bce"):  # ssl: the unlabelled rows count
        assert full[term].item() != pytest.approx(part[term].item(), abs=1e-6), term


def _third_source(rng: np.random.Generator, labels: dict | None = None) -> SourceData:
    images = rng.integers(0, 256, (24, 16, 8, 3), dtype=np.uint8)
    return SourceData("camera", images, UniformSampler(4), labels or {})


def test_batches_hold_a_contiguous_block_per_source():
    base = tiny_data()
    rng = np.random.default_rng(3)
    reid, par = base.sources
    data = two_sources(reid.images, reid.labels["reid"], par.images, par.labels["par"], pk=(2, 2), par_batch=4,
                       third=_third_source(rng, {"par": (rng.random((24, 5)) > 0.5).astype(np.float32)}))  # fmt: skip
    plan = epoch_plan(data, data.used_by(("reid", "par"), ssl=False), np.random.default_rng(0))
    host = gather_host_batch(data, plan[0], pin=False)
    assert host.blocks == (4, 4, 4) and len(host.images) == 12
    third = data.sources[2]
    np.testing.assert_array_equal(host.images[8:].numpy(), third.images[np.sort(plan[0][2])])
    assert host.labels["par"].shape == (8, 5)  # both attribute-labelled sources, in row order
    torch.testing.assert_close(host.labels["par"][4:], torch.from_numpy(third.labels["par"][np.sort(plan[0][2])]))
    unlabelled = two_sources(reid.images, reid.labels["reid"], par.images, par.labels["par"], third=_third_source(rng))
    assert unlabelled.used_by(("reid", "par"), ssl=False) == (True, True, True)  # its BatchNorm statistics
    assert unlabelled.used_by(("reid",), ssl=False) == (True, False, True)  # a labelled source of no task it learns
    assert unlabelled.used_by(("reid", "par"), ssl=True) == (True, True, True)


@pytest.mark.parametrize("third_labels", ["attributes", "none"])
def test_three_sources_train_with_per_source_statistics(third_labels):
    base = tiny_data()
    rng = np.random.default_rng(5)
    reid, par = base.sources
    labels = {"par": (rng.random((24, 5)) > 0.5).astype(np.float32)} if third_labels == "attributes" else None
    data = two_sources(reid.images, reid.labels["reid"], par.images, par.labels["par"], pk=(2, 2), par_batch=4,
                       third=_third_source(rng, labels))  # fmt: skip
    config = training_config(epochs=2, ids_per_batch=2, images_per_id=2, par_batch_size=4, progress=False)
    result = train("ka_dsbn", variant_config(**KA, domain_bn=True), data, config,
                   model_config(hidden_dim=32, feature_dim=16, domain_bn=True))  # fmt: skip
    history = result.history
    assert len(history) == 2 and all(math.isfinite(r["total"]) for r in history)
    assert history[0]["dataset_bce"] > 0 and history[0]["dataset"] > 0  # the source classifier of 3 sources
    state = result.networks[0].state_dict()
    means = [state[f"trunk.1.domains.{i}.running_mean"] for i in range(3)]
    assert not torch.equal(means[0], means[2]) and not torch.equal(means[1], means[2])  # the third domain's own
    assert state["heads.reid.classifier.weight"].shape[0] == data.label_counts["reid"] + 3
