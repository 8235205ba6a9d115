"""Nodes of the ``model_input`` pipeline."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from knowledge_assembly.formats.images import decode_all


def cache_images(manifest: pd.DataFrame, root: Path, size: list[int]) -> np.ndarray:
    """Decode every image of ``manifest`` once, resized to ``size`` = [width, height]."""
    return decode_all([root / path for path in manifest["path"]], (int(size[0]), int(size[1])))
