"""``synthetic`` pipeline: parameters → raw Market-1501 / PA-100K / PETA / UPAR / night-camera / RAPv2 folders."""

from kedro.pipeline import Node, Pipeline

from .nodes import generate_raw_data


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=generate_raw_data,
                inputs=["params:synthetic", "params:ingestion.upar"],
                outputs=["market1501_raw", "pa100k_raw", "peta_raw", "upar_raw", "night_raw", "rapv2_raw"],
                name="generate_synthetic_raw_data",
            )
        ]
    )
