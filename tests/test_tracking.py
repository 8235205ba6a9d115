"""DVCLive tracking of a training run: per-epoch curves and the settings, in the run's folder."""

from __future__ import annotations

import yaml

from knowledge_assembly.training.loop import train

from .conftest import model_config, training_config, variant_config
from .test_input_pipeline import tiny_data


def test_training_logs_every_epoch_and_its_settings_with_dvclive(tmp_path):
    config = training_config(epochs=2, ids_per_batch=2, images_per_id=2, par_batch_size=4, progress=False)
    variant = variant_config(networks=2, supervised=["reid", "par"], ssl=["dice"])
    folder = tmp_path / "ka" / "train"
    result = train("ka", variant, tiny_data(), config, model_config(hidden_dim=32, feature_dim=16), None, 0, 1, folder)
    total = (folder / "plots" / "metrics" / "train" / "total.tsv").read_text().splitlines()
    assert total[0].split("\t") == ["step", "total"] and len(total) == 1 + config.epochs
    assert [float(line.split("\t")[1]) for line in total[1:]] == [r["total"] for r in result.history]
    assert (folder / "plots" / "metrics" / "train" / "lr.tsv").exists()
    params = yaml.safe_load((folder / "params.yaml").read_text())
    assert params["training"]["ssl_weight"] == config.ssl_weight and params["variant"]["ssl"] == ["dice"]
