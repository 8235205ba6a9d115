"""``ingestion`` pipeline: raw folders → validated Parquet manifests."""
from kedro.pipeline import Node, Pipeline

from .nodes import MANIFEST_NAMES, assemble_manifests, index_market1501, index_pa100k, read_upar_labels

MANIFESTS = [*MANIFEST_NAMES, "reid_attributes", "par_attributes"]


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(index_market1501, ["market1501_raw", "params:ingestion.market1501", "params:ingestion.image_check"], "market1501_index", name="index_market1501"),
            Node(index_pa100k, ["pa100k_raw", "params:ingestion.pa100k", "params:ingestion.image_check"], "pa100k_index", name="index_pa100k"),
            Node(read_upar_labels, ["upar_raw", "params:ingestion.upar"], ["upar_pa100k_labels", "upar_market1501_labels", "upar_attribute_names"], name="read_upar_labels"),
            Node(
                assemble_manifests,
                ["market1501_index", "pa100k_index", "upar_pa100k_labels", "upar_market1501_labels", "upar_attribute_names",
                 "params:ingestion.upar"],
                MANIFESTS,
                name="assemble_manifests",
            ),
        ]
    )
