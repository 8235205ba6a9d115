"""Project pipelines."""
from __future__ import annotations

from kedro.pipeline import Pipeline

from knowledge_assembly.pipelines import ingestion, synthetic


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    ``synthetic`` writes the embedded default raw data. ``__default__`` is
    everything downstream of the raw folders, so ``kedro run --env real`` never
    writes to them; ``all`` adds ``synthetic`` in front (used by kedro-viz).
    """
    raw_data = synthetic.create_pipeline()
    manifests = ingestion.create_pipeline()
    return {
        "synthetic": raw_data,
        "ingestion": manifests,
        "__default__": manifests,
        "all": raw_data + manifests,
    }
