"""``evaluation`` pipeline of one variant, in the variant's namespace, and the held-out test data of every source
that names some (shared by every variant)."""

from kedro.pipeline import Node, Pipeline

from knowledge_assembly.sources import TrainingManifests

from .nodes import (
    attribute_retrieval_examples,
    entry_metrics,
    held_out_data,
    network_outputs,
    retrieval_examples,
    retrieval_images,
    summarise_metrics,
)

SHARED_INPUTS = {"held_out_data", "retrieval_images", "retrieval_gallery", "par_attributes", "tracking"}
CONFIGURATION = ["params:evaluation", "params:sources"]  # every entry-reading node's last inputs


def create_held_out_pipeline(evaluated: dict[str, dict[str, str]]) -> Pipeline:
    """``held_out_data``: the held-out test data of each source of ``evaluated`` (source -> split -> manifest,
    ``sources.<name>.evaluation``); each manifest's images are ``<manifest>_images``."""
    manifests = [name for names in evaluated.values() for name in names.values()]
    tables = {**{name: name for name in manifests}, **{f"{name}_images": f"{name}_images" for name in manifests}}
    return Pipeline(
        [Node(held_out_data, {"sources": "params:sources", **tables}, "held_out_data", name="held_out_data")]
    )


def create_retrieval_images_pipeline(sources: dict[str, TrainingManifests]) -> Pipeline:
    """``retrieval_images``: the images of the val splits a UPAR retrieval pair's gallery draws on (shared by every
    variant); ``sources``: every configured source's training and val manifests (``sources.<name>.val``)."""
    images = {f"{m.val}_images": f"{m.val}_images" for m in sources.values() if m.val}
    return Pipeline(
        [
            Node(
                retrieval_images,
                {"retrieval_gallery": "retrieval_gallery", "sources": "params:sources", **images},
                "retrieval_images",
                name="retrieval_images",
            )
        ]
    )


def create_shared_pipeline(
    evaluated: dict[str, dict[str, str]], sources: dict[str, TrainingManifests] | None = None
) -> Pipeline:
    """What every variant's evaluation reads: :func:`create_held_out_pipeline` and
    :func:`create_retrieval_images_pipeline`."""
    return create_held_out_pipeline(evaluated) + create_retrieval_images_pipeline(sources or {})


def create_pipeline(
    variant: str,
    evaluated: dict[str, dict[str, str]] | None = None,
    sources: dict[str, TrainingManifests] | None = None,
    **kwargs,
) -> Pipeline:
    """``evaluated``, ``sources``: as :func:`create_shared_pipeline`'s."""
    return create_shared_pipeline(evaluated or {}, sources) + create_variant_pipeline(variant)


def create_variant_pipeline(variant: str, seeded: bool = False, namespace: str | None = None) -> Pipeline:
    """The template of a variant's evaluation, in the namespace ``namespace`` (default: the variant's). ``seeded``:
    its DVCLive metrics go to the folder of the seed ``<namespace>.seed`` (a seed of the paper pipeline)."""
    return Pipeline(
        [
            Node(
                network_outputs,
                ["model", "held_out_data", "retrieval_images", *CONFIGURATION, "retrieval_gallery"],
                "network_outputs",
                name="network_outputs",
            ),
            Node(
                entry_metrics,
                ["network_outputs", "held_out_data", "par_attributes", *CONFIGURATION, "retrieval_gallery"],
                "entry_metrics",
                name="entry_metrics",
            ),
            Node(
                summarise_metrics,
                ["model", "entry_metrics", *CONFIGURATION, "tracking", *(["seed"] if seeded else [])],
                ["metrics", "attribute_table"],
                name="summarise_metrics",
            ),
            Node(
                retrieval_examples,
                ["network_outputs", "held_out_data", "par_attributes", *CONFIGURATION],
                "retrieval",
                name="retrieval_examples",
            ),
            Node(
                attribute_retrieval_examples,
                ["network_outputs", "held_out_data", "par_attributes", *CONFIGURATION],
                "attribute_retrieval",
                name="attribute_retrieval_examples",
            ),
        ],
        namespace=namespace or variant,
        inputs=SHARED_INPUTS,
        parameters=set(CONFIGURATION),
    )
