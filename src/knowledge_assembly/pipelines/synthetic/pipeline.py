"""``synthetic`` pipeline: parameters → the raw folders of every synthetic dataset (:data:`RAW_TREES`)."""

from kedro.pipeline import Node, Pipeline

from knowledge_assembly.synthetic.raw_formats import RAW_TREES

from .nodes import generate_raw_data


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=generate_raw_data,
                inputs=["params:synthetic", "params:ingestion.upar"],
                outputs=[f"{tree}_raw" for tree in RAW_TREES],
                name="generate_synthetic_raw_data",
            )
        ]
    )
