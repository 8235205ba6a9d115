"""Evaluate every network of a trained bundle from the evaluation entries (``params:evaluation.entries``: task,
source, split, protocol): outputs on the held-out images of every source → one metrics section per entry, keyed by
it (``reid/market1501``, ``par/pa100k`` ...) → one summary with the per-attribute table → retrieval examples.
A source's held-out images are normalised in its own domain where the bundle was trained on it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..config import PAR_SOURCE, EvaluationConfig, EvaluationEntry
from ..models.bundle import ModelBundle
from ..models.prediction import predict
from ..tasks import PROTOCOLS
from .attribute_retrieval import AttributeQueries, evaluate_retrieval, top_matches
from .par_metrics import attribute_metrics
from .reid_metrics import distance_matrix, evaluate_rank


@dataclass(frozen=True)
class HeldOut:
    """A source's held-out test data (``sources.<name>.evaluation``), by split (query, gallery, attributes): its
    manifest's catalog name, the manifest and its decoded images."""

    names: dict[str, str]
    manifests: dict[str, pd.DataFrame]
    images: dict[str, np.ndarray]

    def has(self, split: str) -> bool:
        return split in self.manifests and len(self.manifests[split]) > 0

    def labels(self, split: str, names: list[str]) -> np.ndarray:
        return self.manifests[split][names].to_numpy()


@dataclass(frozen=True)
class NetworkOutputs:
    """One network's outputs (``predict``'s: ``reid_feature``, ``attribute_probability`` ...) on the held-out
    images, by source and split; ``retrieval``: attribute probabilities of the validation splits a UPAR retrieval
    gallery draws on, by split."""

    splits: dict[str, dict[str, dict[str, np.ndarray]]]
    retrieval: dict[str, np.ndarray] = field(default_factory=dict)

    def of(self, source: str, split: str, output: str) -> np.ndarray:
        return self.splits[source][split][output]


def evaluated_splits(entries: dict[str, EvaluationEntry], data: dict[str, HeldOut]) -> dict[str, set[str]]:
    """The held-out splits the entries read that have images, by source."""
    splits: dict[str, set[str]] = {}
    for entry in entries.values():
        if entry.source in data:
            splits.setdefault(entry.source, set()).update(s for s in entry.splits if data[entry.source].has(s))
    return splits


def domain_of(bundle: ModelBundle, source: str, held_out: HeldOut) -> int:
    """The domain whose statistics normalise ``source``'s held-out images: its own where the bundle was trained on
    it, else the first source's for a source with reID queries (camera images), else the attribute source's."""
    return bundle.domain_of(source, 0 if held_out.has("query") else PAR_SOURCE)


def network_outputs(
    bundle: ModelBundle,
    data: dict[str, HeldOut],
    entries: dict[str, EvaluationEntry],
    batch_size: int,
    retrieval: dict[str, tuple[str, np.ndarray]] | None = None,
    gallery_manifests: frozenset[str] = frozenset(),
) -> list[NetworkOutputs]:
    """Run every network of ``bundle`` over the held-out splits the entries read, each source's in its domain;
    ``retrieval``: split -> (its source, its images), the validation splits a UPAR retrieval gallery draws on;
    ``gallery_manifests``: the held-out manifests that gallery draws on (predicted too where no entry reads them)."""
    splits = evaluated_splits(entries, data)
    for source, held_out in data.items():
        used = {split for split, name in held_out.names.items() if name in gallery_manifests and held_out.has(split)}
        if used:
            splits.setdefault(source, set()).update(used)
    domains = {source: domain_of(bundle, source, held_out) for source, held_out in data.items()}
    outputs = []
    for network in bundle.networks():
        outputs.append(
            NetworkOutputs(
                {
                    source: {
                        split: predict(network, data[source].images[split], batch_size, domain=domains[source])
                        for split in sorted(read)
                    }
                    for source, read in splits.items()
                },
                {
                    split: predict(network, images, batch_size, domain=bundle.domain_of(source, PAR_SOURCE))[
                        "attribute_probability"
                    ]
                    for split, (source, images) in (retrieval or {}).items()
                },
            )
        )
    return outputs


def rank_metrics(
    distances: np.ndarray, query: pd.DataFrame, gallery: pd.DataFrame, config: EvaluationConfig
) -> dict[str, Any]:
    """mAP, rank-1/5/10 and the CMC of query vs gallery from their distances (see :mod:`.reid_metrics`)."""
    cmc, mean_ap = evaluate_rank(
        distances,
        query["pid"].to_numpy(),
        gallery["pid"].to_numpy(),
        query["camid"].to_numpy(),
        gallery["camid"].to_numpy(),
        config.max_rank,
    )
    return {
        "mAP": mean_ap,
        "rank1": float(cmc[0]),
        "rank5": float(cmc[min(4, len(cmc) - 1)]),
        "rank10": float(cmc[min(9, len(cmc) - 1)]),
        "cmc": cmc.tolist(),
        "distance": config.distance,
    }


def par_summary(probabilities: np.ndarray, labels: np.ndarray, names: list[str], threshold: float) -> dict[str, Any]:
    """PAR metrics plus the mA of colour attributes and of all other attributes, reported apart."""
    result = attribute_metrics(probabilities, labels, threshold)
    per_attribute = np.asarray(result["per_attribute_mA"])
    colour = np.array(["-Color-" in name for name in names])
    result["mA_colour"] = float(per_attribute[colour].mean()) if colour.any() else float("nan")
    result["mA_other"] = float(per_attribute[~colour].mean()) if (~colour).any() else float("nan")
    return result


@dataclass(frozen=True)
class EvaluationData:
    """What every entry's metrics are computed from: the held-out data by source, the attribute names, the
    evaluation settings and the gallery of a UPAR retrieval pair (empty without one)."""

    held_out: dict[str, HeldOut]
    names: list[str]
    config: EvaluationConfig
    retrieval_gallery: pd.DataFrame | None = None


def query_distances(network: NetworkOutputs, entry: EvaluationEntry, config: EvaluationConfig) -> np.ndarray:
    """Distances of a reID entry's query features to its gallery's (query x gallery)."""
    query, gallery = (
        network.of(entry.source, "query", "reid_feature"),
        network.of(entry.source, "gallery", "reid_feature"),
    )
    return distance_matrix(query, gallery, config.distance)


def cross_camera(network: NetworkOutputs, entry: EvaluationEntry, data: EvaluationData) -> dict[str, Any]:
    held_out = data.held_out[entry.source]
    distances = query_distances(network, entry, data.config)
    return rank_metrics(distances, held_out.manifests["query"], held_out.manifests["gallery"], data.config)


def attributes(network: NetworkOutputs, entry: EvaluationEntry, data: EvaluationData) -> dict[str, Any]:
    return par_summary(
        network.of(entry.source, entry.split, "attribute_probability"),
        data.held_out[entry.source].labels(entry.split, data.names),
        data.names,
        data.config.threshold,
    )


def attribute_retrieval(network: NetworkOutputs, entry: EvaluationEntry, data: EvaluationData) -> dict[str, float]:
    """Attribute-based person retrieval (:mod:`.attribute_retrieval`) over the gallery of a UPAR retrieval pair
    (split, row, query and its vector, from ingestion) where there is one, else over the entry's images with each
    of their distinct attribute vectors a query."""
    gallery = data.retrieval_gallery
    if gallery is None or gallery.empty:
        probability = network.of(entry.source, entry.split, "attribute_probability")
        labels = data.held_out[entry.source].labels(entry.split, data.names)
        return evaluate_retrieval(probability, AttributeQueries.from_labels(labels))
    probabilities = {**manifest_probabilities(network, data.held_out), **network.retrieval}
    scores = np.empty((len(gallery), len(data.names)), dtype=np.float32)
    rows = gallery["row"].to_numpy()
    for split, index in gallery.groupby("split").indices.items():
        scores[index] = probabilities[split][rows[index]]
    queries = AttributeQueries.from_matches(gallery["query"].to_numpy(), gallery[data.names].to_numpy())
    return evaluate_retrieval(scores, queries)


def manifest_probabilities(network: NetworkOutputs, held_out: dict[str, HeldOut]) -> dict[str, np.ndarray]:
    """The network's attribute probabilities on every predicted held-out split, by its manifest's catalog name."""
    return {
        held_out[source].names[split]: outputs["attribute_probability"]
        for source, splits in network.splits.items()
        for split, outputs in splits.items()
    }


MEASURE = {"cross_camera": cross_camera, "attributes": attributes, "attribute_retrieval": attribute_retrieval}


def entry_metrics(
    outputs: list[NetworkOutputs], entries: dict[str, EvaluationEntry], data: EvaluationData
) -> list[dict[str, Any]]:
    """Per network, the metrics of every entry whose source has images of the split it reads (reID: query and
    gallery), keyed by the entry."""
    splits = evaluated_splits(entries, data.held_out)
    evaluated = {key: entry for key, entry in entries.items() if set(entry.splits) <= splits.get(entry.source, set())}
    return [
        {key: MEASURE[entry.protocol](network, entry, data) for key, entry in evaluated.items()} for network in outputs
    ]


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


def summarise(
    bundle: ModelBundle, networks: list[dict[str, Any]], entries: dict[str, EvaluationEntry]
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The metrics of the variant: each entry's section (mean over its networks), each network's headline numbers
    under ``per_network``, the evaluated entries under ``entries`` (what the reports derive their columns from)
    and the settings it was trained with under ``settings``; and the per-attribute table."""
    evaluated = {key: entries[key] for key in networks[0]}
    per_network = [
        {key: {m: section[m] for m in evaluated[key].headline_measures} for key, section in result.items()}
        for result in networks
    ]
    metrics = {
        "variant": bundle.variant,
        "seed": bundle.seed,
        "networks": len(networks),
        "trained_tasks": sorted(bundle.trained_tasks),
        **mean_metrics(networks),
        "per_network": per_network,
        "entries": entries_block(evaluated),
        "settings": bundle.settings,
    }
    return metrics, attribute_table(metrics, list(bundle.attributes))


def entries_block(entries: dict[str, EvaluationEntry]) -> dict[str, dict[str, Any]]:
    """The ``entries`` block of a metrics file: each entry's fields with its headline and table measures."""
    return {
        key: {**entry.as_dict(), "headline": list(entry.headline_measures), "table": list(entry.table)}
        for key, entry in entries.items()
    }


def legacy_sections(entries: dict[str, EvaluationEntry]) -> dict[str, str]:
    """entry -> the section its metrics had in a metrics file written before evaluation entries: the first
    cross_camera entry's was ``reid``, the first attributes entry's ``par``, the first attribute_retrieval entry's
    ``retrieval``, the attributes entry on the first reID entry's source ``reid_domain_par``, any other entry's
    ``<source>_reid`` (cross_camera) or ``<source>_par`` (attributes)."""
    firsts = {"cross_camera": "reid", "attributes": "par", "attribute_retrieval": "retrieval"}
    sections, reid_source = {}, None
    for key, entry in entries.items():
        if entry.protocol in firsts:
            sections[key] = firsts.pop(entry.protocol)
            reid_source = entry.source if sections[key] == "reid" else reid_source
        elif (
            entry.protocol == "attributes"
            and entry.source == reid_source
            and "reid_domain_par" not in sections.values()
        ):
            sections[key] = "reid_domain_par"
        elif entry.protocol != "attribute_retrieval":
            sections[key] = f"{entry.source}_{'reid' if entry.protocol == 'cross_camera' else 'par'}"
    return sections


def with_entries(metrics: dict[str, Any], entries: dict[str, EvaluationEntry]) -> dict[str, Any]:
    """``metrics`` keyed by evaluation entry: as written, or, from a file written before evaluation entries, its
    sections renamed to the configured ``entries`` they were (:func:`legacy_sections`), the missing ones left out."""
    if "entries" in metrics:
        return metrics
    found = {key: old for key, old in legacy_sections(entries).items() if metrics.get(old)}
    upgraded = {name: value for name, value in metrics.items() if name not in found.values()}
    upgraded |= {key: metrics[old] for key, old in found.items()}
    upgraded["per_network"] = [
        {key: network[old] for key, old in found.items() if network.get(old)}
        for network in metrics.get("per_network", [])
    ]
    upgraded["entries"] = entries_block({key: entries[key] for key in found})
    return upgraded


def entries_of(metrics: dict[str, Any], protocol: str | None = None) -> dict[str, dict[str, Any]]:
    """The entries evaluated in ``metrics`` (of ``protocol``), in configuration order."""
    entries = metrics.get("entries", {})
    return {key: entry for key, entry in entries.items() if protocol in (None, entry["protocol"])}


def shown_entries(metrics: dict[str, Any], protocol: str) -> list[str]:
    """The entries of ``protocol`` the figures show: those the tables show, else every one evaluated."""
    entries = entries_of(metrics, protocol)
    return [key for key, entry in entries.items() if entry["table"]] or list(entries)


def headlines(metrics: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    """name: (entry, measure, task) of every headline number of the metrics, named ``<entry>/<measure>`` (e.g.
    ``reid/market1501/mAP``; a DVC metric of that path)."""
    return {
        f"{key}/{measure}": (key, measure, entry["task"])
        for key, entry in entries_of(metrics).items()
        for measure in entry["headline"]
    }


def is_headline(name: str) -> bool:
    """Whether ``name`` is a headline metric's name (``<entry>/<measure>``)."""
    parts = name.split("/")
    return len(parts) == 3 and all(parts) and any(parts[2] in p.measures for p in PROTOCOLS.values())


def measure_label(name: str) -> str:
    """The label of a headline metric's measure (``R-1`` for ``.../rank1``)."""
    measure = name.rpartition("/")[2]
    return next(p.measures[measure] for p in PROTOCOLS.values() if measure in p.measures)


def headline_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """A variant's headline numbers; the tasks it does not learn (an untrained head's numbers) are left out."""
    learned = set(metrics["trained_tasks"])
    return {
        name: float(metrics[key][measure])
        for name, (key, measure, task) in headlines(metrics).items()
        if task in learned and metrics.get(key) and measure in metrics[key]
    }


def summary_line(metrics: dict[str, Any]) -> str:
    """One line of a variant's headline metrics (%), one group per entry: ``reid/market1501 mAP 83.4, R-1 83.8``."""
    groups: dict[str, list[str]] = {}
    for name, value in headline_metrics(metrics).items():
        key = name.rpartition("/")[0]
        groups.setdefault(key, []).append(f"{measure_label(name)} {100 * value:.1f}")
    parts = (f"{key} " + ", ".join(values) for key, values in groups.items())
    return f"{metrics['variant']} seed {metrics['seed']}: " + " | ".join(parts)


def attribute_table(metrics: dict[str, Any], names: list[str]) -> pd.DataFrame:
    """Per attribute, on each attribute entry's images: mA, TPR, TNR and positives (columns ``<entry> mA`` ...)."""
    table = pd.DataFrame({"attribute": names})
    for key in entries_of(metrics, "attributes"):
        section = metrics[key]
        table[f"{key} mA"] = section["per_attribute_mA"]
        table[f"{key} TPR"] = section["per_attribute_tpr"]
        table[f"{key} TNR"] = section["per_attribute_tnr"]
        table[f"{key} positives"] = np.round(section["per_attribute_positives"]).astype(int)
    return table


def report_entry(entries: dict[str, EvaluationEntry], protocol: str) -> tuple[str, EvaluationEntry]:
    """The entry of ``protocol`` the figures show: the first that the tables show, else the first."""
    chosen = [(key, entry) for key, entry in entries.items() if entry.protocol == protocol]
    return next(((key, entry) for key, entry in chosen if entry.table), chosen[0])


def retrieval_examples(
    outputs: NetworkOutputs, data: EvaluationData, entries: dict[str, EvaluationEntry]
) -> dict[str, Any]:
    """Top-k gallery items of a few queries (first network) of the reID entry the figures show (with their images),
    whether each is the same identity, and the queries' attribute probabilities beside their ground truth (the
    source's held-out attribute labels). The queries are spread evenly over the attribute-labelled query images
    where there are any (else over every query; ``truth`` is ``None`` for an unlabelled one)."""
    key, entry = report_entry(entries, "cross_camera")
    held_out, config, names = data.held_out[entry.source], data.config, data.names
    query, gallery = held_out.manifests["query"], held_out.manifests["gallery"]
    labelled = (
        dict(zip(held_out.manifests["attributes"]["path"], held_out.labels("attributes", names)))
        if held_out.has("attributes")
        else {}
    )
    candidates = np.flatnonzero(query["path"].isin(labelled).to_numpy())
    candidates = candidates if len(candidates) else np.arange(len(query))
    rows = candidates[np.linspace(0, len(candidates) - 1, min(config.retrieval_queries, len(candidates))).astype(int)]
    top = np.argsort(query_distances(outputs, entry, config)[rows], axis=1)[:, : config.retrieval_top_k]
    return {
        "entry": key,
        "query": rows,
        "top": top,
        "query_images": np.asarray(held_out.images["query"][rows]),
        "top_images": np.asarray(held_out.images["gallery"][top]),
        "correct": gallery["pid"].to_numpy()[top] == query["pid"].to_numpy()[rows, None],
        "names": names,
        "probabilities": outputs.of(entry.source, "query", "attribute_probability")[rows],
        "truth": [labelled.get(path) for path in query["path"].to_numpy()[rows]],
        "threshold": config.threshold,
    }


def attribute_retrieval_examples(
    outputs: NetworkOutputs, data: EvaluationData, entries: dict[str, EvaluationEntry]
) -> dict[str, Any]:
    """The most common attribute vectors of the attribute entry the figures show as queries, each with its top-k
    images (and their pixels) by the first network's log-likelihood and whether each image is labelled with exactly
    that vector."""
    key, entry = report_entry(entries, "attributes")
    names, config = data.names, data.config
    queries = AttributeQueries.from_labels(data.held_out[entry.source].labels(entry.split, names))
    probability = outputs.of(entry.source, entry.split, "attribute_probability")
    common = np.argsort(-np.bincount(queries.match_of), kind="stable")[: config.retrieval_queries]
    every = np.ones(len(names), dtype=bool)
    top_k = min(config.retrieval_top_k, len(probability))
    top = np.stack([top_matches(probability, queries.vectors[q], every, top_k)[0] for q in common])
    return {"entry": key, "vectors": queries.vectors[common], "top": top,
            "top_images": np.asarray(data.held_out[entry.source].images[entry.split][top]),
            "correct": queries.match_of[top] == common[:, None], "names": names}  # fmt: skip


def evaluate_bundle(
    bundle: ModelBundle,
    data: EvaluationData,
    entries: dict[str, EvaluationEntry],
    retrieval: dict[str, tuple[str, np.ndarray]] | None = None,
) -> dict[str, Any]:
    """The metrics of a bundle, all steps in one call (the cross_domain pipeline evaluates each of its runs so)."""
    outputs = network_outputs(
        bundle, data.held_out, entries, data.config.batch_size, retrieval, gallery_manifests(data.retrieval_gallery)
    )
    return summarise(bundle, entry_metrics(outputs, entries, data), entries)[0]


def gallery_manifests(gallery: pd.DataFrame | None) -> frozenset[str]:
    """The manifests a UPAR retrieval pair's gallery draws on (none without a pair)."""
    return frozenset() if gallery is None or gallery.empty else frozenset(gallery["split"])
