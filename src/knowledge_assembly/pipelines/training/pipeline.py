"""``training`` pipeline of one variant, in the variant's namespace: ``params:variant`` is that variant's entry
of ``params:variants``."""

from kedro.pipeline import Node, Pipeline

from .nodes import train_variant

SHARED_INPUTS = {"reid_train", "par_train", "reid_train_images", "par_train_images", "par_attributes", "checkpoints"}


def create_pipeline(variant: str, parameters_key: str, **kwargs) -> Pipeline:
    """``parameters_key``: where the variant is defined, e.g. ``variants.ssl.ka``."""
    return Pipeline(
        [
            Node(
                train_variant,
                [
                    "variant_name",
                    "reid_train",
                    "par_train",
                    "reid_train_images",
                    "par_train_images",
                    "par_attributes",
                    "checkpoints",
                    "params:training",
                    "params:model",
                    "params:variant",
                ],
                ["model", "training_history"],
                name="train",
            )
        ],
        namespace=variant,
        inputs=SHARED_INPUTS,
        parameters={
            "params:training": "params:training",
            "params:model": "params:model",
            "params:variant": f"params:{parameters_key}",
        },
    )
