"""``training`` pipeline of one variant, in the variant's namespace: ``params:variant`` is that variant's entry
of ``params:variants``; the run's source set (``params:source_set``) chooses which sources it trains on."""

from kedro.pipeline import Node, Pipeline

from knowledge_assembly.sources import TrainingManifests

from .nodes import choose_sources, train_variant, training_tables, validation_entries

# what training reads, after the variant's name, in the order of train_variant's arguments
TRAINING_INPUTS = [
    "chosen_sources",
    "training_tables",
    "validation_entries",
    "par_attributes",
    "checkpoints",
    "tracking",
    "params:training",
    "params:validation",
    "params:model",
    "params:variant",
]
# the datasets among them, shared by every variant's namespaced pipeline
SHARED_INPUTS = {name for name in TRAINING_INPUTS if not name.startswith("params:")}


def parameter_mapping(parameters_key: str) -> dict[str, str]:
    """Shared ``training``, ``validation`` and ``model`` parameters; ``params:variant`` is the entry at
    ``parameters_key`` (e.g. ``variants.ssl.ka``)."""
    return {
        "params:training": "params:training",
        "params:validation": "params:validation",
        "params:model": "params:model",
        "params:variant": f"params:{parameters_key}",
    }


def create_sources_pipeline(
    sources: dict[str, TrainingManifests], prefix: str = "", source_set: str = "source_set"
) -> Pipeline:
    """The source set named by ``params:<source_set>`` (``<prefix>chosen_sources``), its training tables
    (``<prefix>training_tables``) and the evaluation entries validation reads (``validation_entries``), shared by
    every variant; ``sources``: every configured source's training and val manifests (``sources.<name>.train``,
    ``.val``; each one's image cache is ``<manifest>_images``)."""
    tables = {}
    for source, manifests in sources.items():
        tables |= {source: manifests.train, f"{source}_images": f"{manifests.train}_images"}
        if manifests.val:
            tables |= {f"{source}_val": manifests.val, f"{source}_val_images": f"{manifests.val}_images"}
    return Pipeline(
        [
            Node(
                choose_sources,
                ["params:sources", "params:source_sets", f"params:{source_set}"],
                f"{prefix}chosen_sources",
                name=f"{prefix}choose_sources",
            ),
            Node(
                training_tables,
                {"chosen": f"{prefix}chosen_sources", "evaluation_attributes": "reid_attributes", **tables},
                f"{prefix}training_tables",
                name=f"{prefix}training_tables",
            ),
            Node(
                validation_entries,
                ["params:evaluation", "params:sources"],
                "validation_entries",
                name="validation_entries",
            ),
        ]
    )


def create_training_pipeline(
    variant: str, parameters_key: str, seeded: bool = False, namespace: str | None = None
) -> Pipeline:
    """The template of a variant's training, in the namespace ``namespace`` (default: the variant's):
    ``parameters_key``: where the variant is defined, e.g. ``variants.ssl.ka``. ``seeded``: the seed is the dataset
    ``<namespace>.seed`` (a seed of the paper pipeline) instead of ``training.seed``."""
    inputs = ["variant_name", *TRAINING_INPUTS, *(["seed"] if seeded else [])]
    shared = {name: name for name in SHARED_INPUTS}
    if namespace and namespace != variant:
        shared["variant_name"] = f"{variant}.variant_name"
    return Pipeline(
        [Node(train_variant, inputs, ["model", "training_history"], name="train")],
        namespace=namespace or variant,
        inputs=shared,
        parameters=parameter_mapping(parameters_key),
    )


def create_pipeline(variant: str, parameters_key: str, sources: dict[str, TrainingManifests], **kwargs) -> Pipeline:
    """``parameters_key``: as :func:`create_training_pipeline`'s; ``sources``: as :func:`create_sources_pipeline`'s."""
    return create_sources_pipeline(sources) + create_training_pipeline(variant, parameters_key)
