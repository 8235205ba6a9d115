"""RAPv2 as the original UPAR release (``dataset_all.pkl``) labels it: PNG crops of varying size in RAPv2's own
``RAP_dataset/`` folder, each a row of the pickle under UPAR's RAPv2 prefix (``ingestion.upar.rapv2_prefix``),
split by the pickle's partition. The UPAR 2027 challenge files do not label RAPv2.

The prefix UPAR gives RAPv2 rows is a parameter: no real row of the original release was at hand to check it.
"""

from __future__ import annotations

IMAGE_DIR = "RAP_dataset"


def image_path(camera: int, day: int, target: int, frame: int) -> str:
    """``RAP_dataset/<name>.png`` of a crop, named as RAPv2 names them (camera, recording, target id, frame)."""
    stamp = f"201402{day:02d}"
    recording = f"{stamp}101000-{stamp}102000"
    return f"{IMAGE_DIR}/CAM{camera:02d}-2014-02-{day:02d}-{recording}-tarid{target}-frame{frame}-line1.png"
