"""Training of one variant (baseline, KA, or ablation)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
