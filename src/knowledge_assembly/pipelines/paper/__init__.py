"""Every variant trained and evaluated for each seed of ``paper.seeds``; Tables 1 and 2 as mean ± std."""

from .pipeline import create_seeds_pipeline, create_tables_pipeline

__all__ = ["create_seeds_pipeline", "create_tables_pipeline"]
