"""reID and PAR metrics: hand-worked fixtures and torchreid's own evaluate_rank as reference."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest

from knowledge_assembly.evaluation.par_metrics import attribute_metrics
from knowledge_assembly.evaluation.reid_metrics import distance_matrix, evaluate_rank, evaluate_rank_loop


@pytest.fixture(scope="module")
def torchreid_rank():
    """torchreid's ``metrics/rank.py`` loaded from the installed package (its top-level imports need much more)."""
    spec = importlib.util.find_spec("torchreid")
    if spec is None:
        pytest.skip("torchreid is not installed (pip install -e '.[dev]')")
    path = Path(spec.submodule_search_locations[0]) / "reid" / "metrics" / "rank.py"
    module_spec = importlib.util.spec_from_file_location("torchreid_rank", path)
    module = importlib.util.module_from_spec(module_spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module_spec.loader.exec_module(module)
    return module


def _fixture(seed: int, num_q: int, num_g: int, ids: int, cams: int = 3, ties: bool = False):
    rng = np.random.default_rng(seed)
    q_pids, g_pids = rng.integers(0, ids, num_q), rng.integers(0, ids, num_g)
    q_cams, g_cams = rng.integers(0, cams, num_q), rng.integers(0, cams, num_g)
    distmat = (
        rng.integers(0, 4, (num_q, num_g)).astype(np.float32) if ties else rng.random((num_q, num_g)).astype(np.float32)
    )
    return distmat, q_pids, g_pids, q_cams, g_cams


CASES = {
    "random": dict(seed=0, num_q=40, num_g=300, ids=30),
    "many_ties": dict(seed=1, num_q=50, num_g=200, ids=10, ties=True),
    "no_match_queries": dict(seed=2, num_q=60, num_g=80, ids=70),
    "short_gallery": dict(seed=3, num_q=20, num_g=12, ids=4),
    "single_camera_junk": dict(seed=4, num_q=30, num_g=100, ids=8, cams=1),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_vectorised_rank_equals_torchreid(torchreid_rank, case):
    args = _fixture(**CASES[case])
    if case == "single_camera_junk":  # every same-pid item shares the camera: give a few queries another camera
        args[3][:10] = 1
    if case == "short_gallery":  # G < max_rank; no junk, since torchreid cannot stack CMCs of unequal length
        args[3][:], args[4][:] = 0, 1 + args[4] % 2
    try:
        expected_cmc, expected_map = torchreid_rank.evaluate_rank(*args, max_rank=50, use_cython=False)
    except AssertionError:
        with pytest.raises(ValueError, match="no query has a match"):
            evaluate_rank(*args, max_rank=50)
        return
    cmc, mean_ap = evaluate_rank(*args, max_rank=50, chunk=7)
    assert cmc.shape == expected_cmc.shape
    np.testing.assert_allclose(cmc, expected_cmc, atol=1e-6)
    assert mean_ap == pytest.approx(expected_map, abs=1e-6)
    loop_cmc, loop_map = evaluate_rank_loop(*args, max_rank=50)
    np.testing.assert_allclose(loop_cmc, expected_cmc, atol=1e-6)
    assert loop_map == pytest.approx(expected_map, abs=1e-6)


def test_rank_by_hand():
    """Query pid 1 cam 0 against gallery [pid1 cam0 (junk), pid2, pid1 cam1, pid0 distractor, pid1 cam2]."""
    distmat = np.array([[0.0, 0.1, 0.2, 0.3, 0.4]], dtype=np.float32)
    g_pids, g_cams = np.array([1, 2, 1, 0, 1]), np.array([0, 1, 1, 1, 2])
    cmc, mean_ap = evaluate_rank(distmat, np.array([1]), g_pids, np.array([0]), g_cams, max_rank=4)
    # kept order: pid2, pid1, pid0, pid1 -> matches at ranks 2 and 4: AP = (1/2 + 2/4) / 2
    assert mean_ap == pytest.approx(0.5)
    np.testing.assert_allclose(cmc, [0, 1, 1, 1])
    # a second query without any match is skipped, not counted as zero
    two = evaluate_rank(np.vstack([distmat, distmat]), np.array([1, 5]), g_pids, np.array([0, 0]), g_cams, max_rank=4)
    assert two[1] == pytest.approx(0.5)


def test_query_whose_kept_gallery_is_shorter_than_max_rank():
    """Junk removal can leave fewer than max_rank items: the CMC stays 1 once matched."""
    distmat = np.array([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]], dtype=np.float32)
    g_pids, g_cams = np.array([1, 1, 2]), np.array([0, 1, 1])
    cmc, mean_ap = evaluate_rank(distmat, np.array([1, 2]), g_pids, np.array([0, 0]), g_cams, max_rank=50)
    # q0 keeps [pid1 cam1, pid2] -> rank 1; q1 keeps all three, pid2 first -> rank 1
    np.testing.assert_allclose(cmc, [1, 1, 1])
    assert mean_ap == pytest.approx(1.0)


def test_distances():
    q, g = np.array([[1.0, 0.0]]), np.array([[2.0, 0.0], [0.0, 3.0]])
    np.testing.assert_allclose(distance_matrix(q, g, "cosine"), [[0.0, 1.0]], atol=1e-6)
    np.testing.assert_allclose(distance_matrix(q, g, "euclidean"), [[1.0, 10.0]], atol=1e-5)
    with pytest.raises(ValueError, match="metric must be"):
        distance_matrix(q, g, "manhattan")


def test_attribute_metrics_by_hand():
    labels = np.array([[1, 0, 1], [0, 0, 0], [1, 1, 0]])
    probabilities = np.array([[0.9, 0.2, 0.5], [0.1, 0.7, 0.3], [0.8, 0.6, 0.1]])  # 0.5 is not > 0.5
    result = attribute_metrics(probabilities, labels)
    # predictions: [1,0,0], [0,1,0], [1,1,0]
    # attr0: TPR 2/2, TNR 1/1 -> 1; attr1: TPR 1/1, TNR 1/2 -> .75; attr2: TPR 0/1, TNR 2/2 -> .5
    assert result["per_attribute_mA"] == pytest.approx([1.0, 0.75, 0.5])
    assert result["mA"] == pytest.approx(0.75)
    assert result["per_attribute_tpr"] == pytest.approx([1.0, 1.0, 0.0]) and result["per_attribute_positives"] == [
        2,
        1,
        1,
    ]
    # per image: P = [1/1, 0/1, 2/2], R = [1/2, 0 (empty truth), 2/2], acc = [1/2, 0/1, 2/2]
    assert result["precision"] == pytest.approx(2 / 3)
    assert result["recall"] == pytest.approx(0.5)
    assert result["accuracy"] == pytest.approx(0.5)
    assert result["f1"] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))


def test_metrics_refuse_labels_that_do_not_match_the_matrices():
    distmat = np.zeros((3, 5))
    pids, cams = np.arange(5), np.zeros(5, dtype=int)
    with pytest.raises(ValueError, match=r"distance matrix is 3 x 5 but q_pids has 4, expected 3"):
        evaluate_rank(distmat, np.arange(4), pids, np.zeros(3), cams)
    with pytest.raises(ValueError, match=r"g_camids has 4, expected 5"):
        evaluate_rank_loop(distmat, np.arange(3), pids, np.zeros(3), cams[:4])
    distmat[2, 3] = np.nan  # NaN ranks arbitrarily (torchreid gives a mAP for it): refused, naming where
    for rank in (evaluate_rank, evaluate_rank_loop):
        with pytest.raises(ValueError, match=r"non-finite values \(first at query 2, gallery 3: nan\)"):
            rank(distmat, np.arange(3), pids, np.ones(3), cams)
    with pytest.raises(ValueError, match=r"probabilities \(4, 40\) and labels \(5, 40\) must both be"):
        attribute_metrics(np.zeros((4, 40)), np.zeros((5, 40)))
