"""Attribute-based person retrieval (UPAR task 2): a query is a 40-bit attribute vector, its true matches are the
gallery images labelled with exactly that vector, and the gallery is ranked by the PAR head's log-likelihood of the
query, Σ q·log p + (1−q)·log(1−p).

A match's rank is the number of gallery images scoring at least as high as it (ties count against it), so a model
that gives every image the same score ranks every match last. AP is the mean over a query's matches, best first,
of i / rank_i; CMC rank-k is whether the best match is within the first k. Queries with no match are skipped.

The score matrix of 7,204 queries × 97,669 images has 700 M entries: it is computed a block of queries at a time,
and only the scores that reach a query's lowest-scoring match are looked at (compared with each match's score,
or sorted where the query has many matches)."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass

import numpy as np

EPS = 1e-6  # probabilities are clipped to [EPS, 1 - EPS] before their logarithm
RANKS = (1, 5, 10)
COMPARED = 24  # a query with at most this many matches has its scores compared with each (faster than sorting)


@dataclass(frozen=True)
class AttributeQueries:
    """Query attribute vectors (Q, A) uint8, and for each gallery image the query it is a true match of (-1: none)."""

    vectors: np.ndarray
    match_of: np.ndarray

    @classmethod
    def from_labels(cls, labels: np.ndarray) -> AttributeQueries:
        """Each distinct attribute vector of ``labels`` (N, A) is one query; every image matches its own vector's."""
        vectors, inverse = np.unique(np.asarray(labels, dtype=np.uint8), axis=0, return_inverse=True)
        return cls(vectors, inverse.reshape(-1).astype(np.int64))

    @classmethod
    def from_matches(cls, query_rows: np.ndarray, vectors: np.ndarray) -> AttributeQueries:
        """Queries given with the gallery: each image's query row (-1: none) and that query's vector (N, A) (UPAR's
        queries.csv / ids.csv); queries with no image in the gallery are left out (they could not be scored)."""
        query_rows = np.asarray(query_rows, dtype=np.int64)
        matched = np.flatnonzero(query_rows >= 0)
        _, first, inverse = np.unique(query_rows[matched], return_index=True, return_inverse=True)
        match_of = np.full(len(query_rows), -1, dtype=np.int64)
        match_of[matched] = inverse.reshape(-1)
        return cls(np.asarray(vectors, dtype=np.uint8)[matched[first]], match_of)


class LogLikelihood:
    """Scores of queries against a gallery: log p and log(1 − p) are taken once, so a block of queries costs one
    matrix product: Σ q·log p + (1−q)·log(1−p) = q·(log p − log(1−p)) + Σ log(1−p)."""

    def __init__(self, probabilities: np.ndarray):
        p = np.clip(np.asarray(probabilities, dtype=np.float32), EPS, 1 - EPS)
        log_p, log_not_p = np.log(p), np.log1p(-p)
        self.weights = np.ascontiguousarray((log_p - log_not_p).T)
        self.offset = log_not_p.sum(1, dtype=np.float32)

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        """(Q, G) float32 scores of ``vectors`` (Q, A)."""
        scores = np.asarray(vectors, dtype=np.float32) @ self.weights
        scores += self.offset
        return scores


def match_ranks(scores: np.ndarray, matches: np.ndarray) -> np.ndarray:
    """Ranks, best first, of a query's ``matches`` (gallery rows) in its ``scores`` row: how many scores reach
    each match's. Only the scores reaching the lowest match's count: compared with each match's, or sorted."""
    thresholds = np.sort(scores[matches])[::-1]
    candidates = scores[scores >= thresholds[-1]]
    if len(thresholds) <= COMPARED:
        return np.array([np.count_nonzero(candidates >= threshold) for threshold in thresholds])
    return len(candidates) - np.searchsorted(np.sort(candidates), thresholds, side="left")


def evaluate_retrieval(probabilities: np.ndarray, queries: AttributeQueries, block: int = 512) -> dict[str, float]:
    """mAP, rank-1/5/10 (as fractions) and ``queries`` (how many have a match) of the gallery whose attribute
    ``probabilities`` (G, A) are given, for ``queries``; the numbers do not depend on the order of the queries."""
    score = LogLikelihood(probabilities)
    matched = np.flatnonzero(queries.match_of >= 0)
    matched = matched[np.argsort(queries.match_of[matched], kind="stable")]
    first = np.searchsorted(queries.match_of[matched], np.arange(len(queries.vectors) + 1))
    aps, best = [], []
    for start in range(0, len(queries.vectors), block):
        scores = score(queries.vectors[start : start + block])
        for row, query in enumerate(range(start, start + len(scores))):
            matches = matched[first[query] : first[query + 1]]
            if len(matches):
                ranks = match_ranks(scores[row], matches)
                aps.append(float(np.mean(np.arange(1, len(ranks) + 1) / ranks)))
                best.append(int(ranks[0]))
    best_ranks = np.asarray(best)
    return {
        "mAP": math.fsum(aps) / len(aps) if aps else float("nan"),  # exact sum: the same whatever the query order
        **{f"rank{k}": float(np.mean(best_ranks <= k)) if aps else float("nan") for k in RANKS},
        "queries": len(aps),
    }


def top_matches(
    probabilities: np.ndarray, vector: np.ndarray, known: np.ndarray, top_k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The ``top_k`` gallery rows, best first, and their scores, for one query ``vector`` over the attributes where
    ``known`` is true (the others do not count): for a text query that names only some attributes."""
    scores = LogLikelihood(np.asarray(probabilities)[:, known])(np.asarray(vector)[known][None])[0]
    rows = np.argsort(-scores, kind="stable")[:top_k]
    return rows, scores[rows]


def parse_query(text: str, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """``"Gender-Female,-Accessory-Hat"`` → the query vector and which attributes it names (``-``: absent); an
    unknown or repeated name is a ``ValueError`` naming it (with the closest attribute)."""
    vector, known = np.zeros(len(names), dtype=np.uint8), np.zeros(len(names), dtype=bool)
    terms = [term.strip() for term in text.split(",") if term.strip()]
    if not terms:
        raise ValueError("names no attribute")
    for term in terms:
        name = term.removeprefix("-").strip()
        if name not in names:
            match = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
            raise ValueError(f"unknown attribute {name!r}" + (f" (did you mean {match[0]!r}?)" if match else ""))
        index = names.index(name)
        if known[index]:
            raise ValueError(f"names {name!r} twice")
        vector[index], known[index] = int(not term.startswith("-")), True
    return vector, known
