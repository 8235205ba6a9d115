"""Attributes and a reID embedding for image files or folders from a trained model; gallery search; ONNX export.

knowledge-assembly-infer --model data/06_models/synthetic/ka.pt a.jpg photos/ [--output out.json]
knowledge-assembly-infer --model data/06_models/synthetic/ka.pt query.jpg --gallery gallery/ --top-k 5
knowledge-assembly-infer --model data/06_models/synthetic/ka.pt a.jpg --export-onnx ka.onnx
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

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


def load_bundle_model(path: Path) -> tuple[InferenceModel, ModelBundle]:
    """The first network of a trained model bundle file, ready for inference."""
    bundle = ModelBundle.load(Path(path))
    return InferenceModel(bundle.networks()[0]).eval(), bundle


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
    """One record per image (``images`` read from ``paths``): attribute probabilities, attributes present, embedding."""
    embedding, attributes, from_reid = model(images)
    return [
        {
            "image": str(path),
            "attributes": {name: round(float(p), 6) for name, p in zip(bundle.attributes, attributes[i])},
            "present": [name for name, p in zip(bundle.attributes, attributes[i]) if p > threshold],
            "from_reid_dataset_probability": float(from_reid[i]),
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Predict attributes and reID embeddings with a trained KA model.")
    parser.add_argument("images", nargs="+", type=Path, help="image files and/or folders of images")
    parser.add_argument(
        "--model",
        type=Path,
        default=Path("data/06_models/synthetic/ka.pt"),
        help="model bundle file, or a versioned model folder (its newest run's model)",
    )
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--batch-size", type=int, default=64, help="images decoded and run at a time")
    parser.add_argument("--gallery", type=Path, help="folder of gallery images: rank them for every query image")
    parser.add_argument("--top-k", type=int, default=5, help="gallery matches per query (with --gallery)")
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        help="refuse an image whose header declares more pixels than this, before decoding it",
    )
    parser.add_argument("--output", type=Path, help="write JSON here instead of printing it")
    parser.add_argument("--export-onnx", type=Path, help="also export the model to this ONNX file and verify it")
    args = parser.parse_args(argv)
    if args.batch_size < 1 or args.top_k < 1 or args.max_pixels < 1:
        parser.error("--batch-size, --top-k and --max-pixels must be >= 1")
    if args.output is not None and args.output.is_dir():
        print(f"error: {args.output}: is a folder; --output takes a file name", file=sys.stderr)
        return 1
    try:
        model_file = bundle_file(args.model)
        model, bundle = load_bundle_model(model_file)
        paths = image_files(args.images)
        results = infer_in_batches(model, bundle, paths, args.batch_size, args.threshold, args.max_pixels)
        report: dict[str, Any] = {"model": str(model_file), "variant": bundle.variant, "results": results}
        if args.gallery:
            gallery_files = image_files([args.gallery])
            gallery = infer_in_batches(model, bundle, gallery_files, args.batch_size, args.threshold, args.max_pixels)
            for record, matches in zip(results, search_gallery(results, gallery, args.top_k)):
                record["gallery_matches"] = matches
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
    except (FileNotFoundError, RawDataError, ModelFileError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    text = json.dumps(report, indent=2)
    if args.output:
        args.output.write_text(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
