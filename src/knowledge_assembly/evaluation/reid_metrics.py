"""Market-1501 retrieval metrics (mAP, CMC) without ranking the whole gallery.

Same semantics as torchreid's ``evaluate_rank`` (``eval_market1501``): gallery
items with the query's pid *and* camera are removed per query, distractors
(pid 0) stay, queries without a remaining match are skipped, AP is the mean
precision at each true match, CMC is clipped to 1.

AP and CMC only need the rank of each true match among the kept items. Each
query's distances are sorted as values (no argsort), and a binary search gives
the number of gallery items closer than each match; the removed items closer
than it are subtracted. Where a query's distances have ties, the order among
tied items matters, so those queries are ranked with the same ``np.argsort``
as torchreid and tie exactly as it does.
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
    for start in range(0, num_q, 256):  # NaN would rank arbitrarily and give a meaningless mAP
        bad = ~np.isfinite(np.asarray(distmat[start : start + 256]))
        if bad.any():
            row, column = np.argwhere(bad)[0]
            raise ValueError(
                f"distance matrix has non-finite values (first at query {start + row}, gallery {column}: "
                f"{distmat[start + row, column]}); check the features"
            )


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
    same_pid = _gallery_by_pid(g_pids)
    first_ranks, ap_sum = [], 0.0
    for start in range(0, num_q, chunk):
        block = np.asarray(distmat[start : start + chunk])
        ordered = np.sort(block, axis=1)
        for row, (q_pid, q_cam) in enumerate(zip(q_pids[start : start + chunk], q_camids[start : start + chunk])):
            same = same_pid.get(q_pid, _NONE)
            ranks = _match_ranks(block[row], ordered[row], same, g_camids[same] == q_cam)
            if ranks is None:  # a match or removed item ties with another item: rank as torchreid does
                ranks = _match_ranks_argsort(block[row], g_pids, g_camids, q_pid, q_cam)
            if len(ranks):
                ap_sum += float(np.mean(np.arange(1, len(ranks) + 1) / ranks))
                first_ranks.append(ranks[0])
    if not first_ranks:
        raise ValueError("no query has a match in the gallery")
    counts = np.bincount(np.minimum(first_ranks, max_rank + 1), minlength=max_rank + 2)[1 : max_rank + 1]
    return (np.cumsum(counts) / len(first_ranks)).astype(np.float32), ap_sum / len(first_ranks)


_NONE = np.empty(0, dtype=np.int64)


def _gallery_by_pid(g_pids: np.ndarray) -> dict:
    """Gallery indices of each pid."""
    order = np.argsort(g_pids, kind="stable")
    pids, starts = np.unique(g_pids[order], return_index=True)
    return dict(zip(pids.tolist(), np.split(order, starts[1:])))


def _match_ranks(
    distances: np.ndarray, ordered: np.ndarray, same: np.ndarray, removed: np.ndarray
) -> np.ndarray | None:
    """1-based ranks among kept items of each true match, ascending, from the query's sorted distances
    ``ordered``; None when a same-pid item's distance ties with another item's (the order of ties matters)."""
    relevant = distances[same]
    if len(relevant) and np.any(
        np.searchsorted(ordered, relevant, side="right") - np.searchsorted(ordered, relevant, side="left") > 1
    ):
        return None
    matches = np.sort(relevant[~removed])
    closer = np.searchsorted(ordered, matches, side="left")
    return closer - np.searchsorted(np.sort(relevant[removed]), matches, side="left") + 1


def _match_ranks_argsort(
    distances: np.ndarray, g_pids: np.ndarray, g_camids: np.ndarray, q_pid: int, q_cam: int
) -> np.ndarray:
    """The same, ranking the whole gallery with ``np.argsort`` as torchreid does (for distances with ties)."""
    order = np.argsort(distances)
    pids, cams = g_pids[order], g_camids[order]
    keep = ~((pids == q_pid) & (cams == q_cam))
    return np.flatnonzero((pids == q_pid)[keep]) + 1


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
