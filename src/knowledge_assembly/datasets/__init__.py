"""Kedro datasets of this project."""

from .array_dataset import MemmapArrayDataset
from .figure_dataset import FigureDataset
from .folder_dataset import FolderDataset
from .raw_tree_dataset import MissingRawDataError, RawTreeDataset, missing_raw_data
from .torch_dataset import TorchBundleDataset

__all__ = [
    "FigureDataset",
    "FolderDataset",
    "MemmapArrayDataset",
    "MissingRawDataError",
    "RawTreeDataset",
    "TorchBundleDataset",
    "missing_raw_data",
]
