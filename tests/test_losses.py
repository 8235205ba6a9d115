"""Each loss against values worked out by hand."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from knowledge_assembly.config import ConfigError
from knowledge_assembly.models import build_model
from knowledge_assembly.training import losses
from knowledge_assembly.training.objective import Batch, source_gradient_norms, step_losses, trunk_gradient_norms
from knowledge_assembly.training.step import trunk_outputs

from .conftest import model_config, training_config, variant_config

pytestmark = pytest.mark.kernels  # training outcomes: `make test-kernels` runs them under every kernel set


def test_id_cross_entropy():
    value = losses.id_cross_entropy(torch.tensor([[2.0, 0.0, 0.0]]), torch.tensor([0]))
    assert value.item() == pytest.approx(math.log(1 + 2 * math.exp(-2)), abs=1e-6)


def test_attribute_bce_sums_over_attributes_and_averages_over_images():
    logits, targets = torch.zeros(1, 2), torch.tensor([[1.0, 0.0]])
    assert losses.attribute_bce(logits, targets).item() == pytest.approx(2 * math.log(2), abs=1e-6)
    # positive 0.25 -> weight e^0.75; negative with ratio 0.5 -> e^0.5
    weighted = losses.attribute_bce(logits, targets, torch.tensor([0.25, 0.5]))
    assert weighted.item() == pytest.approx(math.log(2) * (math.exp(0.75) + math.exp(0.5)), abs=1e-6)
    masked = losses.attribute_bce(torch.tensor([[0.0, 5.0]]), targets, mask=torch.tensor([[1.0, 0.0]]))
    assert masked.item() == pytest.approx(math.log(2), abs=1e-6)
    # two images: [ln2 + ln2] and [softplus(-2) + softplus(2)]; mean of the per-image sums
    two = losses.attribute_bce(torch.tensor([[0.0, 0.0], [2.0, 2.0]]), torch.tensor([[1.0, 0.0], [1.0, 0.0]]))
    second = math.log(1 + math.exp(-2)) + math.log(1 + math.exp(2))
    assert two.item() == pytest.approx((2 * math.log(2) + second) / 2, abs=1e-6)


def test_cross_model_triplet_uses_other_model_positive_and_hardest_negative():
    anchor = torch.tensor([[0.0, 0.0], [3.0, 0.0]], requires_grad=True)
    other = torch.tensor([[1.0, 0.0], [3.0, 4.0]], requires_grad=True)
    # d(a0,b0)=1, d(a0,b1)=5, d(a1,b0)=2, d(a1,b1)=4 -> relu(1-5+.5)=0, relu(4-2+.5)=2.5
    value = losses.cross_model_triplet(anchor, other, margin=0.5, normalize=False)
    assert value.item() == pytest.approx(1.25, abs=1e-6)
    value.backward()
    assert other.grad is None and anchor.grad.abs().sum() > 0
    same_identity = losses.cross_model_triplet(anchor, other, 0.5, labels=torch.tensor([7, 7]))
    assert same_identity.item() == 0.0
    # normalised, squared distances: a=(1,0),(0,1); b=(1,0),(.6,.8): d(a0,b0)=0, d(a0,b1)=.8, d(a1,b1)=.4, d(a1,b0)=2
    unit = losses.cross_model_triplet(torch.tensor([[2.0, 0.0], [0.0, 3.0]]), other.detach(), margin=1.0)
    assert unit.item() == pytest.approx(((0 - 0.8 + 1) + (0.4 - 2 + 1 if 0.4 - 2 + 1 > 0 else 0)) / 2, abs=1e-5)


def test_dice_and_pseudo_dice():
    assert losses.dice_loss(torch.tensor([[0.5, 0.5]]), torch.tensor([[1.0, 0.0]])).item() == pytest.approx(
        1 / 3, abs=1e-6
    )
    logits = torch.zeros(1, 2, requires_grad=True)
    other = torch.tensor([[3.0, -1.0]], requires_grad=True)
    value = losses.pseudo_dice(logits, other)
    assert value.item() == pytest.approx(1 / 3, abs=1e-6)
    value.backward()
    assert other.grad is None
    masked = losses.pseudo_dice(torch.zeros(1, 2), other, mask=torch.tensor([[1.0, 0.0]]))
    # p=[.5, 0], t=[1, 0]: 1 - (2*.5 + 1) / (1.5 + 1)
    assert masked.item() == pytest.approx(1 - 2 / 2.5, abs=1e-6)


def test_pseudo_bce_and_pseudo_cross_entropy():
    assert losses.pseudo_bce(torch.tensor([0.0]), torch.tensor([2.0])).item() == pytest.approx(math.log(2), abs=1e-6)
    assert losses.pseudo_bce(
        torch.tensor([0.0, 9.0]), torch.tensor([-1.0, -1.0]), torch.tensor([1.0, 0.0])
    ).item() == pytest.approx(math.log(2), abs=1e-6)
    value = losses.pseudo_cross_entropy(
        torch.zeros(2, 4), torch.tensor([[0.0, 5, 0, 0], [9.0, 0, 0, 0]]), torch.tensor([1.0, 0.0])
    )
    assert value.item() == pytest.approx(math.log(4), abs=1e-6)


def test_pseudo_attribute_bce_is_summed_over_attributes_against_the_other_models_decisions():
    # logits 0 (p = .5) against other's [+3, -2, +1] -> targets [1, 0, 1]: each element log 2, summed = 3 log 2
    other = torch.tensor([[3.0, -2.0, 1.0], [-1.0, -1.0, -1.0]])
    value = losses.pseudo_attribute_bce(torch.zeros(2, 3), other)
    assert value.item() == pytest.approx(3 * math.log(2), abs=1e-6)
    # only confident elements count; images still count in the mean: (log 2 + 0) / 2
    mask = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    logits = torch.zeros(2, 3, requires_grad=True)
    masked = losses.pseudo_attribute_bce(logits, other, mask)
    assert masked.item() == pytest.approx(math.log(2) / 2, abs=1e-6)
    masked.backward()
    assert logits.grad[0, 0].item() == pytest.approx(-0.25) and logits.grad[1].abs().sum() == 0


def _outputs(seed: int, n: int = 4, ids: int = 3, attributes: int = 5) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "reid_feature": torch.randn(n, 8, generator=g),
        "id_logits": torch.randn(n, ids, generator=g),
        "dataset_logit": torch.randn(n, generator=g),
        "par_feature": torch.randn(n, 8, generator=g),
        "attribute_logits": torch.randn(n, attributes, generator=g),
    }


def _batch(ids: torch.Tensor, attributes: torch.Tensor) -> Batch:
    """The paper's two sources: identity-labelled rows first, then attribute-labelled rows."""
    labels = {"reid": ids, "par": attributes}
    return Batch.of((len(ids), len(attributes)), labels, {"reid": (0,), "par": (1,)})


CONFIG = training_config(
    label_smoothing=0.0, triplet_margin=0.3, ssl_weight=0.5, confidence_threshold=0.9, dataset_logit_supervision=True
)


def test_ka_objective_sums_both_networks_and_weights_ssl():
    variant = variant_config(
        networks=2, supervised=["reid", "par"], ssl=["reid_triplet", "dataset_bce", "dice", "par_triplet"]
    )
    batch = _batch(torch.tensor([0, 1]), torch.tensor([[1.0, 0, 1, 0, 0], [0, 1, 0, 0, 1]]))
    a, b = _outputs(1), _outputs(2)
    terms = step_losses([a, b], batch, variant, CONFIG)
    expected_id = sum(losses.id_cross_entropy(o["id_logits"][:2], batch.labels["reid"]) for o in (a, b))
    expected_dice = losses.pseudo_dice(a["attribute_logits"], b["attribute_logits"]) + losses.pseudo_dice(
        b["attribute_logits"], a["attribute_logits"]
    )
    assert terms["id"].item() == pytest.approx(expected_id.item(), abs=1e-6)
    assert terms["dice"].item() == pytest.approx(expected_dice.item(), abs=1e-6)
    assert set(terms) == {
        "id",
        "attr",
        "dataset",
        "reid_triplet",
        "dataset_bce",
        "dice",
        "par_triplet",
        "sup",
        "ssl",
        "weighted_ssl",
        "total",
    }
    without = step_losses([a, b], batch, variant, dataclasses.replace(CONFIG, dataset_logit_supervision=False))
    assert "dataset" not in without and without["sup"].item() == pytest.approx(
        (terms["id"] + terms["attr"]).item(), abs=1e-5
    )
    assert terms["total"].item() == pytest.approx(terms["sup"].item() + 0.5 * terms["ssl"].item(), abs=1e-5)


def test_single_task_baseline_has_only_its_loss():
    variant = variant_config(networks=1, supervised=["reid"])
    batch = _batch(torch.tensor([0, 0, 1, 2]), torch.zeros(0, 5))
    terms = step_losses([_outputs(3)], batch, variant, CONFIG)
    assert set(terms) == {"id", "sup", "ssl", "weighted_ssl", "total"} and terms["ssl"].item() == 0.0


def test_mtl_is_the_two_supervised_losses_only():
    """The paper's MTL baseline is L_A + L_B: no dataset-logit term even on a mixed batch."""
    variant = variant_config(networks=1, supervised=["reid", "par"])
    batch = _batch(torch.tensor([0, 1]), torch.tensor([[1.0, 0, 1, 0, 0], [0, 1, 0, 0, 1]]))
    out = _outputs(4)
    terms = step_losses([out], batch, variant, CONFIG)
    assert set(terms) == {"id", "attr", "sup", "ssl", "weighted_ssl", "total"}
    expected = losses.id_cross_entropy(out["id_logits"][:2], batch.labels["reid"]) + losses.attribute_bce(
        out["attribute_logits"][2:], batch.labels["par"]
    )
    assert terms["total"].item() == pytest.approx(expected.item(), abs=1e-5)


def test_each_task_has_a_trunk_gradient_of_comparable_size():
    """On a small mixed batch neither supervised task dominates the shared trunk (within 5x); averaging the
    attribute BCE over the 40 attributes instead left the PAR gradient >10x smaller than the ID gradient."""
    torch.manual_seed(0)
    model = build_model(model_config(hidden_dim=64, feature_dim=16), {"reid": 32, "par": 40}, seed=0)
    g = torch.Generator().manual_seed(1)
    batch = _batch(torch.randint(0, 32, (8,), generator=g), (torch.rand(8, 40, generator=g) < 0.2).float())
    variant = variant_config(networks=1, supervised=["reid", "par"])
    out = model(torch.randn(16, 3, 64, 32, generator=g), batch.blocks)
    trunk = list(model.trunk.parameters())
    norms = trunk_gradient_norms(step_losses([out], batch, variant, CONFIG), trunk)
    assert set(norms) == {"grad_reid", "grad_par"}
    assert 1 / 5 < norms["grad_par"] / norms["grad_reid"] < 5, norms
    mean_bce = torch.nn.functional.binary_cross_entropy_with_logits(out["attribute_logits"][8:], batch.labels["par"])
    old = trunk_gradient_norms({"attr": mean_bce}, trunk)["grad_par"]
    assert norms["grad_reid"] / old > 10


@pytest.mark.parametrize("domain_bn", [True, False])
def test_a_terms_trunk_gradient_splits_by_the_source_of_the_images_it_flows_through(domain_bn):
    """With statistics per source the attribute loss reaches the trunk only through the attribute source's images
    (that part is its whole gradient); with shared statistics the identity images carry some of it (through the batch
    statistics). The parts of every term add up to its gradient, so their norms bound its norm."""
    model = build_model(model_config(hidden_dim=64, feature_dim=16, domain_bn=domain_bn), {"reid": 32, "par": 40}, 0)
    g = torch.Generator().manual_seed(1)
    batch = _batch(torch.randint(0, 32, (8,), generator=g), (torch.rand(8, 40, generator=g) < 0.2).float())
    variant = variant_config(networks=1, supervised=["reid", "par"])
    with trunk_outputs(model.trunk, keep=True) as maps:
        out = model(torch.randn(16, 3, 64, 32, generator=g), batch.blocks)
    terms, trunk = step_losses([out], batch, variant, CONFIG), list(model.trunk.parameters())
    whole = trunk_gradient_norms(terms, trunk)
    parts = source_gradient_norms(terms, maps, trunk, batch.source_index(torch.device("cpu")), ("market", "pa100k"))
    assert set(parts) == {f"{term}_{source}" for term in whole for source in ("market", "pa100k")}
    if domain_bn:
        assert parts["grad_par_market"] == 0.0 and parts["grad_reid_pa100k"] == 0.0
        assert parts["grad_par_pa100k"] == pytest.approx(whole["grad_par"], rel=1e-5)
    else:
        assert parts["grad_par_market"] > 0.01 * parts["grad_par_pa100k"] > 0
    for term, norm in whole.items():  # (triangle inequality)
        assert norm <= parts[f"{term}_market"] + parts[f"{term}_pa100k"] + 1e-6


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"networks": 1, "supervised": ["reid"], "ssl": ["dice"]}, "need two networks"),
        ({"networks": 2, "supervised": ["faces"]}, "unknown supervised task"),
        ({"networks": 2, "supervised": ["reid"], "ssl": ["magic"]}, "unknown ssl term"),
        ({"networks": 2, "supervised": ["reid"], "rows": {"table3": "x"}}, "unknown table 'table3'"),
        ({"models": 2, "supervised": ["reid"]}, r"unknown parameter 'variants\.models'"),
    ],
)
def test_bad_variant_specs_are_refused(spec, message):
    with pytest.raises(ConfigError, match=message):
        variant_config(**spec)
