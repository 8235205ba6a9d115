"""``reporting`` pipelines: figures per variant (in its namespace) and the paper's tables."""
from kedro.pipeline import Node, Pipeline

from .nodes import paper_tables, plot_attribute_bars, plot_cmc, plot_retrieval, plot_training_curves


def create_pipeline(variant: str = "ka", **kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(plot_training_curves, ["training_history", "metrics"], "training_curves_plot", name="plot_training_curves"),
            Node(plot_cmc, "metrics", "cmc_plot", name="plot_cmc"),
            Node(plot_attribute_bars, "metrics", "attribute_plot", name="plot_attribute_bars"),
            Node(plot_retrieval, ["retrieval", "reid_query_images", "reid_gallery_images", "metrics"], "retrieval_plot", name="plot_retrieval"),
        ],
        namespace=variant,
        inputs={"reid_query_images", "reid_gallery_images"},
    )


def create_paper_pipeline(variants: tuple[str, ...]) -> Pipeline:
    return Pipeline(
        [
            Node(
                paper_tables,
                {variant: f"{variant}.metrics" for variant in variants},
                ["paper_table1", "paper_table1_markdown", "paper_table2", "paper_table2_markdown"],
                name="paper_tables",
            )
        ]
    )
