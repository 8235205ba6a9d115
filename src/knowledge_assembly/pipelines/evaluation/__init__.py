"""Evaluation of one trained variant."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
