"""reID evaluation at full Market-1501 scale (3,368 x 15,913): sorted search vs per-query loop (target >= 5x); JSON.

pids and cameras come from the real file lists in ``../shared/reference`` (junk
dropped, distractors kept); features are random 128-d vectors, so the distance
matrix is computed here too.

    python benchmarks/eval.py
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from knowledge_assembly.evaluation.reid_metrics import distance_matrix, evaluate_rank, evaluate_rank_loop
from knowledge_assembly.formats import market1501

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "market1501_lists"


def split(folder: str):
    names = (REFERENCE / f"{folder}.txt").read_text().split()
    frame = market1501.drop_junk(market1501.index_names(names, folder, folder))
    return frame["pid"].to_numpy(), frame["camid"].to_numpy()


def main() -> None:
    (q_pids, q_cams), (g_pids, g_cams) = split("query"), split("bounding_box_test")
    rng = np.random.default_rng(0)
    query = rng.standard_normal((len(q_pids), 128)).astype(np.float32)
    gallery = rng.standard_normal((len(g_pids), 128)).astype(np.float32)
    query[: len(q_pids)] += 0.8 * rng.standard_normal((1, 128)).astype(np.float32)  # some structure
    start = time.perf_counter()
    distmat = distance_matrix(query, gallery, "cosine")
    distance_s = time.perf_counter() - start
    start = time.perf_counter()
    cmc, mean_ap = evaluate_rank(distmat, q_pids, g_pids, q_cams, g_cams)
    search_s = time.perf_counter() - start
    start = time.perf_counter()
    loop_cmc, loop_map = evaluate_rank_loop(distmat, q_pids, g_pids, q_cams, g_cams)
    loop_s = time.perf_counter() - start
    print(
        json.dumps(
            {
                "benchmark": "eval",
                "queries": len(q_pids),
                "gallery": len(g_pids),
                "seconds": {
                    "distance_matrix": round(distance_s, 3),
                    "sorted_search": round(search_s, 3),
                    "per_query_loop": round(loop_s, 3),
                },
                "speedup_vs_loop": round(loop_s / search_s, 2),
                "target_speedup_min": 5,
                "max_abs_difference": {"cmc": float(np.abs(cmc - loop_cmc).max()), "mAP": abs(mean_ap - loop_map)},
                "mAP": mean_ap,
                "rank1": float(cmc[0]),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
