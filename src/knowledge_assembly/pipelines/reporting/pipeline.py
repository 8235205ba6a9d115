"""``reporting`` pipeline: the figures of one variant, in its namespace."""

from kedro.pipeline import Node, Pipeline

from .nodes import plot_attribute_bars, plot_attribute_retrieval, plot_cmc, plot_retrieval, plot_training_curves


def create_pipeline(variant: str, **kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                plot_training_curves,
                ["training_history", "variant_name"],
                "training_curves_plot",
                name="plot_training_curves",
            ),
            Node(plot_cmc, "metrics", "cmc_plot", name="plot_cmc"),
            Node(plot_attribute_bars, ["attribute_table", "metrics"], "attribute_plot", name="plot_attribute_bars"),
            Node(
                plot_retrieval,
                ["retrieval", "variant_name"],
                "retrieval_plot",
                name="plot_retrieval",
            ),
            Node(
                plot_attribute_retrieval,
                ["attribute_retrieval", "variant_name"],
                "attribute_retrieval_plot",
                name="plot_attribute_retrieval",
            ),
        ],
        namespace=variant,
    )
