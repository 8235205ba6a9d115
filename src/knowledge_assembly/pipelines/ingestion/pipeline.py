"""``ingestion`` pipeline: raw folders → validated Parquet manifests."""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    MANIFESTS,
    assemble_manifests,
    index_market1501,
    index_pa100k,
    index_peta,
    read_upar_labels,
    write_manifests,
)


def create_pipeline(write: bool = True, **kwargs) -> Pipeline:
    """Index and check the raw folders; with ``write`` the manifests are written here, else a later node
    (``model_input``'s, which writes them with the image caches, all or nothing) takes the checked ones."""
    nodes = [
        Node(
            index_market1501,
            [
                "market1501_raw",
                "params:ingestion.market1501",
                "params:ingestion.image_check",
                "params:ingestion.image_max_pixels",
            ],
            "market1501_index",
            name="index_market1501",
        ),
        Node(
            index_pa100k,
            [
                "pa100k_raw",
                "params:ingestion.pa100k",
                "params:ingestion.image_check",
                "params:ingestion.image_max_pixels",
            ],
            "pa100k_index",
            name="index_pa100k",
        ),
        Node(
            read_upar_labels,
            ["upar_raw", "params:ingestion.upar"],
            ["upar_pa100k_labels", "upar_market1501_labels", "upar_peta_labels", "upar_attribute_names"],
            name="read_upar_labels",
        ),
        Node(
            index_peta,
            [
                "peta_raw",
                "upar_peta_labels",
                "params:ingestion.peta",
                "params:ingestion.image_check",
                "params:ingestion.image_max_pixels",
            ],
            "peta_index",
            name="index_peta",
        ),
        Node(
            assemble_manifests,
            [
                "market1501_index",
                "pa100k_index",
                "upar_pa100k_labels",
                "upar_market1501_labels",
                "peta_index",
                "upar_attribute_names",
                "params:ingestion.upar",
            ],
            "checked_manifests",
            name="assemble_manifests",
        ),
    ]
    if write:
        nodes.append(
            Node(write_manifests, "checked_manifests", {name: name for name in MANIFESTS}, name="write_manifests")
        )
    return Pipeline(nodes)
