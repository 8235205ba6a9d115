"""Memory of `knowledge-assembly-adapt` against the number of images (target: peak memory of 4x the images
<= 1.1x that of 1x: the statistics are streamed, one batch at a time); JSON.

A ResNet-18 model bundle with a 64x128 input (random weights: memory does not depend on them) is adapted on
folders of 1,000 and 4,000 random 64x128 PNG crops, each in its own process (peak RSS of that process).

    python benchmarks/adapt.py
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from knowledge_assembly.config import ModelConfig
from knowledge_assembly.models.bundle import ModelBundle
from knowledge_assembly.models.ka_net import build_model

COUNTS = (1000, 4000)
SIZE = (64, 128)  # width, height


def write_bundle(path: Path) -> None:
    model = ModelConfig(
        backbone="resnet18", pretrained="none", allow_weight_download=False, hidden_dim=256, feature_dim=128,
        bnneck=True, domain_bn=True,
    )  # fmt: skip
    network = build_model(model, {"reid": 100, "par": 40}, seed=0)
    state = {k: v.clone() for k, v in network.state_dict().items()}
    names = tuple(f"attribute{i}" for i in range(40))
    ModelBundle("ka", model, names, 100, SIZE, 0, ("reid", "par"), (state,), sources=("a", "b")).save(path)


def write_images(folder: Path, count: int) -> None:
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(count):
        pixels = rng.integers(0, 256, (SIZE[1], SIZE[0], 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:06d}.png", compress_level=1)


def adapt_peak(bundle: Path, folder: Path) -> tuple[float, float]:
    """Peak RSS (MB) and seconds of one adaptation, in a process of its own."""
    code = (
        "import resource, sys\n"
        "from knowledge_assembly.adapt import main\n"
        f"code = main(['--model', {str(bundle)!r}, '--images', {str(folder)!r}, '--domain', 'cam',"
        f" '--output', {str(folder.with_suffix('.pt'))!r}])\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(done.stderr.strip().splitlines()[-1]), time.perf_counter() - start


def main() -> None:
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        write_bundle(root / "model.pt")
        results = {}
        for count in COUNTS:
            write_images(root / f"images{count}", count)
            peak, seconds = adapt_peak(root / "model.pt", root / f"images{count}")
            results[count] = {"peak_rss_mb": round(peak, 1), "seconds": round(seconds, 1)}
    ratio = results[COUNTS[1]]["peak_rss_mb"] / results[COUNTS[0]]["peak_rss_mb"]
    print(
        json.dumps(
            {
                "benchmark": "adapt",
                "images": {str(count): result for count, result in results.items()},
                "peak_memory_ratio": round(ratio, 3),
                "target": "<= 1.1",
                "meets_target": ratio <= 1.1,
                "this_process_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
