"""``ingestion`` pipeline: raw folders → validated Parquet manifests."""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    MANIFESTS,
    assemble_manifests,
    index_camera_source,
    index_market1501,
    index_pa100k,
    index_peta,
    index_upar_source,
    read_retrieval_pair,
    read_upar_labels,
    write_manifests,
)


def camera_inputs(camera_sources: dict[str, dict[str, str]]) -> dict[str, str]:
    """What the node that writes the manifests reads of the camera sources: each one's raw root and checked
    manifests (``<source>_raw``, ``<source>_checked``), with the ``sources`` parameter that names them."""
    parts = {f"{source}_{part}": f"{source}_{part}" for source in camera_sources for part in ("raw", "checked")}
    return {"sources": "params:sources", **parts}


def camera_manifest_names(camera_sources: dict[str, dict[str, str]]) -> list[str]:
    """The catalog names of every camera source's manifests."""
    return [name for names in camera_sources.values() for name in names.values()]


def create_template_source_pipeline(source: str, raw_format: str = "camera_folders") -> Pipeline:
    """One template source, in its namespace: its raw root ``<source>_raw`` (optional) → its checked manifests
    ``<source>_checked`` (split -> manifest), which the node that writes the manifests writes. ``camera_folders``:
    a team's cameras (``ingestion.<source>``); ``upar_release``: the images the UPAR release labels under
    ``ingestion.upar.<source>_prefix``."""
    checks = {
        "params:image_check": "params:ingestion.image_check",
        "params:max_pixels": "params:ingestion.image_max_pixels",
    }
    if raw_format == "upar_release":
        inputs = ["raw", "upar_labels", "attribute_names", "params:upar", "params:prefix", *checks]
        node = Node(index_upar_source, inputs, "checked", name="index")
        parameters = {"params:upar": "params:ingestion.upar", "params:prefix": f"params:ingestion.upar.{source}_prefix"}
    else:
        inputs = ["raw", "attribute_names", "params:ingestion.camera", *checks]
        node = Node(index_camera_source, inputs, "checked", name="index")
        parameters = {"params:ingestion.camera": f"params:ingestion.{source}"}
    return Pipeline(
        [node],
        namespace=source,
        inputs={"raw": f"{source}_raw", "attribute_names": "upar_attribute_names", "upar_labels": "upar_labels"}
        if raw_format == "upar_release"
        else {"raw": f"{source}_raw", "attribute_names": "upar_attribute_names"},
        outputs={"checked": f"{source}_checked"},
        parameters={**checks, **parameters},
    )


def create_pipeline(
    write: bool = True,
    camera_sources: dict[str, dict[str, str]] | None = None,
    formats: dict[str, str] | None = None,
    **kwargs,
) -> Pipeline:
    """Index and check the raw folders; with ``write`` the manifests are written here, else a later node
    (``model_input``'s, which writes them with the image caches, all or nothing) takes the checked ones.
    ``camera_sources``: each template source with its manifests' catalog names (split -> name), checked by one
    template pipeline per source (:func:`create_template_source_pipeline`); ``formats``: each one's raw layout
    (default ``camera_folders``)."""
    cameras = camera_sources or {}
    formats = formats or {}
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
            ["upar_pa100k_labels", "upar_market1501_labels", "upar_peta_labels", "upar_attribute_names", "upar_labels"],
            name="read_upar_labels",
        ),
        Node(
            read_retrieval_pair,
            ["upar_raw", "params:ingestion.upar"],
            "upar_retrieval_pair",
            name="read_retrieval_pair",
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
                "upar_retrieval_pair",
            ],
            "checked_manifests",
            name="assemble_manifests",
        ),
    ]
    templates = (create_template_source_pipeline(source, formats.get(source, "camera_folders")) for source in cameras)
    checks = sum(templates, Pipeline(nodes))
    if not write:
        return checks
    written = [*MANIFESTS, *camera_manifest_names(cameras)]
    inputs = {"checked_manifests": "checked_manifests", **camera_inputs(cameras)}
    return checks + Pipeline([Node(write_manifests, inputs, {name: name for name in written}, name="write_manifests")])
