"""Kedro datasets of this project."""
from .raw_tree_dataset import RawTreeDataset

__all__ = ["RawTreeDataset"]
