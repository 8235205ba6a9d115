"""`conf/real` is the paper's protocol: valid typed settings, merged key by key over conf/base."""

from __future__ import annotations

from kedro.config import OmegaConfigLoader

from knowledge_assembly.config import ModelConfig, TrainingConfig
from knowledge_assembly.settings import CONFIG_LOADER_ARGS

from .conftest import REPO


def parameters(env: str) -> dict:
    return OmegaConfigLoader(conf_source=str(REPO / "conf"), env=env, **CONFIG_LOADER_ARGS)["parameters"]


def test_the_real_environment_trains_the_papers_protocol():
    real, base = parameters("real"), parameters("base")
    training, model = TrainingConfig(**real["training"]), ModelConfig(**real["model"])
    assert (model.backbone, model.pretrained, model.allow_weight_download) == ("resnet18", "imagenet", False)
    assert real["model_input"]["image_size"] == [128, 256]  # width, height
    assert (training.ids_per_batch, training.images_per_id, training.par_batch_size) == (16, 4, 64)
    assert (training.lr, training.weight_decay, training.triplet_margin, training.crop_padding) == (
        3.5e-4,
        5e-4,
        0.3,
        10,
    )
    assert (training.precision, training.channels_last) == ("bf16", True)
    # only what the protocol changes differs; everything else is conf/base's
    assert real["variants"] == base["variants"] and real["evaluation"] == base["evaluation"]
    assert training.seed == base["training"]["seed"] and training.world_size == base["training"]["world_size"]
    assert real["synthetic"] == base["synthetic"]


def test_every_environment_names_every_raw_root_of_the_catalog():
    """An environment's ``raw`` globals replace conf/base's whole, so each must name every raw dataset the catalog
    reads (the tune environment once lacked PETA's and could not run at all)."""
    for env in ("real", "tune", "rehearsal"):
        loader = OmegaConfigLoader(conf_source=str(REPO / "conf"), env=env, **CONFIG_LOADER_ARGS)
        catalog = loader["catalog"]
        roots = {name: entry["path"] for name, entry in catalog.items() if name.endswith("_raw")}
        assert roots and all(isinstance(path, str) and path for path in roots.values()), (env, roots)
        if env != "real":
            assert all(loader["globals"]["dataset"] in path for path in roots.values()), (env, roots)
