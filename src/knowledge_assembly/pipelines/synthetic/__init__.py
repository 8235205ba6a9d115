"""Writes the embedded synthetic default in the real raw formats."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
