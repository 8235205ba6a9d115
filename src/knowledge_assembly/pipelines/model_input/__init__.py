"""Manifests → decoded uint8 image caches (decoded once, memory-mapped by training)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
