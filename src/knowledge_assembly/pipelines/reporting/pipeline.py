"""``reporting`` pipelines: figures per variant (in its namespace) and the paper's tables."""
from kedro.pipeline import Node, Pipeline

from .nodes import plot_attribute_bars, plot_cmc, plot_retrieval, plot_training_curves


def create_pipeline(variant: str = "ka", **kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(plot_training_curves, ["training_history", "metrics"], "training_curves_plot", name="plot_training_curves"),
            Node(plot_cmc, "metrics", "cmc_plot", name="plot_cmc"),
            Node(plot_attribute_bars, ["attribute_table", "metrics"], "attribute_plot", name="plot_attribute_bars"),
            Node(plot_retrieval, ["retrieval", "reid_query_images", "reid_gallery_images", "metrics"], "retrieval_plot", name="plot_retrieval"),
        ],
        namespace=variant,
        inputs={"reid_query_images", "reid_gallery_images"},
    )
