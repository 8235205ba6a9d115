"""Attributes and a reID embedding for image files from a trained model; ONNX export.

knowledge-assembly-infer --model data/06_models/synthetic/ka.pt a.jpg b.jpg [--output out.json]
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

from .files import ModelFileError
from .formats.errors import RawDataError
from .formats.images import decode_resized
from .models.bundle import ModelBundle
from .models.prediction import InferenceModel
from .models.preprocessing import to_float


def load_bundle_model(path: Path) -> tuple[InferenceModel, ModelBundle]:
    """The first network of a trained model bundle, ready for inference."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: model bundle not found; train with `kedro run --pipelines=ka` first")
    bundle = ModelBundle.load(Path(path))
    return InferenceModel(bundle.networks()[0]).eval(), bundle


def read_images(paths: list[Path], size: tuple[int, int]) -> torch.Tensor:
    """Decode and resize image files to the model's input size: ``(N, 3, H, W)`` in [0, 1]."""
    return to_float(np.stack([decode_resized(Path(path), size) for path in paths]))


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


def export_onnx(model: InferenceModel, example: torch.Tensor, path: Path) -> float:
    """Export to ONNX (dynamic batch) and check it against PyTorch with onnxruntime; returns the max abs difference."""
    import onnxruntime

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model,
        (example,),
        str(path),
        input_names=["images"],
        output_names=["embedding", "attributes", "from_reid_dataset"],
        dynamic_shapes={"images": {0: torch.export.Dim("batch", min=1, max=1024)}},
        dynamo=True,
    )
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    exported = session.run(None, {"images": example.numpy()})
    with torch.no_grad():
        reference = [t.numpy() for t in model(example)]
    return max(float(np.abs(a - b).max()) for a, b in zip(exported, reference))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Predict attributes and reID embeddings with a trained KA model.")
    parser.add_argument("images", nargs="+", type=Path)
    parser.add_argument("--model", type=Path, default=Path("data/06_models/synthetic/ka.pt"))
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--output", type=Path, help="write JSON here instead of printing it")
    parser.add_argument("--export-onnx", type=Path, help="also export the model to this ONNX file and verify it")
    args = parser.parse_args(argv)
    try:
        model, bundle = load_bundle_model(args.model)
        images = read_images(args.images, bundle.image_size)
        results = infer(model, bundle, args.images, images, args.threshold)
        report: dict[str, Any] = {"model": str(args.model), "variant": bundle.variant, "results": results}
        if args.export_onnx:
            difference = export_onnx(model, images, args.export_onnx)
            report["onnx"] = {
                "path": str(args.export_onnx),
                "max_abs_difference": difference,
                "matches": difference < 1e-4,
            }
            if difference >= 1e-4:
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
