"""The task registry: heads, terms and every list derived from it; weights saved before the heads mapping."""

from __future__ import annotations

import pytest
import torch

from knowledge_assembly.config import ConfigError
from knowledge_assembly.models import build_model, restore_network
from knowledge_assembly.reports.figures import SSL_PLOT_TERMS, validation_label
from knowledge_assembly.tasks import PROTOCOLS, SSL_TERMS, SUPERVISED_TASKS, SUPERVISED_TERMS, TASKS
from knowledge_assembly.training.objective import GRADIENT_TERMS, Batch, step_losses, supervised_order

from .conftest import model_config, training_config, variant_config

TINY = model_config(hidden_dim=32, feature_dim=16)
COUNTS = {"reid": 6, "par": 5}


def test_every_list_of_tasks_and_terms_comes_from_the_registry():
    assert SUPERVISED_TASKS == ("reid", "par") == tuple(TASKS)
    assert set(SSL_TERMS) == {"reid_triplet", "dataset_bce", "id_pseudo", "dice", "par_triplet", "attribute_pseudo"}
    assert SUPERVISED_TERMS == ("id", "attr", "dataset") and SSL_PLOT_TERMS == SSL_TERMS
    validated = {name: protocol.validated for name, protocol in PROTOCOLS.items()}
    assert validated == {"cross_camera": ("mAP", "rank1"), "attributes": ("mA", "f1"), "attribute_retrieval": ()}
    assert validation_label("val/par/cams/f1") == "par/cams F1" and validation_label("val/a/rank1") == "a R-1"
    assert GRADIENT_TERMS == {
        "grad_reid": "id",
        "grad_par": "attr",
        "grad_dataset": "dataset",
        "grad_ssl": "weighted_ssl",
    }
    with pytest.raises(ConfigError, match="unknown ssl term 'reid_dice'"):
        variant_config(networks=2, supervised=["reid"], ssl=["reid_dice"])


def test_the_heads_are_built_from_the_tasks_with_their_label_spaces():
    """One head per task in a ModuleDict; the identity head adds the source classifier (1 logit for 2 sources)."""
    network = build_model(TINY, COUNTS, seed=0)
    assert list(network.heads) == ["reid", "par"]
    out = network.eval()(torch.rand(2, 3, 32, 16))
    assert out["id_logits"].shape == (2, 6) and out["dataset_logit"].shape == (2,)
    assert out["attribute_logits"].shape == (2, 5) and out["reid_feature"].shape == out["par_feature"].shape == (2, 16)
    assert network.heads["reid"].classifier.out_features == 7


def test_weights_saved_before_the_heads_mapping_still_load():
    """A model file of an earlier version names the heads ``reid.*`` and ``par.*``: it restores to the same outputs."""
    network = build_model(TINY, COUNTS, seed=0).eval()
    old_keys = {key.removeprefix("heads."): value for key, value in network.state_dict().items()}
    assert "reid.classifier.weight" in old_keys
    restored = restore_network(TINY, COUNTS, old_keys).eval()
    images = torch.rand(2, 3, 32, 16)
    torch.testing.assert_close(restored(images), network(images), rtol=0, atol=0)


def test_terms_are_summed_in_the_order_the_variant_lists_them():
    """``sup`` sums the variant's tasks' terms and then the source classifier's; ``ssl`` sums ``ssl`` in order."""
    variant = variant_config(networks=2, supervised=["par", "reid"], ssl=["dice", "dataset_bce"])
    assert supervised_order(variant) == ("attr", "id", "dataset")
    networks = [build_model(TINY, COUNTS, seed=s) for s in (0, 1)]
    images = torch.rand(8, 3, 32, 16)
    outputs = [n(images, (4, 4)) for n in networks]
    labels = {"reid": torch.tensor([0, 0, 1, 1]), "par": torch.randint(0, 2, (4, 5)).float()}
    batch = Batch.of((4, 4), labels, {"reid": (0,), "par": (1,)})
    terms = step_losses(outputs, batch, variant, training_config())
    assert {"id", "attr", "dataset", "dice", "dataset_bce"} <= set(terms)
    torch.testing.assert_close(terms["sup"], terms["attr"] + terms["id"] + terms["dataset"], rtol=0, atol=0)
    torch.testing.assert_close(terms["ssl"], terms["dice"] + terms["dataset_bce"], rtol=0, atol=0)
