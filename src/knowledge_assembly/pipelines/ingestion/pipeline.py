"""``ingestion`` pipeline: raw folders → validated Parquet manifests. The UPAR release is read once; every source
is read by its raw format's reader (:mod:`knowledge_assembly.formats.readers`) in a pipeline of its own, in the
source's namespace; one node collects every source's manifests under their catalog names."""

from kedro.pipeline import Node, Pipeline

from knowledge_assembly.formats.readers import (
    ATTRIBUTES_FILE,
    CHECKS,
    READERS,
    RELEASE_LABELS,
    RETRIEVAL_GALLERY,
    RETRIEVAL_PAIR,
    SETTING,
    SOURCE_READERS,
    Reader,
)

from .nodes import collect_manifests, write_manifests

CHECKED = "checked_manifests"  # every checked manifest by catalog name, until written
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


def written_names(source_manifests: dict[str, dict[str, str]]) -> list[str]:
    """The catalog names of every source's manifests, then the retrieval gallery and the attribute names."""
    return [
        *(name for names in source_manifests.values() for name in names.values()),
        RETRIEVAL_GALLERY,
        ATTRIBUTES_FILE,
    ]


def create_source_pipeline(source: str, raw_format: str) -> Pipeline:
    """One source, in its namespace: its raw root ``<source>_raw`` → its checked manifests ``<source>_checked``
    (split -> manifest), read by its format's reader."""
    reader = SOURCE_READERS[raw_format]
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
    source_manifests: dict[str, dict[str, str]] | None = None,
    formats: dict[str, str] | None = None,
    **kwargs,
) -> Pipeline:
    """Index and check the raw folders into ``checked_manifests`` (every manifest by catalog name); with ``write``
    they are written here, else a later node (``model_input``'s, which writes them with the image caches, all or
    nothing) takes them. ``source_manifests``: each source with its manifests' catalog names (split -> name);
    ``formats``: each one's raw layout."""
    sources, formats = source_manifests or {}, formats or {}
    collect = Node(
        collect_manifests,
        {"labels": RELEASE_LABELS, "retrieval_pair": RETRIEVAL_PAIR, "sources": "params:sources",
         **{f"{source}_checked": f"{source}_checked" for source in sources}},
        CHECKED,
        name="collect_manifests",
    )  # fmt: skip
    readers = Pipeline([reader_node(reader) for reader in READERS])
    checks = sum((create_source_pipeline(source, formats[source]) for source in sources), readers) + Pipeline([collect])
    if not write:
        return checks
    written = {name: name for name in written_names(sources)}
    return checks + Pipeline([Node(write_manifests, CHECKED, written, name="write_manifests")])
