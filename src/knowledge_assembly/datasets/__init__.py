"""Kedro datasets of this project."""

from .array_dataset import MemmapArrayDataset
from .folder_dataset import FolderDataset
from .raw_tree_dataset import RawTreeDataset
from .torch_dataset import TorchBundleDataset

__all__ = ["FolderDataset", "MemmapArrayDataset", "RawTreeDataset", "TorchBundleDataset"]
