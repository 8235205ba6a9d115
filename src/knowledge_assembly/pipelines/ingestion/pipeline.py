"""``ingestion`` pipeline: raw folders → validated Parquet manifests, one node per reader of the raw formats'
registry (:mod:`knowledge_assembly.formats.readers`)."""

from kedro.pipeline import Node, Pipeline

from knowledge_assembly.formats.manifests import MANIFESTS
from knowledge_assembly.formats.readers import CHECKED, CHECKS, READERS, SETTING, TEMPLATE_READERS, Reader

from .nodes import write_manifests

IMAGE_CHECKS = ("params:ingestion.image_check", "params:ingestion.image_max_pixels")


def node_inputs(reader: Reader, source: str = "") -> list[str]:
    """The reader's inputs as catalog names: a setting is ``params:ingestion.<key>`` (``{source}`` filled in), the
    image checks are two settings, anything else a dataset."""
    names: list[str] = []
    for name in reader.inputs:
        if name == CHECKS:
            names += IMAGE_CHECKS
        elif name.startswith(SETTING):
            names.append("params:ingestion." + name.removeprefix(SETTING).format(source=source))
        else:
            names.append(name)
    return names


def reader_node(reader: Reader) -> Node:
    outputs = reader.outputs if isinstance(reader.outputs, str) else list(reader.outputs)
    return Node(reader.function, node_inputs(reader), outputs, name=reader.name)


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
    ``<source>_checked`` (split -> manifest), which the node that writes the manifests writes; read by its
    format's template reader."""
    reader = TEMPLATE_READERS[raw_format]
    inputs = node_inputs(reader, source)
    shared = [name for name in inputs if name != "raw" and not name.startswith("params:")]
    return Pipeline(
        [Node(reader.function, inputs, reader.outputs, name=reader.name)],
        namespace=source,
        inputs={"raw": f"{source}_raw", **{name: name for name in shared}},
        outputs={reader.outputs: f"{source}_{reader.outputs}"},
        parameters={name: name for name in inputs if name.startswith("params:")},
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
    templates = (create_template_source_pipeline(source, formats.get(source, "camera_folders")) for source in cameras)
    checks = sum(templates, Pipeline([reader_node(reader) for reader in READERS]))
    if not write:
        return checks
    written = [*MANIFESTS, *camera_manifest_names(cameras)]
    inputs = {CHECKED: CHECKED, **camera_inputs(cameras)}
    return checks + Pipeline([Node(write_manifests, inputs, {name: name for name in written}, name="write_manifests")])
