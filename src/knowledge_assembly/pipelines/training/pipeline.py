"""``training`` pipeline of one variant, in the variant's namespace."""

from kedro.pipeline import Node, Pipeline

from knowledge_assembly.pipelines import for_variant

from .nodes import train_variant

SHARED_INPUTS = {"reid_train", "par_train", "reid_train_images", "par_train_images", "par_attributes", "checkpoints"}


def create_pipeline(variant: str = "ka", **kwargs) -> Pipeline:
    train = for_variant(train_variant, variant)
    return Pipeline(
        [
            Node(
                train,
                ["reid_train", "par_train", "reid_train_images", "par_train_images", "par_attributes",
                 "checkpoints", "params:training", "params:model", "params:variants"],
                ["model", "training_history"],
                name="train",
            )
        ],
        namespace=variant,
        inputs=SHARED_INPUTS,
        parameters={"params:training", "params:model", "params:variants"},
    )
