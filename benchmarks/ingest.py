"""Time ingestion of a real-scale raw tree and print JSON.

Market-1501: every real file name from ``../shared/reference/market1501_lists``
(36,036 names, ``.jpg.jpg`` quirks and ``Thumbs.db`` included) as empty files.
PA-100K: an ``annotation.mat`` of 80k/10k/10k images with empty image files.
UPAR: a CRLF CSV labelling all 100k PA-100K images plus the Market train set.
Images are empty, so the image check is ``none``: this measures parsing,
validation and manifest assembly, the part that does not scale with pixels.

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

from knowledge_assembly.formats import market1501, pa100k, upar
from knowledge_assembly.pipelines.ingestion import nodes

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "market1501_lists"
UPAR_PARAMS = {"csv_files": ["upar.csv"], "pa100k_prefix": "PA100k/", "market1501_prefix": "Market1501/"}
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
        market, market_s = timed(nodes.index_market1501, root / "Market-1501-v15.09.15", {"cameras": 6}, "none")
        pa, pa_s = timed(nodes.index_pa100k, root / "PA-100K", PA_PARAMS, "none")
        (labels, market_labels, names), upar_s = timed(nodes.read_upar_labels, root / "UPAR", UPAR_PARAMS)
        manifests, assemble_s = timed(nodes.assemble_manifests, market, pa, labels, market_labels, names, UPAR_PARAMS)
    total = market_s + pa_s + upar_s + assemble_s
    print(
        json.dumps(
            {
                "benchmark": "ingest",
                **sizes,
                "manifest_rows": {n: len(m) for n, m in zip(nodes.MANIFEST_NAMES, manifests)},
                "seconds": {
                    "build_tree": build_s,
                    "index_market1501": market_s,
                    "index_pa100k": pa_s,
                    "read_upar_labels": upar_s,
                    "assemble_manifests": assemble_s,
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
