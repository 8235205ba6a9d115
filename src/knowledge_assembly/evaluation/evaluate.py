"""Evaluate every network of a trained bundle: reID on query/gallery, PAR on PA-100K and on the reID domain."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..models import restore_network
from .features import predict
from .par_metrics import attribute_metrics
from .reid_metrics import distance_matrix, evaluate_rank


@dataclass(frozen=True)
class EvaluationData:
    """Query/gallery manifests and images, the PA-100K test split, and UPAR-labelled Market-1501 images."""

    reid_query: pd.DataFrame
    reid_gallery: pd.DataFrame
    query_images: np.ndarray
    gallery_images: np.ndarray
    par_test: pd.DataFrame
    par_test_images: np.ndarray
    reid_attributes: pd.DataFrame
    reid_attribute_images: np.ndarray


def par_summary(probabilities: np.ndarray, labels: np.ndarray, names: list[str], threshold: float) -> dict[str, Any]:
    """PAR metrics plus the mA of colour attributes and of all other attributes, reported apart."""
    result = attribute_metrics(probabilities, labels, threshold)
    per_attribute = np.asarray(result["per_attribute_mA"])
    colour = np.array(["-Color-" in name for name in names])
    result["mA_colour"] = float(per_attribute[colour].mean()) if colour.any() else float("nan")
    result["mA_other"] = float(per_attribute[~colour].mean()) if (~colour).any() else float("nan")
    return result


def evaluate_network(network, names: list[str], data: EvaluationData, params: dict[str, Any]) -> dict[str, Any]:
    """Metrics of one network; ``_query`` holds its query outputs and distances for the retrieval figure."""
    batch = params["batch_size"]
    query = predict(network, data.query_images, batch)
    gallery = predict(network, data.gallery_images, batch)
    distances = distance_matrix(query["reid_feature"], gallery["reid_feature"], params["distance"])
    cmc, mean_ap = evaluate_rank(distances, data.reid_query["pid"].to_numpy(), data.reid_gallery["pid"].to_numpy(),
                                 data.reid_query["camid"].to_numpy(), data.reid_gallery["camid"].to_numpy(), params["max_rank"])
    par = predict(network, data.par_test_images, batch, par_domain=True)["attribute_probability"]
    metrics = {
        "reid": {"mAP": mean_ap, "rank1": float(cmc[0]), "rank5": float(cmc[min(4, len(cmc) - 1)]),
                 "rank10": float(cmc[min(9, len(cmc) - 1)]), "cmc": cmc.tolist()},
        "par": par_summary(par, data.par_test[names].to_numpy(), names, params["threshold"]),
        "reid_domain_par": None,
        "_query": {"attribute_probability": query["attribute_probability"], "distances": distances},
    }
    if len(data.reid_attributes):
        market = predict(network, data.reid_attribute_images, batch)["attribute_probability"]
        metrics["reid_domain_par"] = par_summary(market, data.reid_attributes[names].to_numpy(), names, params["threshold"])
    return metrics


def mean_metrics(results: list[Any]) -> Any:
    """Element-wise mean of equally shaped metric trees (dicts, lists, numbers; ``None`` stays ``None``)."""
    first = results[0]
    if isinstance(first, dict):
        return {key: mean_metrics([r[key] for r in results]) for key in first}
    if isinstance(first, list):
        return np.mean(np.asarray(results, dtype=float), axis=0).tolist()
    if isinstance(first, (int, float, np.floating)):
        return float(np.mean(results))
    return first


def evaluate_bundle(bundle: dict[str, Any], data: EvaluationData, params: dict[str, Any]) -> tuple[dict, pd.DataFrame, dict]:
    """Metrics (mean over the bundle's networks, with each network's headline numbers), the per-attribute
    table and what the retrieval figure shows (first network)."""
    names = list(bundle["attributes"])
    results = []
    for weights in bundle["state_dicts"]:
        network = restore_network(bundle["model"], bundle["num_ids"], len(names), weights)
        results.append(evaluate_network(network, names, data, params))
    shown = results[0].pop("_query")
    for result in results[1:]:
        result.pop("_query")
    metrics = {
        "variant": bundle["variant"], "seed": bundle.get("seed"), "networks": len(results),
        "trained_tasks": sorted(t for t in bundle["spec"].get("supervised", []) if t in ("reid", "par")),
        **mean_metrics(results),
        "per_network": [{task: None if r[task] is None else {k: r[task][k] for k in ("mAP", "rank1", "mA", "f1") if k in r[task]}
                         for task in ("reid", "par", "reid_domain_par")} for r in results],
    }
    metrics["reid"]["distance"] = params["distance"]
    table = attribute_table(metrics, names)
    return metrics, table, retrieval_examples(shown, names, data, params)


def attribute_table(metrics: dict[str, Any], names: list[str]) -> pd.DataFrame:
    """Per attribute: PA-100K mA, TPR, TNR and test positives, and mA on the reID domain (UPAR's Market-1501 labels)."""
    par = metrics["par"]
    table = pd.DataFrame({"attribute": names, "mA": par["per_attribute_mA"], "TPR": par["per_attribute_tpr"],
                          "TNR": par["per_attribute_tnr"], "test_positives": np.round(par["per_attribute_positives"]).astype(int)})
    market = metrics["reid_domain_par"]
    table["reid_domain_mA"] = market["per_attribute_mA"] if market else np.nan
    return table


def retrieval_examples(shown: dict[str, np.ndarray], names: list[str], data: EvaluationData, params: dict[str, Any]) -> dict:
    """Top-k gallery items of a few queries, whether each is the same identity, and the queries' attribute
    probabilities beside their UPAR ground truth where the query is labelled (``None`` elsewhere)."""
    query = data.reid_query
    rows = np.linspace(0, len(query) - 1, min(params["retrieval_queries"], len(query))).astype(int)
    top = np.argsort(shown["distances"][rows], axis=1)[:, : params["retrieval_top_k"]]
    labelled = dict(zip(data.reid_attributes["path"], data.reid_attributes[names].to_numpy())) if len(data.reid_attributes) else {}
    return {
        "query": rows, "top": top, "correct": data.reid_gallery["pid"].to_numpy()[top] == query["pid"].to_numpy()[rows, None],
        "names": names, "probabilities": shown["attribute_probability"][rows],
        "truth": [labelled.get(path) for path in query["path"].to_numpy()[rows]], "threshold": params["threshold"],
    }
