"""``training`` pipeline of one variant, in the variant's namespace: ``params:variant`` is that variant's entry
of ``params:variants``."""

from kedro.pipeline import Node, Pipeline

from .nodes import train_variant

# what training reads, after the variant's name, in the order of train_variant's arguments
TRAINING_INPUTS = [
    "reid_train",
    "par_train",
    "par_val",
    "reid_train_images",
    "par_train_images",
    "par_val_images",
    "par_attributes",
    "checkpoints",
    "tracking",
    "params:training",
    "params:validation",
    "params:model",
    "params:variant",
]
# the datasets among them, shared by every variant's namespaced pipeline
SHARED_INPUTS = {name for name in TRAINING_INPUTS if not name.startswith("params:")}


def parameter_mapping(parameters_key: str) -> dict[str, str]:
    """Shared ``training``, ``validation`` and ``model`` parameters; ``params:variant`` is the entry at
    ``parameters_key`` (e.g. ``variants.ssl.ka``)."""
    return {
        "params:training": "params:training",
        "params:validation": "params:validation",
        "params:model": "params:model",
        "params:variant": f"params:{parameters_key}",
    }


def create_pipeline(variant: str, parameters_key: str, **kwargs) -> Pipeline:
    """``parameters_key``: where the variant is defined, e.g. ``variants.ssl.ka``."""
    return Pipeline(
        [Node(train_variant, ["variant_name", *TRAINING_INPUTS], ["model", "training_history"], name="train")],
        namespace=variant,
        inputs=SHARED_INPUTS,
        parameters=parameter_mapping(parameters_key),
    )
