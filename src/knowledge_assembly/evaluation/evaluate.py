"""Evaluate every network of a trained bundle in steps: outputs on the test images → reID metrics and PAR
metrics (on PA-100K and on the reID domain) → one summary with the per-attribute table → retrieval examples."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..config import PAR_SOURCE, EvaluationConfig
from ..models.bundle import ModelBundle
from ..models.prediction import predict
from .par_metrics import attribute_metrics
from .reid_metrics import distance_matrix, evaluate_rank


@dataclass(frozen=True)
class TestImages:
    """Decoded test images: query, gallery, the PAR test split, the reID domain's attribute-labelled images and
    PETA's test split (empty without PETA). ``sources`` names the training source of each attribute test split
    (``par_test``, ``peta_test``), whose domain statistics normalise it where the bundle was trained on it."""

    query: np.ndarray
    gallery: np.ndarray
    par_test: np.ndarray
    reid_attributes: np.ndarray
    peta_test: np.ndarray | None = None
    sources: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NetworkOutputs:
    """One network's outputs on the test images (what every metric is computed from)."""

    query: dict[str, np.ndarray]
    gallery_features: np.ndarray
    par_test_probability: np.ndarray
    reid_domain_probability: np.ndarray
    peta_test_probability: np.ndarray | None = None


def network_outputs(bundle: ModelBundle, images: TestImages, batch_size: int) -> list[NetworkOutputs]:
    """Run every network of ``bundle`` over the test images (attribute test splits in their source's domain, or as
    PAR-domain images where the bundle was not trained on that source)."""
    par_domain = bundle.domain_of(images.sources.get("par_test", ""), PAR_SOURCE)
    peta_domain = bundle.domain_of(images.sources.get("peta_test", ""), PAR_SOURCE)
    peta = images.peta_test if images.peta_test is not None and len(images.peta_test) else None
    outputs = []
    for network in bundle.networks():
        outputs.append(
            NetworkOutputs(
                query=predict(network, images.query, batch_size),
                gallery_features=predict(network, images.gallery, batch_size)["reid_feature"],
                par_test_probability=predict(network, images.par_test, batch_size, domain=par_domain)[
                    "attribute_probability"
                ],
                reid_domain_probability=predict(network, images.reid_attributes, batch_size)["attribute_probability"],
                peta_test_probability=None
                if peta is None
                else predict(network, peta, batch_size, domain=peta_domain)["attribute_probability"],
            )
        )
    return outputs


def query_distances(outputs: NetworkOutputs, config: EvaluationConfig) -> np.ndarray:
    return distance_matrix(outputs.query["reid_feature"], outputs.gallery_features, config.distance)


def reid_metrics(
    outputs: list[NetworkOutputs], query: pd.DataFrame, gallery: pd.DataFrame, config: EvaluationConfig
) -> list[dict[str, Any]]:
    """mAP and CMC of each network (Market-1501 protocol, see :mod:`.reid_metrics`)."""
    results = []
    for network in outputs:
        cmc, mean_ap = evaluate_rank(
            query_distances(network, config),
            query["pid"].to_numpy(),
            gallery["pid"].to_numpy(),
            query["camid"].to_numpy(),
            gallery["camid"].to_numpy(),
            config.max_rank,
        )
        results.append(
            {
                "mAP": mean_ap,
                "rank1": float(cmc[0]),
                "rank5": float(cmc[min(4, len(cmc) - 1)]),
                "rank10": float(cmc[min(9, len(cmc) - 1)]),
                "cmc": cmc.tolist(),
            }
        )
    return results


def par_summary(probabilities: np.ndarray, labels: np.ndarray, names: list[str], threshold: float) -> dict[str, Any]:
    """PAR metrics plus the mA of colour attributes and of all other attributes, reported apart."""
    result = attribute_metrics(probabilities, labels, threshold)
    per_attribute = np.asarray(result["per_attribute_mA"])
    colour = np.array(["-Color-" in name for name in names])
    result["mA_colour"] = float(per_attribute[colour].mean()) if colour.any() else float("nan")
    result["mA_other"] = float(per_attribute[~colour].mean()) if (~colour).any() else float("nan")
    return result


def par_metrics(
    outputs: list[NetworkOutputs],
    par_test: pd.DataFrame,
    reid_attributes: pd.DataFrame,
    names: list[str],
    config: EvaluationConfig,
    peta_test: pd.DataFrame | None = None,
) -> list[dict[str, Any]]:
    """Per network: PAR metrics on PA-100K test (``par``), on UPAR-labelled Market-1501 images
    (``reid_domain_par``; ``None`` where UPAR labels none) and, where there is PETA, on its test split
    (``peta_par``)."""
    results = []
    for network in outputs:
        market = None
        if len(reid_attributes):
            market = par_summary(
                network.reid_domain_probability, reid_attributes[names].to_numpy(), names, config.threshold
            )
        result = {
            "par": par_summary(network.par_test_probability, par_test[names].to_numpy(), names, config.threshold),
            "reid_domain_par": market,
        }
        if network.peta_test_probability is not None and peta_test is not None:
            result["peta_par"] = par_summary(
                network.peta_test_probability, peta_test[names].to_numpy(), names, config.threshold
            )
        results.append(result)
    return results


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


HEADLINE = ("mAP", "rank1", "mA", "f1")


def summarise(
    bundle: ModelBundle, reid: list[dict[str, Any]], par: list[dict[str, Any]], config: EvaluationConfig
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The metrics of the variant (mean over its networks, each network's headline numbers under
    ``per_network``; the settings it was trained with under ``settings``) and the per-attribute table."""
    networks = [{"reid": r, **p} for r, p in zip(reid, par)]
    per_network = [
        {
            task: None if result[task] is None else {k: v for k, v in result[task].items() if k in HEADLINE}
            for task in ("reid", "par", "reid_domain_par", "peta_par")
            if task in result
        }
        for result in networks
    ]
    metrics = {
        "variant": bundle.variant,
        "seed": bundle.seed,
        "networks": len(networks),
        "trained_tasks": sorted(bundle.trained_tasks),
        **mean_metrics(networks),
        "per_network": per_network,
        "settings": bundle.settings,
    }
    metrics["reid"]["distance"] = config.distance
    return metrics, attribute_table(metrics, list(bundle.attributes))


HEADLINE_METRICS = {  # name (the DVC metric's too): (section of the metrics, key, label in the summary line)
    "reid_mAP": ("reid", "mAP", "mAP"),
    "reid_rank1": ("reid", "rank1", "R-1"),
    "par_mA": ("par", "mA", "PA-100K mA"),
    "par_f1": ("par", "f1", "F1"),
    "reid_domain_par_mA": ("reid_domain_par", "mA", "Market-1501 PAR mA"),
    "peta_par_mA": ("peta_par", "mA", "PETA mA"),
}


TASK_OF_SECTION = {
    "reid": "reid",
    "par": "par",
    "reid_domain_par": "par",
    "peta_par": "par",
}  # what a variant must learn for a section


def headline_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """A variant's headline numbers; the tasks it does not learn (an untrained head's numbers) are left out."""
    learned = set(metrics["trained_tasks"])
    return {
        name: float(metrics[section][key])
        for name, (section, key, _) in HEADLINE_METRICS.items()
        if TASK_OF_SECTION[section] in learned and metrics.get(section) and key in metrics[section]
    }


def summary_line(metrics: dict[str, Any]) -> str:
    """One line of a variant's headline metrics (%), one group per task."""
    groups: dict[str, list[str]] = {}
    for name, value in headline_metrics(metrics).items():
        section, _, label = HEADLINE_METRICS[name]
        groups.setdefault(section, []).append(f"{label} {100 * value:.1f}")
    return f"{metrics['variant']} seed {metrics['seed']}: " + " | ".join(", ".join(g) for g in groups.values())


def attribute_table(metrics: dict[str, Any], names: list[str]) -> pd.DataFrame:
    """Per attribute: PA-100K mA, TPR, TNR and test positives, and mA on the reID domain (UPAR's Market-1501 labels)."""
    par = metrics["par"]
    table = pd.DataFrame(
        {
            "attribute": names,
            "mA": par["per_attribute_mA"],
            "TPR": par["per_attribute_tpr"],
            "TNR": par["per_attribute_tnr"],
            "test_positives": np.round(par["per_attribute_positives"]).astype(int),
        }
    )
    market = metrics["reid_domain_par"]
    table["reid_domain_mA"] = market["per_attribute_mA"] if market else np.nan
    if metrics.get("peta_par"):
        table["peta_mA"] = metrics["peta_par"]["per_attribute_mA"]
    return table


def retrieval_examples(
    outputs: NetworkOutputs,
    query: pd.DataFrame,
    gallery: pd.DataFrame,
    reid_attributes: pd.DataFrame,
    names: list[str],
    config: EvaluationConfig,
) -> dict[str, Any]:
    """Top-k gallery items of a few queries (first network), whether each is the same identity, and the queries'
    attribute probabilities beside their UPAR ground truth where the query is labelled (``None`` elsewhere)."""
    rows = np.linspace(0, len(query) - 1, min(config.retrieval_queries, len(query))).astype(int)
    top = np.argsort(query_distances(outputs, config)[rows], axis=1)[:, : config.retrieval_top_k]
    labelled = dict(zip(reid_attributes["path"], reid_attributes[names].to_numpy())) if len(reid_attributes) else {}
    return {
        "query": rows,
        "top": top,
        "correct": gallery["pid"].to_numpy()[top] == query["pid"].to_numpy()[rows, None],
        "names": names,
        "probabilities": outputs.query["attribute_probability"][rows],
        "truth": [labelled.get(path) for path in query["path"].to_numpy()[rows]],
        "threshold": config.threshold,
    }


def evaluate_bundle(
    bundle: ModelBundle,
    images: TestImages,
    query: pd.DataFrame,
    gallery: pd.DataFrame,
    par_test: pd.DataFrame,
    reid_attributes: pd.DataFrame,
    config: EvaluationConfig,
    peta_test: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """The metrics of a bundle, all steps in one call (the paper pipeline evaluates every seed of a variant so)."""
    outputs = network_outputs(bundle, images, config.batch_size)
    reid = reid_metrics(outputs, query, gallery, config)
    par = par_metrics(outputs, par_test, reid_attributes, list(bundle.attributes), config, peta_test)
    return summarise(bundle, reid, par, config)[0]
