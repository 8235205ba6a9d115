"""Nodes of the ``evaluation`` pipeline."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from knowledge_assembly.evaluation.features import predict
from knowledge_assembly.evaluation.par_metrics import attribute_metrics
from knowledge_assembly.evaluation.reid_metrics import distance_matrix, evaluate_rank
from knowledge_assembly.models import restore_network


def evaluate_variant(
    bundle: dict[str, Any], reid_query: pd.DataFrame, reid_gallery: pd.DataFrame, query_images: np.ndarray,
    gallery_images: np.ndarray, par_test: pd.DataFrame, par_test_images: np.ndarray, params: dict[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame, dict[str, Any]]:
    """reID mAP / CMC on query vs gallery and PAR metrics on the test split, with the first network.

    Also returns the per-attribute table (mA, TPR, TNR, test positives) and what the retrieval figure shows: the top-k gallery items of a
    few queries, whether each is the same identity, and the queries' predicted attributes.
    """
    model = restore_network(bundle["model"], bundle["num_ids"], len(bundle["attributes"]), bundle["state_dicts"][0])
    query = predict(model, query_images, params["batch_size"])
    gallery = predict(model, gallery_images, params["batch_size"])
    distances = distance_matrix(query["reid_feature"], gallery["reid_feature"], params["distance"])
    cmc, mean_ap = evaluate_rank(distances, reid_query["pid"].to_numpy(), reid_gallery["pid"].to_numpy(),
                                 reid_query["camid"].to_numpy(), reid_gallery["camid"].to_numpy(), params["max_rank"])
    par = attribute_metrics(predict(model, par_test_images, params["batch_size"])["attribute_probability"],
                            par_test[bundle["attributes"]].to_numpy(), params["threshold"])
    shown = np.linspace(0, len(reid_query) - 1, min(params["retrieval_queries"], len(reid_query))).astype(int)
    top = np.argsort(distances[shown], axis=1)[:, : params["retrieval_top_k"]]
    g_pids = reid_gallery["pid"].to_numpy()
    retrieval = {
        "query": shown, "top": top, "correct": g_pids[top] == reid_query["pid"].to_numpy()[shown, None],
        "attributes": [[f"{bundle['attributes'][i]} {row[i]:.2f}" for i in np.argsort(-row) if row[i] > params["threshold"]]
                       for row in query["attribute_probability"][shown]],
    }
    metrics = {
        "variant": bundle["variant"],
        "trained_tasks": sorted(bundle["spec"].get("supervised", [])),
        "reid": {"mAP": mean_ap, "rank1": float(cmc[0]), "rank5": float(cmc[min(4, len(cmc) - 1)]),
                 "rank10": float(cmc[min(9, len(cmc) - 1)]), "cmc": cmc.tolist(), "distance": params["distance"]},
        "par": {**{k: v for k, v in par.items() if not k.startswith("per_attribute")},
                "per_attribute_mA": dict(zip(bundle["attributes"], par["per_attribute_mA"]))},
    }
    table = pd.DataFrame({"attribute": bundle["attributes"], "mA": par["per_attribute_mA"], "TPR": par["per_attribute_tpr"],
                          "TNR": par["per_attribute_tnr"], "test_positives": par["per_attribute_positives"]})
    return metrics, table, retrieval
