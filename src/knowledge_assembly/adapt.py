"""Adapt a trained model to a new camera without labels: that camera's BatchNorm statistics (AdaBN).

knowledge-assembly-adapt --model data/06_models/synthetic/ka.pt --images night_crops/ --domain night
knowledge-assembly-infer --model data/06_models/synthetic/ka.pt --domain night crop.jpg

Forward passes only: every weight and every other domain's statistics stay as they were. A versioned model folder
gets a new version (which evaluation and inference then read); a model file gets a sibling ``<stem>.<domain>.pt``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from kedro.io.core import generate_timestamp
from tqdm.auto import tqdm

from .files import ModelFileError
from .formats.errors import RawDataError
from .formats.images import DEFAULT_MAX_PIXELS
from .inference import bundle_file, image_files, read_images
from .models.adaptation import AdaptationError, adapted_bundle
from .models.bundle import ModelBundle


@dataclass(frozen=True)
class ImageBatches:
    """The images of ``paths`` decoded ``batch_size`` at a time, each time it is iterated (once per network); the
    last batch takes a lone leftover image (a BatchNorm batch needs two)."""

    paths: tuple[Path, ...]
    size: tuple[int, int]
    batch_size: int
    max_pixels: int
    label: str

    def for_network(self, network: int, networks: int) -> ImageBatches:
        """The same batches, the progress bar naming network ``network`` of ``networks`` (a twin reads them twice)."""
        return (
            dataclasses.replace(self, label=f"{self.label}, network {network + 1}/{networks}") if networks > 1 else self
        )

    def __iter__(self) -> Iterator[torch.Tensor]:
        starts = list(range(0, len(self.paths), self.batch_size))
        if len(starts) > 1 and len(self.paths) - starts[-1] == 1:
            starts.pop()
        ends = [*starts[1:], len(self.paths)]
        with tqdm(total=len(self.paths), desc=self.label, unit="img", file=sys.stderr) as bar:
            for start, end in zip(starts, ends):
                yield read_images(list(self.paths[start:end]), self.size, self.max_pixels)
                bar.update(end - start)


def output_path(model: Path, model_file: Path, domain: str, output: Path | None) -> Path:
    """Where the adapted bundle goes: ``output``, a new version of a versioned model folder, or beside the file."""
    if output is not None:
        return output
    if model.is_dir():
        return model / generate_timestamp() / model.name
    return model_file.with_name(f"{model_file.stem}.{domain}{model_file.suffix}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Add a camera's BatchNorm statistics to a trained model from unlabelled images (AdaBN)."
    )
    parser.add_argument("--model", type=Path, required=True, help="model bundle file, or a versioned model folder")
    parser.add_argument("--images", type=Path, required=True, help="folder of the new camera's images (any names)")
    parser.add_argument("--domain", required=True, help="the new domain's name (inference: --domain NAME)")
    parser.add_argument("--output", type=Path, help="write the adapted model here (default: see above)")
    parser.add_argument("--batch-size", type=int, default=64, help="images decoded and run at a time")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="refuse larger images")
    args = parser.parse_args(argv)
    if args.batch_size < 2 or args.max_pixels < 1:
        parser.error("--batch-size must be >= 2 and --max-pixels >= 1")
    if not args.domain.isidentifier():
        parser.error(f"--domain {args.domain!r}: use letters, digits and underscores (a name like night_cam3)")
    try:
        if not args.images.is_dir():
            raise FileNotFoundError(f"{args.images}: not a folder; --images takes a folder of one camera's images")
        model_file = bundle_file(args.model)
        bundle = ModelBundle.load(model_file)
        paths = tuple(image_files([args.images]))
        if len(paths) < 2:
            raise AdaptationError(f"{args.images}: 1 image; BatchNorm statistics need at least 2")
        batches = ImageBatches(paths, bundle.image_size, args.batch_size, args.max_pixels, f"adapt {args.domain}")
        note = {"images": str(args.images), "count": len(paths)}
        adapted = adapted_bundle(bundle, args.domain, batches.for_network, note)
        target = output_path(args.model, model_file, args.domain, args.output)
        adapted.save(target)
    except (FileNotFoundError, RawDataError, ModelFileError, AdaptationError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{target}: {bundle.variant} with domain {args.domain} ({len(paths)} images of {args.images})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
