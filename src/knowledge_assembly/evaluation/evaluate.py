"""Evaluate every network of a trained bundle in steps: outputs on the test images → reID metrics and PAR
metrics (on the attribute test splits and on the reID domain), and both on the held-out images of every source
that names them (``sources.<name>.evaluation``, each in its own domain) → one summary with the per-attribute table
→ retrieval examples."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..config import PAR_SOURCE, EvaluationConfig
from ..formats.manifests import ATTRIBUTE_TESTS, MAIN_ATTRIBUTE_TEST, OTHER_ATTRIBUTE_TESTS, REID_TEST_DATASET
from ..models.bundle import ModelBundle
from ..models.prediction import predict
from .attribute_retrieval import AttributeQueries, evaluate_retrieval, top_matches
from .par_metrics import attribute_metrics
from .reid_metrics import distance_matrix, evaluate_rank


@dataclass(frozen=True)
class DomainTest:
    """A source's held-out test data (``sources.<name>.evaluation``), evaluated in that source's domain: reID query
    and gallery, and the attribute-labelled held-out images, each manifest with its decoded images."""

    query: pd.DataFrame
    gallery: pd.DataFrame
    attributes: pd.DataFrame
    query_images: np.ndarray
    gallery_images: np.ndarray
    attribute_images: np.ndarray


@dataclass(frozen=True)
class DomainOutputs:
    """One network's outputs on a source's held-out images."""

    query_features: np.ndarray
    gallery_features: np.ndarray
    attribute_probability: np.ndarray


@dataclass(frozen=True)
class TestImages:
    """Decoded test images: query, gallery, the PAR test split, the reID domain's attribute-labelled images and the
    other attribute test splits (``attribute_tests``, by manifest: :data:`OTHER_ATTRIBUTE_TESTS`; each left out or
    empty where there is none). ``sources`` names the training source of each attribute test split (by manifest),
    whose domain statistics normalise it where the bundle was trained on it.
    ``domains``: the held-out test data of every source that has some, by source; ``retrieval``: the images of the
    validation splits a UPAR retrieval gallery draws on (:func:`retrieval_images`)."""

    query: np.ndarray
    gallery: np.ndarray
    par_test: np.ndarray
    reid_attributes: np.ndarray
    attribute_tests: dict[str, np.ndarray] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    domains: dict[str, DomainTest] = field(default_factory=dict)
    retrieval: dict[str, np.ndarray] = field(default_factory=dict)  # :data:`RETRIEVAL_VAL_SPLITS` a gallery uses


@dataclass(frozen=True)
class AttributeTests:
    """The attribute test splits beside the attribute task's own (:data:`OTHER_ATTRIBUTE_TESTS`): each one's
    manifest and images by manifest; and the validation images of every attribute dataset by split, which a UPAR
    retrieval gallery may draw on (``None`` where not cached)."""

    manifests: dict[str, pd.DataFrame]
    images: dict[str, np.ndarray]
    val_images: dict[str, np.ndarray | None]


@dataclass(frozen=True)
class NetworkOutputs:
    """One network's outputs on the test images (what every metric is computed from)."""

    query: dict[str, np.ndarray]
    gallery_features: np.ndarray
    par_test_probability: np.ndarray
    reid_domain_probability: np.ndarray
    attribute_test_probability: dict[str, np.ndarray] = field(default_factory=dict)  # of TestImages.attribute_tests
    domains: dict[str, DomainOutputs] = field(default_factory=dict)
    retrieval_probability: dict[str, np.ndarray] = field(default_factory=dict)  # of ``TestImages.retrieval``


def network_outputs(bundle: ModelBundle, images: TestImages, batch_size: int) -> list[NetworkOutputs]:
    """Run every network of ``bundle`` over the test images (attribute test splits in their source's domain, or as
    PAR-domain images where the bundle was not trained on that source)."""
    test_domains = {test.manifest: bundle.domain_of(images.sources.get(test.manifest, ""), PAR_SOURCE)
                    for test in ATTRIBUTE_TESTS}  # fmt: skip
    par_domain = test_domains[MAIN_ATTRIBUTE_TEST.manifest]
    others = {name: test for name, test in images.attribute_tests.items() if test is not None and len(test)}
    val_domains = {test.val_split: test_domains[test.manifest] for test in ATTRIBUTE_TESTS}
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
                attribute_test_probability={
                    name: predict(network, test, batch_size, domain=test_domains[name])["attribute_probability"]
                    for name, test in others.items()
                },
                domains={
                    source: domain_outputs(network, test, domain_of(bundle, source, test), batch_size)
                    for source, test in images.domains.items()
                },
                retrieval_probability={
                    split: predict(network, split_images, batch_size, domain=val_domains[split])[
                        "attribute_probability"
                    ]
                    for split, split_images in images.retrieval.items()
                },
            )
        )
    return outputs


def domain_of(bundle: ModelBundle, source: str, test: DomainTest) -> int:
    """The domain whose statistics normalise ``source``'s held-out images: its own where the bundle was trained on
    it, else the first source's, or the attribute source's for a source with attribute-labelled images only."""
    return bundle.domain_of(source, 0 if len(test.query) else PAR_SOURCE)


def domain_outputs(network: Any, test: DomainTest, domain: int, batch_size: int) -> DomainOutputs:
    """A network's outputs on a source's held-out images, normalised as images of training source ``domain``."""
    query = predict(network, test.query_images, batch_size, domain=domain)
    return DomainOutputs(
        query["reid_feature"],
        predict(network, test.gallery_images, batch_size, domain=domain)["reid_feature"],
        predict(network, test.attribute_images, batch_size, domain=domain)["attribute_probability"],
    )


def query_distances(outputs: NetworkOutputs, config: EvaluationConfig) -> np.ndarray:
    return distance_matrix(outputs.query["reid_feature"], outputs.gallery_features, config.distance)


def reid_metrics(
    outputs: list[NetworkOutputs], query: pd.DataFrame, gallery: pd.DataFrame, config: EvaluationConfig
) -> list[dict[str, Any]]:
    """mAP and CMC of each network (Market-1501 protocol, see :mod:`.reid_metrics`)."""
    return [rank_metrics(query_distances(network, config), query, gallery, config) for network in outputs]


def rank_metrics(
    distances: np.ndarray, query: pd.DataFrame, gallery: pd.DataFrame, config: EvaluationConfig
) -> dict[str, Any]:
    """mAP, rank-1/5/10 and the CMC of query vs gallery from their distances."""
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
    }


def domain_metrics(
    outputs: list[NetworkOutputs], domains: dict[str, DomainTest], names: list[str], config: EvaluationConfig
) -> list[dict[str, Any]]:
    """Per network, on the held-out images of each source: reID (``<source>_reid``; where it has query and gallery)
    and PAR (``<source>_par``; where it has attribute-labelled images)."""
    results = []
    for network in outputs:
        result = {}
        for source, test in domains.items():
            out = network.domains[source]
            if len(test.query) and len(test.gallery):
                distances = distance_matrix(out.query_features, out.gallery_features, config.distance)
                result[domain_section(source, "reid")] = rank_metrics(distances, test.query, test.gallery, config)
            if len(test.attributes):
                labels = test.attributes[names].to_numpy()
                result[domain_section(source, "par")] = par_summary(
                    out.attribute_probability, labels, names, config.threshold
                )
        results.append(result)
    return results


def domain_section(source: str, task: str) -> str:
    """The metrics section of ``task`` on ``source``'s held-out images."""
    return f"{source}_{task}"


def par_summary(probabilities: np.ndarray, labels: np.ndarray, names: list[str], threshold: float) -> dict[str, Any]:
    """PAR metrics plus the mA of colour attributes and of all other attributes, reported apart."""
    result = attribute_metrics(probabilities, labels, threshold)
    per_attribute = np.asarray(result["per_attribute_mA"])
    colour = np.array(["-Color-" in name for name in names])
    result["mA_colour"] = float(per_attribute[colour].mean()) if colour.any() else float("nan")
    result["mA_other"] = float(per_attribute[~colour].mean()) if (~colour).any() else float("nan")
    return result


TEST_SPLIT_SECTIONS = {test.manifest: test.section for test in ATTRIBUTE_TESTS}  # attribute test split: its section
# the validation splits a UPAR retrieval gallery may also draw on, each with the test split of the same source
RETRIEVAL_VAL_SPLITS = {test.val_split: test.manifest for test in ATTRIBUTE_TESTS}


def retrieval_images(gallery: pd.DataFrame | None, **split_images: np.ndarray) -> dict[str, np.ndarray]:
    """The images of the :data:`RETRIEVAL_VAL_SPLITS` (``split_images``: each one's cache) that ``gallery`` (a
    UPAR retrieval pair's, from ingestion) has rows of: only those are predicted."""
    used = set() if gallery is None or gallery.empty else set(gallery["split"])
    return {split: images for split, images in split_images.items() if split in used}


def par_metrics(
    outputs: list[NetworkOutputs],
    par_test: pd.DataFrame,
    reid_attributes: pd.DataFrame,
    names: list[str],
    config: EvaluationConfig,
    attribute_tests: dict[str, pd.DataFrame] | None = None,
    retrieval_gallery: pd.DataFrame | None = None,
) -> list[dict[str, Any]]:
    """Per network: PAR metrics on the attribute task's test split (``par``), on the UPAR-labelled images of the
    reID test dataset (``reid_domain_par``; ``None`` where UPAR labels none) and on each other attribute test split
    the networks were run on (``attribute_tests``, by manifest; its section, e.g. ``peta_par``); attribute-based
    person retrieval (``retrieval``, :func:`retrieval_metrics`)."""
    results = []
    for network in outputs:
        reid_domain = None
        if len(reid_attributes):
            reid_domain = par_summary(
                network.reid_domain_probability, reid_attributes[names].to_numpy(), names, config.threshold
            )
        result = {
            "par": par_summary(network.par_test_probability, par_test[names].to_numpy(), names, config.threshold),
            "reid_domain_par": reid_domain,
            "retrieval": retrieval_metrics(network, par_test, names, retrieval_gallery),
        }
        for test in OTHER_ATTRIBUTE_TESTS:
            probability, frame = (
                network.attribute_test_probability.get(test.manifest),
                (attribute_tests or {}).get(test.manifest),
            )
            if probability is not None and frame is not None:
                result[test.section] = par_summary(probability, frame[names].to_numpy(), names, config.threshold)
        results.append(result)
    return results


def retrieval_metrics(
    network: NetworkOutputs, par_test: pd.DataFrame, names: list[str], gallery: pd.DataFrame | None
) -> dict[str, float]:
    """Attribute-based person retrieval (:mod:`.attribute_retrieval`) over the gallery of a UPAR retrieval pair
    (``gallery``: split, row, query and its vector, from ingestion) where there is one, else over the attribute
    task's test split with each of its distinct attribute vectors a query."""
    if gallery is None or gallery.empty:
        return evaluate_retrieval(
            network.par_test_probability, AttributeQueries.from_labels(par_test[names].to_numpy())
        )
    probabilities = {
        MAIN_ATTRIBUTE_TEST.manifest: network.par_test_probability,
        "reid_attributes": network.reid_domain_probability,
        **network.attribute_test_probability,
        **network.retrieval_probability,
    }
    scores = np.empty((len(gallery), len(names)), dtype=np.float32)
    rows = gallery["row"].to_numpy()
    for split, index in gallery.groupby("split").indices.items():
        scores[index] = probabilities[split][rows[index]]
    queries = AttributeQueries.from_matches(gallery["query"].to_numpy(), gallery[names].to_numpy())
    return evaluate_retrieval(scores, queries)


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
    bundle: ModelBundle,
    reid: list[dict[str, Any]],
    par: list[dict[str, Any]],
    config: EvaluationConfig,
    domains: list[dict[str, Any]] | None = None,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The metrics of the variant (mean over its networks, each network's headline numbers under
    ``per_network``; the settings it was trained with under ``settings``; the sources whose held-out images were
    evaluated under ``domains``) and the per-attribute table."""
    networks = [{"reid": r, **p, **d} for r, p, d in zip(reid, par, domains or [{}] * len(reid))]
    per_network = [
        {
            task: None if section is None else {k: v for k, v in section.items() if k in HEADLINE}
            for task, section in result.items()
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
        "domains": sorted({section.rpartition("_")[0] for section in (domains or [{}])[0]}),
        "settings": bundle.settings,
    }
    metrics["reid"]["distance"] = config.distance
    return metrics, attribute_table(metrics, list(bundle.attributes))


HEADLINE_METRICS = {  # name (the DVC metric's too): (section of the metrics, key, label in the summary line)
    "reid_mAP": ("reid", "mAP", "mAP"),
    "reid_rank1": ("reid", "rank1", "R-1"),
    "par_mA": ("par", "mA", f"{MAIN_ATTRIBUTE_TEST.dataset} mA"),
    "par_f1": ("par", "f1", "F1"),
    "reid_domain_par_mA": ("reid_domain_par", "mA", f"{REID_TEST_DATASET} PAR mA"),
    **{f"{test.section}_mA": (test.section, "mA", f"{test.dataset} mA") for test in OTHER_ATTRIBUTE_TESTS},
    "retrieval_mAP": ("retrieval", "mAP", "attribute retrieval mAP"),
}


TASK_OF_SECTION = {
    "reid": "reid",
    "par": "par",
    "reid_domain_par": "par",
    **{test.section: "par" for test in OTHER_ATTRIBUTE_TESTS},
    "retrieval": "par",
}  # what a variant must learn for a section


DOMAIN_HEADLINES = {"reid": ("mAP", "mAP"), "par": ("mA", "mA")}  # task: (key, label) on a source's held-out images


def headlines(metrics: dict[str, Any]) -> dict[str, tuple[str, str, str, str]]:
    """name: (section, key, label, task) of every headline number the metrics can hold: :data:`HEADLINE_METRICS`,
    then each evaluated source's (``<source>_reid_mAP``, ``<source>_par_mA``; label ``<source> mAP`` ...)."""
    named = {name: (*entry, TASK_OF_SECTION[entry[0]]) for name, entry in HEADLINE_METRICS.items()}
    for source in metrics.get("domains", []):
        for task, (key, label) in DOMAIN_HEADLINES.items():
            section = domain_section(source, task)
            named[f"{section}_{key}"] = (section, key, f"{source} {label}", task)
    return named


def is_headline(name: str) -> bool:
    """Whether ``name`` is a headline metric's name (a fixed one, or one of an evaluated source's)."""
    return name in HEADLINE_METRICS or name.endswith(tuple(f"_{t}_{k}" for t, (k, _) in DOMAIN_HEADLINES.items()))


def headline_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """A variant's headline numbers; the tasks it does not learn (an untrained head's numbers) are left out."""
    learned = set(metrics["trained_tasks"])
    return {
        name: float(metrics[section][key])
        for name, (section, key, _, task) in headlines(metrics).items()
        if task in learned and metrics.get(section) and key in metrics[section]
    }


def summary_line(metrics: dict[str, Any]) -> str:
    """One line of a variant's headline metrics (%), one group per section."""
    groups: dict[str, list[str]] = {}
    named = headlines(metrics)
    for name, value in headline_metrics(metrics).items():
        section, _, label, _ = named[name]
        groups.setdefault(section, []).append(f"{label} {100 * value:.1f}")
    return f"{metrics['variant']} seed {metrics['seed']}: " + " | ".join(", ".join(g) for g in groups.values())


def attribute_table(metrics: dict[str, Any], names: list[str]) -> pd.DataFrame:
    """Per attribute: mA, TPR, TNR and test positives on the attribute task's test split, mA on the reID domain
    (UPAR's labels of the reID test dataset) and on each other attribute test split evaluated."""
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
    reid_domain = metrics["reid_domain_par"]
    table["reid_domain_mA"] = reid_domain["per_attribute_mA"] if reid_domain else np.nan
    for test in OTHER_ATTRIBUTE_TESTS:
        if metrics.get(test.section):
            table[test.column] = metrics[test.section]["per_attribute_mA"]
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
    attribute probabilities beside their UPAR ground truth. The queries are spread evenly over the UPAR-labelled
    query images where the evaluation has any (else over every query; ``truth`` is ``None`` for an unlabelled one)."""
    labelled = dict(zip(reid_attributes["path"], reid_attributes[names].to_numpy())) if len(reid_attributes) else {}
    candidates = np.flatnonzero(query["path"].isin(labelled).to_numpy())
    candidates = candidates if len(candidates) else np.arange(len(query))
    rows = candidates[np.linspace(0, len(candidates) - 1, min(config.retrieval_queries, len(candidates))).astype(int)]
    top = np.argsort(query_distances(outputs, config)[rows], axis=1)[:, : config.retrieval_top_k]
    return {
        "query": rows,
        "top": top,
        "correct": gallery["pid"].to_numpy()[top] == query["pid"].to_numpy()[rows, None],
        "names": names,
        "probabilities": outputs.query["attribute_probability"][rows],
        "truth": [labelled.get(path) for path in query["path"].to_numpy()[rows]],
        "threshold": config.threshold,
    }


def attribute_retrieval_examples(
    outputs: NetworkOutputs, par_test: pd.DataFrame, names: list[str], config: EvaluationConfig
) -> dict[str, Any]:
    """The most common attribute vectors of the PAR test split as queries, each with its top-k test images by the
    first network's log-likelihood and whether each image is labelled with exactly that vector."""
    queries = AttributeQueries.from_labels(par_test[names].to_numpy())
    common = np.argsort(-np.bincount(queries.match_of), kind="stable")[: config.retrieval_queries]
    every = np.ones(len(names), dtype=bool)
    top_k = min(config.retrieval_top_k, len(par_test))
    top = np.stack([top_matches(outputs.par_test_probability, queries.vectors[q], every, top_k)[0] for q in common])
    return {"vectors": queries.vectors[common], "top": top, "correct": queries.match_of[top] == common[:, None],
            "names": names}  # fmt: skip


def evaluate_bundle(
    bundle: ModelBundle,
    images: TestImages,
    query: pd.DataFrame,
    gallery: pd.DataFrame,
    par_test: pd.DataFrame,
    reid_attributes: pd.DataFrame,
    config: EvaluationConfig,
    attribute_tests: dict[str, pd.DataFrame] | None = None,
    retrieval_gallery: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """The metrics of a bundle, all steps in one call (the cross_domain pipeline evaluates each of its runs so)."""
    outputs = network_outputs(bundle, images, config.batch_size)
    reid = reid_metrics(outputs, query, gallery, config)
    names = list(bundle.attributes)
    par = par_metrics(outputs, par_test, reid_attributes, names, config, attribute_tests, retrieval_gallery)
    domains = domain_metrics(outputs, images.domains, list(bundle.attributes), config)
    return summarise(bundle, reid, par, config, domains)[0]
