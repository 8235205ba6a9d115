"""Attribute-based person retrieval (UPAR task 2): hand-valued cases and a brute-force reference."""

from __future__ import annotations

import numpy as np
import pytest

from knowledge_assembly.evaluation.attribute_retrieval import (
    AttributeQueries,
    evaluate_retrieval,
    parse_query,
    top_matches,
)

LABELS = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.uint8)
PROBABILITIES = np.array([[0.9, 0.1, 0.1], [0.6, 0.5, 0.4], [0.2, 0.8, 0.3], [0.9, 0.1, 0.1]], dtype=np.float32)


def test_hand_valued_case():
    """Queries (1,0,0) -> images 0, 1; (0,1,0) -> image 2; (0,0,1) -> image 3. Image 3 reads exactly like image 0,
    so for (1,0,0) image 0 ties with it at rank 2 (ties count against a match) and image 1 is third:
    AP = (1/2 + 2/3) / 2. (0,1,0): image 2 first, AP 1. (0,0,1): image 3 ties with image 0 below images 1 and 2:
    rank 4, AP 1/4."""
    queries = AttributeQueries.from_labels(LABELS)
    assert queries.vectors.tolist() == [[0, 0, 1], [0, 1, 0], [1, 0, 0]] and queries.match_of.tolist() == [2, 2, 1, 0]
    result = evaluate_retrieval(PROBABILITIES, queries)
    assert result["mAP"] == pytest.approx(((1 / 2 + 2 / 3) / 2 + 1 + 1 / 4) / 3)
    assert (result["rank1"], result["rank5"], result["rank10"], result["queries"]) == (pytest.approx(1 / 3), 1, 1, 3)


def test_a_query_without_a_match_is_skipped_and_a_constant_head_ranks_every_match_last():
    queries = AttributeQueries(np.array([[1, 1, 1], [1, 0, 0]], dtype=np.uint8), np.array([1, 1, -1, -1]))
    assert evaluate_retrieval(PROBABILITIES, queries)["queries"] == 1
    constant = evaluate_retrieval(np.full((4, 3), 0.5, dtype=np.float32), AttributeQueries.from_labels(LABELS))
    assert constant["mAP"] == pytest.approx(((1 / 4 + 2 / 4) / 2 + 1 / 4 + 1 / 4) / 3) and constant["rank1"] == 0


def test_the_order_of_the_queries_does_not_change_the_numbers():
    """A UPAR pair lists its queries by first appearance, the queries built from labels are sorted: the same
    per-query APs summed in another order. The mean is an exact sum (before: 0.11909541687732009 vs ...07)."""
    rng = np.random.default_rng(1)
    labels, probabilities = rng.integers(0, 2, (60, 4)).astype(np.uint8), rng.random((60, 4)).astype(np.float32)
    built = AttributeQueries.from_labels(labels)
    _, first = np.unique(built.match_of, return_index=True)
    by_appearance = np.argsort(np.argsort(first))[built.match_of]  # each image's query, numbered by first appearance
    listed = AttributeQueries.from_matches(by_appearance, labels)
    assert listed.vectors.tolist() != built.vectors.tolist()  # the same queries, in another order
    assert evaluate_retrieval(probabilities, listed) == evaluate_retrieval(probabilities, built)


def brute_force(probabilities: np.ndarray, labels: np.ndarray) -> tuple[float, list[float]]:
    """Every query's score of every image by the formula, and each match's rank by counting, in float64."""
    p = np.clip(probabilities.astype(np.float64), 1e-6, 1 - 1e-6)
    aps, best = [], []
    for vector in np.unique(labels, axis=0):
        scores = np.array([sum(np.log(pi) if q else np.log(1 - pi) for q, pi in zip(vector, row)) for row in p])
        matches = np.flatnonzero((labels == vector).all(axis=1))
        ranks = np.sort([(scores >= scores[j]).sum() for j in matches])
        aps.append(np.mean(np.arange(1, len(ranks) + 1) / ranks))
        best.append(ranks[0])
    return float(np.mean(aps)), [float(np.mean(np.asarray(best) <= k)) for k in (1, 5, 10)]


@pytest.mark.parametrize(("images", "attributes", "seed"), [(200, 2, 0), (300, 4, 1), (120, 6, 2), (60, 9, 3)])
def test_equal_to_brute_force(images, attributes, seed):
    """From 50 matches a query (sorted) to one or two (compared); informative and noisy heads, in small blocks."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, (images, attributes)).astype(np.uint8)
    probabilities = np.clip(0.4 * labels + 0.6 * rng.random(labels.shape), 0, 1).astype(np.float32)
    result = evaluate_retrieval(probabilities, AttributeQueries.from_labels(labels), block=3)
    mean_ap, cmc = brute_force(probabilities, labels)
    assert result["mAP"] == pytest.approx(mean_ap, abs=1e-12)
    assert [result["rank1"], result["rank5"], result["rank10"]] == pytest.approx(cmc, abs=1e-12)


def test_top_matches_count_only_the_attributes_named():
    known = np.array([True, False, False])  # "has attribute 0", nothing said of the others
    rows, scores = top_matches(PROBABILITIES, np.array([1, 0, 0]), known, 2)
    assert rows.tolist() == [0, 3] and scores == pytest.approx(np.log([0.9, 0.9]))
    assert top_matches(PROBABILITIES, np.array([0, 0, 0]), known, 2)[0].tolist() == [2, 1]


def test_a_text_query_names_present_and_absent_attributes():
    names = ["Gender-Female", "Accessory-Hat", "Accessory-Backpack"]
    vector, known = parse_query("Gender-Female, -Accessory-Hat", names)
    assert vector.tolist() == [1, 0, 0] and known.tolist() == [True, True, False]
    with pytest.raises(ValueError, match=r"unknown attribute 'Gender-Femal' \(did you mean 'Gender-Female'\?\)"):
        parse_query("Gender-Femal", names)
    with pytest.raises(ValueError, match="names 'Accessory-Hat' twice"):
        parse_query("Accessory-Hat,-Accessory-Hat", names)
