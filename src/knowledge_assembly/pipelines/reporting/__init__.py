"""Figures of one variant, and the paper's tables over all variants."""
from .pipeline import create_paper_pipeline, create_pipeline

__all__ = ["create_paper_pipeline", "create_pipeline"]
