"""Time ingestion of a real-scale raw tree and print JSON.

Market-1501: every real file name from ``../shared/reference/market1501_lists``
(36,036 names, ``.jpg.jpg`` quirks and ``Thumbs.db`` included) as empty files.
PA-100K: an ``annotation.mat`` of 80k/10k/10k images with empty image files.
UPAR: a CRLF CSV labelling all 100k PA-100K images plus the Market train set.
Images are empty, so the image check is ``none``: this measures what the ingestion pipeline's readers do besides
decoding (the UPAR release read once, then the market1501 and pa100k sources' readers), the part that does not
scale with pixels.

    python benchmarks/ingest.py [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from knowledge_assembly.formats import market1501, pa100k, upar, upar_labels, upar_pa100k

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "market1501_lists"
UPAR_PARAMS = {"csv_files": ["upar.csv"], "pa100k_prefix": "PA100k/", "market1501_prefix": "Market1501/"}
NO_CHECK = ("none", 16_000_000)  # ingestion.image_check, image_max_pixels
PA_PARAMS = {"annotation_file": "annotation.mat", "image_dir": "release_data/release_data"}


def build_tree(root: Path, rng: np.random.Generator) -> dict[str, int]:
    market = root / "Market-1501-v15.09.15"
    train_names = []
    for folder in market1501.SPLIT_FOLDERS.values():
        (market / folder).mkdir(parents=True)
        names = (REFERENCE / f"{folder}.txt").read_text().split()
        for name in names:
            (market / folder / name).touch()
        if folder == "bounding_box_train":
            train_names = [n for n in names if n.endswith(".jpg")]
    images = root / "PA-100K" / "release_data" / "release_data"
    images.mkdir(parents=True)
    names = [f"{i:06d}.jpg" for i in range(1, 100001)]
    for name in names:
        (images / name).touch()
    splits = {"train": names[:80000], "val": names[80000:90000], "test": names[90000:]}
    labels = {s: rng.integers(0, 2, (len(v), 26), dtype=np.uint8) for s, v in splits.items()}
    annotation = pa100k.PA100KAnnotation(list(pa100k.PA100K_ATTRIBUTES), splits, labels)
    (root / "PA-100K" / "annotation.mat").write_bytes(pa100k.annotation_bytes(annotation))
    rows = [f"PA100k/release_data/release_data/{n}" for n in names] + [
        f"Market1501/bounding_box_train/{n}" for n in train_names
    ]
    frame = pd.DataFrame(rng.integers(0, 2, (len(rows), 40), dtype=np.uint8), columns=list(upar.UPAR_ATTRIBUTES))
    frame.insert(0, "image", rows)
    (root / "UPAR").mkdir()
    (root / "UPAR" / "upar.csv").write_bytes(upar.to_csv_bytes(frame, list(upar.UPAR_ATTRIBUTES)))
    return {"market1501_names": sum(1 for _ in market.glob("*/*")), "pa100k_images": len(names), "upar_rows": len(rows)}


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return result, round(time.perf_counter() - start, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        root = Path(tmp)
        sizes, build_s = timed(build_tree, root, np.random.default_rng(0))
        labels, upar_s = timed(upar_labels.read_labels, root / "UPAR", UPAR_PARAMS)
        market_root = root / "Market-1501-v15.09.15"
        market, market_s = timed(market1501.index_source, market_root, labels, {"cameras": 6}, "Market1501/", *NO_CHECK)
        pa, pa_s = timed(upar_pa100k.index_source, root / "PA-100K", labels, PA_PARAMS, "PA100k/", *NO_CHECK)
    total = market_s + pa_s + upar_s
    print(
        json.dumps(
            {
                "benchmark": "ingest",
                **sizes,
                "manifest_rows": {
                    **{f"market1501/{split}": len(frame) for split, frame in market.items()},
                    **{f"pa100k/{split}": len(frame) for split, frame in pa.items()},
                },
                "seconds": {
                    "build_tree": build_s,
                    "read_upar_labels": upar_s,
                    "market1501.index": market_s,
                    "pa100k.index": pa_s,
                    "ingestion_total": round(total, 3),
                },
                "rows_per_second": round(
                    (sizes["market1501_names"] + sizes["pa100k_images"] + sizes["upar_rows"]) / total
                ),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
