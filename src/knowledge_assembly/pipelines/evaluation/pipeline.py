"""``evaluation`` pipeline of one variant, in the variant's namespace, and the held-out test data of every source
that names some (shared by every variant)."""

from kedro.pipeline import Node, Pipeline

from knowledge_assembly.formats.manifests import ATTRIBUTE_TESTS, OTHER_ATTRIBUTE_TESTS

from .nodes import (
    attribute_retrieval_examples,
    attribute_tests,
    domain_metrics,
    evaluation_domains,
    network_outputs,
    par_metrics,
    reid_metrics,
    retrieval_examples,
    summarise_metrics,
)

SHARED_INPUTS = {
    "reid_query",
    "reid_gallery",
    "reid_query_images",
    "reid_gallery_images",
    "par_test",
    "par_test_images",
    "reid_attributes",
    "reid_attributes_images",
    "attribute_tests",
    "retrieval_gallery",
    "evaluation_domains",
    "par_attributes",
    "tracking",
}


def create_domains_pipeline(evaluated: dict[str, dict[str, str]]) -> Pipeline:
    """``evaluation_domains``: the held-out test data of each source of ``evaluated`` (source -> split -> manifest,
    ``sources.<name>.evaluation``); each manifest's images are ``<manifest>_images``."""
    manifests = [name for names in evaluated.values() for name in names.values()]
    tables = {**{name: name for name in manifests}, **{f"{name}_images": f"{name}_images" for name in manifests}}
    return Pipeline(
        [
            Node(
                evaluation_domains,
                {"sources": "params:sources", **tables},
                "evaluation_domains",
                name="evaluation_domains",
            )
        ]
    )


def create_attribute_tests_pipeline() -> Pipeline:
    """``attribute_tests``: the attribute test splits beside the attribute task's own, and every attribute dataset's
    validation images (shared by every variant)."""
    tables = [name for test in OTHER_ATTRIBUTE_TESTS for name in (test.manifest, f"{test.manifest}_images")]
    tables += [f"{test.val_split}_images" for test in ATTRIBUTE_TESTS]
    return Pipeline([Node(attribute_tests, {name: name for name in tables}, "attribute_tests", name="attribute_tests")])


def create_shared_pipeline(evaluated: dict[str, dict[str, str]]) -> Pipeline:
    """What every variant's evaluation reads: :func:`create_domains_pipeline` and
    :func:`create_attribute_tests_pipeline`."""
    return create_domains_pipeline(evaluated) + create_attribute_tests_pipeline()


def create_pipeline(variant: str, evaluated: dict[str, dict[str, str]] | None = None, **kwargs) -> Pipeline:
    """``evaluated``: as :func:`create_domains_pipeline`'s."""
    return create_shared_pipeline(evaluated or {}) + create_variant_pipeline(variant)


def create_variant_pipeline(variant: str, seeded: bool = False, namespace: str | None = None) -> Pipeline:
    """The template of a variant's evaluation, in the namespace ``namespace`` (default: the variant's). ``seeded``:
    its DVCLive metrics go to the folder of the seed ``<namespace>.seed`` (a seed of the paper pipeline)."""
    return Pipeline(
        [
            Node(
                network_outputs,
                [
                    "model",
                    "reid_query_images",
                    "reid_gallery_images",
                    "par_test_images",
                    "reid_attributes_images",
                    "attribute_tests",
                    "evaluation_domains",
                    "params:evaluation",
                    "params:sources",
                    "retrieval_gallery",
                ],
                "network_outputs",
                name="network_outputs",
            ),
            Node(
                reid_metrics,
                ["network_outputs", "reid_query", "reid_gallery", "params:evaluation"],
                "reid_metrics",
                name="reid_metrics",
            ),
            Node(
                par_metrics,
                [
                    "network_outputs",
                    "par_test",
                    "reid_attributes",
                    "attribute_tests",
                    "par_attributes",
                    "params:evaluation",
                    "retrieval_gallery",
                ],
                "par_metrics",
                name="par_metrics",
            ),
            Node(
                domain_metrics,
                ["network_outputs", "evaluation_domains", "par_attributes", "params:evaluation"],
                "domain_metrics",
                name="domain_metrics",
            ),
            Node(
                summarise_metrics,
                [
                    "model",
                    "reid_metrics",
                    "par_metrics",
                    "domain_metrics",
                    "params:evaluation",
                    "tracking",
                    *(["seed"] if seeded else []),
                ],
                ["metrics", "attribute_table"],
                name="summarise_metrics",
            ),
            Node(
                retrieval_examples,
                [
                    "network_outputs",
                    "reid_query",
                    "reid_gallery",
                    "reid_attributes",
                    "par_attributes",
                    "params:evaluation",
                ],
                "retrieval",
                name="retrieval_examples",
            ),
            Node(
                attribute_retrieval_examples,
                ["network_outputs", "par_test", "par_attributes", "params:evaluation"],
                "attribute_retrieval",
                name="attribute_retrieval_examples",
            ),
        ],
        namespace=namespace or variant,
        inputs=SHARED_INPUTS,
        parameters={"params:evaluation", "params:sources"},
    )
