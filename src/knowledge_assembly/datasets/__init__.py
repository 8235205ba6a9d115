"""Kedro datasets of this project."""
from .array_dataset import MemmapArrayDataset
from .raw_tree_dataset import RawTreeDataset
from .torch_dataset import TorchBundleDataset

__all__ = ["MemmapArrayDataset", "RawTreeDataset", "TorchBundleDataset"]
