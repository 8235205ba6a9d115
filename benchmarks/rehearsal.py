"""Real-scale rehearsal: the synthetic generator at Market-1501's and PA-100K's real sizes (``conf/rehearsal``),
then ingestion -> image cache -> a fixed number of KA training steps -> full evaluation, each stage a real
``kedro run`` in its own process; prints seconds and peak memory (max RSS) per stage as JSON.

Target: every stage's peak memory <= 8 GB (the image caches are memory-mapped). Not part of CI: it writes
~136k JPEGs and ~3.5 GB of caches under ``data/*/synthetic_rehearsal`` and takes minutes.

    python benchmarks/rehearsal.py [--steps 20] [--variant ka] [--skip-synthetic]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEAK_MEMORY_TARGET_GB = 8.0


def run_stage(pipeline: str, params: dict) -> dict:
    """Run one pipeline in this process (called in a child process) and return its seconds and peak RSS."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(ROOT)
    start = time.perf_counter()
    with KedroSession.create(project_path=ROOT, env="rehearsal", runtime_params=params) as session:
        session.run(pipeline_names=[pipeline])
    seconds = time.perf_counter() - start
    return {"seconds": round(seconds, 1), "peak_memory_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def stage_in_child(pipeline: str, params: dict) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--stage", pipeline, "--params", json.dumps(params)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise SystemExit(f"stage {pipeline} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="KA training steps (one shortened epoch)")
    parser.add_argument("--variant", default="ka")
    parser.add_argument("--skip-synthetic", action="store_true", help="reuse the raw data of an earlier run")
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--params", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        print(json.dumps(run_stage(args.stage, json.loads(args.params))))
        return
    training = {"epochs": 1, "iterations_per_epoch": args.steps, "resume": False, "progress": False}
    stages = {
        "synthetic": ("synthetic", {}),
        "ingestion": ("ingestion", {}),
        "image_cache": ("model_input", {}),
        "training": (f"train_{args.variant}", {"training": training}),
        "evaluation": (f"evaluate_{args.variant}", {"training": training}),
    }
    if args.skip_synthetic:
        stages.pop("synthetic")
    results = {name: stage_in_child(pipeline, params) for name, (pipeline, params) in stages.items()}
    peak = max(r["peak_memory_gb"] for r in results.values())
    print(
        json.dumps(
            {
                "benchmark": "rehearsal",
                "sizes": "Market-1501 12,936 train / 3,368 query / 15,913 gallery; PA-100K 80k / 10k / 10k",
                "training_steps": args.steps,
                "stages": results,
                "peak_memory_gb": round(peak, 2),
                "peak_memory_target_gb": PEAK_MEMORY_TARGET_GB,
                "within_target": peak <= PEAK_MEMORY_TARGET_GB,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
