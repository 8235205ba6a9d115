"""Market-1501 retrieval metrics (mAP, CMC), vectorised over queries.

Same semantics as torchreid's ``evaluate_rank`` (``eval_market1501``): gallery
items with the query's pid *and* camera are removed per query, distractors
(pid 0) stay, queries without a remaining match are skipped, AP is the mean
precision at each true match, CMC is clipped to 1. Ranking uses the same
``np.argsort`` so ties order identically.
"""

from __future__ import annotations

import numpy as np


def distance_matrix(query: np.ndarray, gallery: np.ndarray, metric: str = "cosine") -> np.ndarray:
    """``(Q, G)`` distances: ``cosine`` (1 - cosine similarity) or squared ``euclidean``."""
    query, gallery = query.astype(np.float32), gallery.astype(np.float32)
    if metric == "cosine":
        q = query / np.maximum(np.linalg.norm(query, axis=1, keepdims=True), 1e-12)
        g = gallery / np.maximum(np.linalg.norm(gallery, axis=1, keepdims=True), 1e-12)
        return 1.0 - q @ g.T
    if metric == "euclidean":
        return np.maximum((query**2).sum(1)[:, None] + (gallery**2).sum(1)[None, :] - 2.0 * query @ gallery.T, 0.0)
    raise ValueError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")


def check_rank_inputs(
    distmat: np.ndarray, q_pids: np.ndarray, g_pids: np.ndarray, q_camids: np.ndarray, g_camids: np.ndarray
) -> None:
    """Raise ``ValueError`` unless ``distmat`` is (queries x gallery) and the label arrays have those lengths."""
    if np.ndim(distmat) != 2:
        raise ValueError(f"distance matrix must be 2-D (queries x gallery), got shape {np.shape(distmat)}")
    num_q, num_g = distmat.shape
    lengths = {
        "q_pids": (len(q_pids), num_q),
        "q_camids": (len(q_camids), num_q),
        "g_pids": (len(g_pids), num_g),
        "g_camids": (len(g_camids), num_g),
    }
    wrong = [f"{name} has {got}, expected {want}" for name, (got, want) in lengths.items() if got != want]
    if wrong:
        raise ValueError(f"distance matrix is {num_q} x {num_g} but " + ", ".join(wrong))


def evaluate_rank(
    distmat: np.ndarray,
    q_pids: np.ndarray,
    g_pids: np.ndarray,
    q_camids: np.ndarray,
    g_camids: np.ndarray,
    max_rank: int = 50,
    chunk: int = 256,
) -> tuple[np.ndarray, float]:
    """CMC curve (length ``min(max_rank, G)``) and mAP over valid queries."""
    check_rank_inputs(distmat, q_pids, g_pids, q_camids, g_camids)
    num_q, num_g = distmat.shape
    max_rank = min(max_rank, num_g)
    cmc_sum = np.zeros(max_rank, dtype=np.float64)
    ap_sum, valid = 0.0, 0
    for start in range(0, num_q, chunk):
        rows = slice(start, min(start + chunk, num_q))
        order = np.argsort(distmat[rows], axis=1)
        pids, cams = g_pids[order], g_camids[order]
        same_pid = pids == q_pids[rows, None]
        keep = ~(same_pid & (cams == q_camids[rows, None]))
        match = same_pid & keep
        has_match = match.any(axis=1)
        match, keep = match[has_match], keep[has_match]
        rank = np.cumsum(keep, axis=1)  # 1-based rank among kept items
        hits = np.cumsum(match, axis=1)  # matches so far
        precision = np.where(match, hits / np.maximum(rank, 1), 0.0)
        ap_sum += float((precision.sum(axis=1) / match.sum(axis=1)).sum())
        first = np.argmax(match, axis=1)  # column of the first match
        first_rank = rank[np.arange(len(first)), first]  # its rank among kept items
        cmc_sum += (first_rank[:, None] <= np.arange(1, max_rank + 1)[None, :]).sum(axis=0)
        valid += int(has_match.sum())
    if valid == 0:
        raise ValueError("no query has a match in the gallery")
    return (cmc_sum / valid).astype(np.float32), ap_sum / valid


def evaluate_rank_loop(distmat, q_pids, g_pids, q_camids, g_camids, max_rank: int = 50) -> tuple[np.ndarray, float]:
    """Straightforward per-query loop (the reference the vectorised version is checked and timed against)."""
    check_rank_inputs(distmat, q_pids, g_pids, q_camids, g_camids)
    num_q, num_g = distmat.shape
    max_rank = min(max_rank, num_g)
    indices = np.argsort(distmat, axis=1)
    matches = (g_pids[indices] == q_pids[:, np.newaxis]).astype(np.int32)
    all_cmc, all_ap = [], []
    for q in range(num_q):
        order = indices[q]
        remove = (g_pids[order] == q_pids[q]) & (g_camids[order] == q_camids[q])
        raw_cmc = matches[q][~remove]
        if not raw_cmc.any():
            continue
        cmc = raw_cmc.cumsum()
        cmc[cmc > 1] = 1
        all_cmc.append(cmc[:max_rank])
        precision = raw_cmc.cumsum() / (np.arange(len(raw_cmc)) + 1.0)
        all_ap.append((precision * raw_cmc).sum() / raw_cmc.sum())
    if not all_cmc:
        raise ValueError("no query has a match in the gallery")
    return np.asarray(all_cmc, dtype=np.float32).sum(0) / len(all_cmc), float(np.mean(all_ap))
