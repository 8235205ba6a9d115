"""Validation during training: held-out identities, scores in the history, the best checkpoint beside the last."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import torch
from kedro.validation.exceptions import ParameterValidationError

from knowledge_assembly.config import ConfigError
from knowledge_assembly.files import load_state
from knowledge_assembly.models.bundle import ModelBundle
from knowledge_assembly.training.batches import TrainingData
from knowledge_assembly.training.input_pipeline import gather_host_batch
from knowledge_assembly.training.loop import train
from knowledge_assembly.training.validation import (
    ValidationData,
    ValidationSet,
    hold_out_identities,
    monitored_score,
)

from .conftest import model_config, training_config, two_sources, validation_config, variant_config
from .test_input_pipeline import tiny_data

pytestmark = pytest.mark.kernels  # training outcomes: `make test-kernels` runs them under every kernel set

TINY = {"hidden_dim": 32, "feature_dim": 16}


def test_held_out_identities_leave_training_and_depend_only_on_the_labels():
    labels = np.repeat(np.arange(10), 4)
    cameras = np.tile([0, 0, 1, 2], 10)
    cameras[labels == 4] = 3  # identity 4 is seen by one camera only: no query of it could have a match
    holdout = hold_out_identities("campus", labels, cameras, 3, keep_at_least=4)
    held = set(labels[holdout.held_rows])
    assert len(held) == 3 and 4 not in held
    assert not held & set(labels[holdout.fit_rows])  # none of their images is trained on
    assert sorted([*holdout.fit_rows, *holdout.held_rows]) == list(range(len(labels)))
    assert sorted(set(holdout.fit_labels)) == list(range(7))  # renumbered for the 7-way ID classifier
    np.testing.assert_array_equal(np.unique(labels[holdout.fit_rows], return_inverse=True)[1], holdout.fit_labels)
    again = hold_out_identities("campus", labels, cameras, 3, keep_at_least=4)
    np.testing.assert_array_equal(again.held_rows, holdout.held_rows)
    none = hold_out_identities("campus", labels, cameras, 0, keep_at_least=4)
    assert len(none.held_rows) == 0 and none.fit_rows.tolist() == list(range(40))
    with pytest.raises(
        ConfigError, match=r"reid_holdout_ids=7: the reID training set of source campus has 10 identities .* at least 4"
    ):
        hold_out_identities("campus", labels, cameras, 7, keep_at_least=4)
    with pytest.raises(ConfigError, match=r"^sources.campus.holdout_ids=7: the reID training set of source campus"):
        hold_out_identities("campus", labels, cameras, 7, keep_at_least=4, setting="sources.campus.holdout_ids")


def test_training_rows_skip_the_held_out_images_in_the_cache():
    images = np.arange(6, dtype=np.uint8)[:, None, None, None] * np.ones((6, 2, 2, 3), np.uint8)
    data = two_sources(images, np.array([0, 0, 1]), images[:2], np.zeros((2, 3), np.float32), np.array([1, 3, 5]))
    batch = gather_host_batch(data, (np.array([2, 0]), np.array([1])), pin=False)
    assert batch.images[:, 0, 0, 0].tolist() == [1, 5, 1] and batch.labels["reid"].tolist() == [0, 1]


def _validation_set(data: TrainingData, reid_images: int = 12) -> ValidationSet:
    reid, par = data.sources
    pids, cameras = np.repeat(np.arange(3), 4)[:reid_images], np.tile([0, 1], 6)[:reid_images]
    identities = ValidationData("ids", "reid", "cross_camera", "a", reid.images[:reid_images], 0, pids, cameras)
    attributes = ValidationData("attrs", "par", "attributes", "b", par.images[:16], 1, labels=par.labels["par"][:16])
    return ValidationSet((identities,) * bool(reid_images) + (attributes,))


def test_validation_scores_join_the_history_and_never_change_the_weights(tmp_path):
    data = tiny_data()
    config = training_config(epochs=3, ids_per_batch=2, images_per_id=2, par_batch_size=4, progress=False)
    variant = variant_config(networks=2, supervised=["reid", "par"], ssl=["dice"])
    every_two = validation_config(every=2)
    validated = train("ka", variant, data, config, model_config(**TINY), validation=every_two,
                      validation_set=_validation_set(data))  # fmt: skip
    plain = train("ka", variant, data, config, model_config(**TINY))
    history = pd.DataFrame(validated.history)
    scores = ["val/ids/mAP", "val/ids/rank1", "val/attrs/mA", "val/attrs/f1"]
    assert history[scores].notna().all(axis=1).tolist() == [False, True, True]  # every 2 epochs and after the last
    assert ((history[scores].iloc[1:] >= 0) & (history[scores].iloc[1:] <= 1)).all().all()
    for ours, theirs in zip(validated.networks, plain.networks):
        for key, value in ours.state_dict().items():
            assert torch.equal(value, theirs.state_dict()[key]), key
    par_only = variant_config(networks=1, supervised=["par"])
    only_par = train("par_only", par_only, data, config, model_config(**TINY), validation=every_two,
                     validation_set=_validation_set(data))  # fmt: skip
    assert {k for r in only_par.history for k in r if k.startswith("val/")} == {"val/attrs/mA", "val/attrs/f1"}


def test_the_best_score_is_the_monitored_one_or_the_mean_of_what_was_validated():
    record = {"total": 1.0, "val/ids/mAP": 0.6, "val/ids/rank1": 0.7, "val/attrs/mA": 0.8, "val/cam/mA": 0.1}
    monitored = ("val/ids/mAP", "val/attrs/mA")  # not val/cam/mA: evaluation-only labels
    assert monitored_score(record, "ids/mAP", monitored) == 0.6
    assert monitored_score(record, "mean", monitored) == pytest.approx(0.7)
    assert monitored_score({"val/attrs/mA": 0.8}, "ids/mAP", monitored) == 0.8  # the variant does not learn reID
    assert monitored_score({"total": 1.0}, "mean", monitored) is None  # not validated
    assert _validation_set(tiny_data()).monitored(("reid", "par")) == monitored[:1] + ("val/attrs/mA",)
    assert _validation_set(tiny_data()).monitored(("par",)) == ("val/attrs/mA",)


def test_selecting_the_best_weights_needs_something_to_validate(tmp_path):
    data = tiny_data()
    config = training_config(epochs=1, ids_per_batch=2, images_per_id=2, par_batch_size=4, progress=False)
    empty_reid = _validation_set(data, reid_images=0)
    with pytest.raises(ConfigError, match="reid_only: validation.select: best, but the variant learns no task that"):
        train("reid_only", variant_config(networks=1, supervised=["reid"]), data, config, model_config(**TINY),
              tmp_path / "reid_only-seed0.pt", validation=validation_config(select="best"),
              validation_set=empty_reid)  # fmt: skip
    assert not list(tmp_path.iterdir())  # refused before the first epoch
    with pytest.raises(ConfigError, match=r"validation: select: best needs validation \(every > 0\)"):
        validation_config(select="best", every=0)


def test_the_best_epoch_is_kept_beside_the_last_and_becomes_the_model_on_request(raw_project, caplog):
    raw_project.run(["model_input"])
    raw_project.run(["train_mtl"], training={"epochs": 3})
    history = pd.read_csv(raw_project.report("mtl", "training_history.csv"))
    entry_scores = ["val/reid/market1501/mAP", "val/reid/market1501/rank1", "val/par/pa100k/mA", "val/par/pa100k/f1"]
    assert history[[*entry_scores, "val/par/market1501/mA"]].notna().all().all()
    scores = history[["val/reid/market1501/mAP", "val/par/pa100k/mA"]].mean(axis=1)  # monitor: mean
    checkpoints = raw_project.data / "06_models/synthetic/checkpoints"
    best, last = load_state(checkpoints / "mtl-seed0.best.pt"), load_state(checkpoints / "mtl-seed0.pt")
    assert best["epoch"] == int(history["epoch"][scores.idxmax()]) and best["score"] == pytest.approx(scores.max())
    _assert_weights(ModelBundle.load(raw_project.model("mtl")), last["models"])  # default: the last, as the paper

    with caplog.at_level(logging.INFO):
        raw_project.run(["train_mtl"], training={"epochs": 3}, validation={"select": "best"})
    assert "Resuming mtl" in caplog.text and "training from scratch" not in caplog.text  # no retraining
    assert f"mtl: the model is the best validated epoch, {best['epoch']} of 3" in caplog.text
    _assert_weights(ModelBundle.load(raw_project.model("mtl")), best["models"])
    assert len(list((raw_project.data / "06_models/synthetic/mtl.pt").iterdir())) == 2  # both runs' models kept


def _assert_weights(bundle: ModelBundle, models: list[dict[str, torch.Tensor]]) -> None:
    for ours, expected in zip(bundle.state_dicts, models, strict=True):
        assert ours.keys() == expected.keys()
        for key in ours:
            assert torch.equal(ours[key], expected[key]), key


def test_validation_settings_that_cannot_work_are_refused_before_training(raw_project):
    with pytest.raises(ParameterValidationError, match=r"validation: select: best needs validation \(every > 0\)"):
        raw_project.run(["mtl"], validation={"select": "best", "every": 0})
    assert not raw_project.primary().exists()  # typed parameters are checked before any node runs
    with pytest.raises(  # a project error: `kedro run` prints it as one line
        ConfigError,
        match=r"reid_holdout_ids=6: the reID training set of source market1501 has 8 identities .* at least 4",
    ):
        raw_project.run(["mtl"], validation={"reid_holdout_ids": 6})
    models = raw_project.data / "06_models/synthetic"
    assert not (models / "mtl.pt").exists() and not list((models / "checkpoints").iterdir())  # no epoch ran
