"""Attributes and a reID embedding for image files or folders from a trained model; gallery search; ONNX export.

knowledge-assembly-infer --model data/06_models/synthetic/ka.pt a.jpg photos/ [--domain pa100k]
knowledge-assembly-infer --model data/06_models/synthetic/ka.pt a.jpg --json --embedding [--output out.json]
knowledge-assembly-infer --model data/06_models/synthetic/ka.pt query.jpg --gallery gallery/ --top-k 5
knowledge-assembly-infer --model ka.pt --gallery gallery/ --attributes "Gender-Female,-Accessory-Hat" --top-k 10
knowledge-assembly-infer --model data/06_models/synthetic/ka.pt a.jpg --export-onnx ka.onnx

A table per image by default (attribute, probability, present); ``--json`` (or ``--output``) for scripts, with the
embeddings only when ``--embedding`` asks for them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .evaluation.attribute_retrieval import parse_query, top_matches
from .files import ModelFileError, latest_version
from .formats.errors import RawDataError
from .formats.images import DEFAULT_MAX_PIXELS, decode_resized
from .models.bundle import ModelBundle
from .models.prediction import InferenceModel
from .models.preprocessing import to_float


def bundle_file(path: Path) -> Path:
    """``path``, or, for a Kedro-versioned model folder such as ``data/06_models/synthetic/ka.pt``, its newest
    version's file."""
    if not Path(path).exists():
        raise FileNotFoundError(f"{path}: model bundle not found; train with `kedro run --pipelines=ka` first")
    return latest_version(Path(path))


def load_bundle_model(path: Path, domain: str | None = None) -> tuple[InferenceModel, ModelBundle]:
    """The first network of a trained model bundle file, ready for inference on images of ``domain`` (a training
    source or an adapted camera; default: the first source)."""
    bundle = ModelBundle.load(Path(path))
    if domain is not None and domain not in bundle.domains:
        raise ModelFileError(path, f"has no domain {domain!r}; its domains: {', '.join(bundle.domains)}")
    return InferenceModel(bundle.networks()[0], bundle.domain_of(domain or "")).eval(), bundle


NEAR_CHANCE_MA = 0.60  # PAR validation mA at or below this: the attributes are barely better than chance


def attribute_warning(bundle: ModelBundle, domain: str) -> str | None:
    """A one-line warning where the model's attributes cannot be trusted on images of ``domain``."""
    if "par" not in bundle.trained_tasks:
        return f"warning: {bundle.variant} was not trained for attributes; its attribute outputs are meaningless"
    score = bundle.par_validation.get(domain)
    if score is not None and score <= NEAR_CHANCE_MA:
        return (
            f"warning: attributes on domain {domain} are near chance (PAR validation mA {100 * score:.1f}%); "
            "train with per-source BatchNorm (ka, mtl) or adapt to this camera (knowledge-assembly-adapt)"
        )
    return None


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def image_files(inputs: list[Path]) -> list[Path]:
    """The image files named, and those in (the sub-folders of) the folders named, sorted per folder."""
    files: list[Path] = []
    for path in inputs:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise FileNotFoundError(f"{path}: no image files ({', '.join(IMAGE_SUFFIXES)}) in this folder")
            files += found
        else:
            files.append(path)
    return files


def read_images(paths: list[Path], size: tuple[int, int], max_pixels: int = DEFAULT_MAX_PIXELS) -> torch.Tensor:
    """Decode and resize image files to the model's input size: ``(N, 3, H, W)`` in [0, 1]; an image whose header
    declares more than ``max_pixels`` is refused before it is decoded."""
    return to_float(np.stack([decode_resized(Path(path), size, max_pixels) for path in paths]))


@torch.no_grad()
def infer(
    model: InferenceModel, bundle: ModelBundle, paths: list[Path], images: torch.Tensor, threshold: float = 0.5
) -> list[dict[str, Any]]:
    """One record per image (``images`` read from ``paths``): attribute probabilities, attributes present, the
    probability of each training source, embedding."""
    embedding, attributes, source = model(images)
    first = source.dim() == 1  # two sources: the probability of the first
    sources = bundle.domains[: bundle.num_sources]
    source = torch.stack([source, 1 - source], 1) if first else source
    return [
        {
            "image": str(path),
            "attributes": {name: round(float(p), 6) for name, p in zip(bundle.attributes, attributes[i])},
            "present": [name for name, p in zip(bundle.attributes, attributes[i]) if p > threshold],
            "source_probability": {name: round(float(p), 6) for name, p in zip(sources, source[i])},
            "embedding": [float(v) for v in embedding[i]],
        }
        for i, path in enumerate(paths)
    ]


def infer_in_batches(
    model: InferenceModel,
    bundle: ModelBundle,
    paths: list[Path],
    batch_size: int,
    threshold: float,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> list[dict[str, Any]]:
    """:func:`infer` over ``paths``, ``batch_size`` images decoded at a time (memory bounded by the batch)."""
    records: list[dict[str, Any]] = []
    for start in range(0, len(paths), batch_size):
        batch = paths[start : start + batch_size]
        records += infer(model, bundle, batch, read_images(batch, bundle.image_size, max_pixels), threshold)
    return records


def search_gallery(
    queries: list[dict[str, Any]], gallery: list[dict[str, Any]], top_k: int
) -> list[list[dict[str, Any]]]:
    """Per query record, the ``top_k`` gallery records closest by cosine distance of the reID embeddings."""
    query = torch.nn.functional.normalize(torch.tensor([r["embedding"] for r in queries]), dim=1)
    items = torch.nn.functional.normalize(torch.tensor([r["embedding"] for r in gallery]), dim=1)
    distance = 1.0 - query @ items.T
    nearest = distance.topk(min(top_k, len(gallery)), dim=1, largest=False)
    return [
        [{"image": gallery[j]["image"], "distance": round(float(d), 6)} for d, j in zip(row_d, row_j.tolist())]
        for row_d, row_j in zip(nearest.values, nearest.indices)
    ]


class AttributeQueryError(ValueError):
    """``--attributes`` names no attribute, an unknown one or one twice."""


def attribute_query(text: str, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The query vector and the attributes it names, of an ``--attributes`` text."""
    try:
        return parse_query(text, names)
    except ValueError as err:
        raise AttributeQueryError(f"--attributes {text!r}: {err}") from None


def rank_by_attributes(
    text: str, query: tuple[np.ndarray, np.ndarray], gallery: list[dict[str, Any]], bundle: ModelBundle, top_k: int
) -> dict[str, Any]:
    """The ``top_k`` gallery images most likely to have the attributes of ``query`` (log-likelihood of the named
    attributes under the PAR head's probabilities)."""
    probabilities = np.array([[record["attributes"][name] for name in bundle.attributes] for record in gallery])
    rows, scores = top_matches(probabilities.reshape(len(gallery), -1), *query, top_k)
    return {
        "attributes": text,
        "matches": [{"image": gallery[r]["image"], "log_likelihood": round(float(s), 6)} for r, s in zip(rows, scores)],
    }


ONNX_TOLERANCE = 1e-5  # max abs difference of ONNX Runtime's outputs from PyTorch's


def export_onnx(model: InferenceModel, example: torch.Tensor, path: Path) -> float:
    """Export to ONNX (dynamic batch) and check it against PyTorch with onnxruntime on ``example`` (one image or
    more); returns the max abs difference.

    The graph is traced on at least two images: torch.export specialises a dimension of size 1 to a constant,
    which a batch of one would make contradict the dynamic batch dimension."""
    import onnxruntime

    path.parent.mkdir(parents=True, exist_ok=True)
    traced = example if len(example) > 1 else example.expand(2, *example.shape[1:]).contiguous()
    torch.onnx.export(
        model,
        (traced,),
        str(path),
        input_names=["images"],
        output_names=["embedding", "attributes", "from_reid_dataset"],
        dynamic_shapes={"images": {0: torch.export.Dim("batch", min=1, max=1024)}},
        dynamo=True,
        verbose=False,
    )
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    exported = session.run(None, {"images": example.numpy()})
    with torch.no_grad():
        reference = [t.numpy() for t in model(example)]
    return max(float(np.abs(a - b).max()) for a, b in zip(exported, reference))


def attribute_table(record: dict[str, Any], threshold: float) -> str:
    """One image's attributes as a Markdown table, most likely first."""
    rows = sorted(record["attributes"].items(), key=lambda item: -item[1])
    frame = pd.DataFrame(
        [(name, round(p, 3), "yes" if p > threshold else "") for name, p in rows],
        columns=["attribute", "probability", "present"],
    )
    return frame.to_markdown(index=False)


def readable_report(report: dict[str, Any], threshold: float) -> str:
    """The report as text: per image its present attributes, the attribute table and any gallery matches."""
    blocks = [f"model {report['model']} ({report['variant']}), domain {report['domain']}"]
    for record in report["results"]:
        present = ", ".join(record["present"]) or "none"
        block = [f"## {record['image']}", f"present: {present}", "", attribute_table(record, threshold)]
        if "gallery_matches" in record:
            matches = pd.DataFrame(record["gallery_matches"]).rename_axis("rank")
            matches.index += 1
            block += ["", "gallery matches:", "", matches.to_markdown()]
        blocks.append("\n".join(block))
    if "attribute_query" in report:
        matches = pd.DataFrame(report["attribute_query"]["matches"]).rename_axis("rank")
        matches.index += 1
        blocks.append(f"## gallery images for {report['attribute_query']['attributes']}\n\n{matches.to_markdown()}")
    if "onnx" in report:
        onnx = report["onnx"]
        blocks.append(f"ONNX: {onnx['path']} (max abs difference from PyTorch {onnx['max_abs_difference']:.2g})")
    return "\n\n".join(blocks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Predict attributes and reID embeddings with a trained KA model.")
    parser.add_argument("images", nargs="*", type=Path, help="image files and/or folders of images")
    parser.add_argument(
        "--model",
        type=Path,
        default=Path("data/06_models/synthetic/ka.pt"),
        help="model bundle file, or a versioned model folder (its newest run's model)",
    )
    parser.add_argument(
        "--domain", help="whose BatchNorm statistics read the images: a training source or an adapted camera "
        "(default: the first training source)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print JSON (for scripts) instead of tables")
    parser.add_argument("--embedding", action="store_true", help="include each image's reID embedding (JSON)")
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--batch-size", type=int, default=64, help="images decoded and run at a time")
    parser.add_argument("--gallery", type=Path, help="folder of gallery images: rank them for every query image")
    parser.add_argument("--top-k", type=int, default=5, help="gallery matches per query (with --gallery)")
    parser.add_argument(
        "--attributes", help='with --gallery: rank the gallery for a description, e.g. "Gender-Female,Accessory-Bag"'
        " (a - before a name: absent; unnamed attributes do not count)",
    )  # fmt: skip
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        help="refuse an image whose header declares more pixels than this, before decoding it",
    )
    parser.add_argument("--output", type=Path, help="write the JSON report here instead of printing a table")
    parser.add_argument("--export-onnx", type=Path, help="also export the model to this ONNX file and verify it")
    args = parser.parse_args(argv)
    if args.batch_size < 1 or args.top_k < 1 or args.max_pixels < 1:
        parser.error("--batch-size, --top-k and --max-pixels must be >= 1")
    if args.attributes is not None and args.gallery is None:
        parser.error("--attributes ranks a gallery: give --gallery DIR")
    if not args.images and args.attributes is None:
        parser.error("give image files or folders (or --gallery DIR --attributes ...)")
    if args.output is not None and args.output.is_dir():
        print(f"error: {args.output}: is a folder; --output takes a file name", file=sys.stderr)
        return 1
    try:
        model_file = bundle_file(args.model)
        model, bundle = load_bundle_model(model_file, args.domain)
        domain = bundle.domains[model.domain]
        query = None if args.attributes is None else attribute_query(args.attributes, list(bundle.attributes))
        paths = image_files(args.images) if args.images else []
        results = infer_in_batches(model, bundle, paths, args.batch_size, args.threshold, args.max_pixels)
        report: dict[str, Any] = {
            "model": str(model_file), "variant": bundle.variant, "domain": domain, "results": results
        }  # fmt: skip
        if args.gallery:
            gallery_files = image_files([args.gallery])
            gallery = infer_in_batches(model, bundle, gallery_files, args.batch_size, args.threshold, args.max_pixels)
            for record, matches in zip(results, search_gallery(results, gallery, args.top_k) if results else []):
                record["gallery_matches"] = matches
            if query is not None:
                report["attribute_query"] = rank_by_attributes(args.attributes, query, gallery, bundle, args.top_k)
        if args.export_onnx:
            example = read_images(paths[: args.batch_size], bundle.image_size, args.max_pixels)
            difference = export_onnx(model, example, args.export_onnx)
            weights = args.export_onnx.with_name(args.export_onnx.name + ".data")  # ONNX external data
            report["onnx"] = {
                "path": str(args.export_onnx),
                "weights": str(weights) if weights.exists() else None,
                "max_abs_difference": difference,
                "matches": difference < ONNX_TOLERANCE,
            }
            if difference >= ONNX_TOLERANCE:
                raise RuntimeError(f"{args.export_onnx}: ONNX outputs differ from PyTorch by {difference:.3g}")
    except (FileNotFoundError, RawDataError, ModelFileError, RuntimeError, AttributeQueryError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    warning = attribute_warning(bundle, domain)
    if warning:
        print(warning, file=sys.stderr)
    if not args.embedding:
        for record in results:
            del record["embedding"]
    text = json.dumps(report, indent=2)
    if args.output:
        args.output.write_text(text)
    else:
        print(text if args.json else readable_report(report, args.threshold))
    return 0


if __name__ == "__main__":
    sys.exit(main())
