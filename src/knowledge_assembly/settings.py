"""Kedro project settings."""

import logging
import os

from kedro.config import OmegaConfigLoader

from knowledge_assembly.hooks import (
    ConfiguredInputHooks,
    LaunchedGroupHooks,
    MissingInputHooks,
    ParameterCheckHooks,
    ProcessHooks,
    RawDataHooks,
    RunCompletionHooks,
    RunLockHooks,
    RunSummaryHooks,
    VariantSourcesHooks,
    VersionedOutputHooks,
    WritableOutputHooks,
)
from knowledge_assembly.logging_filters import MissingPreviewFilter


def tracking_root() -> str:
    """Where DVCLive writes: a DVC stage (DVC sets ``DVC_STAGE`` for its commands) writes the git-tracked folders
    that ``dvc exp show`` / ``dvc plots diff`` compare; any other ``kedro run`` writes an ignored folder, so the
    main job leaves the checkout clean."""
    return "data/09_tracking" if os.environ.get("DVC_STAGE") else "data/09_tracking/local"


# `kedro viz build --include-previews` warns for every dataset never written (variants never run); Kedro's logging
# configuration may not name filter classes, so the filter is attached here.
logging.getLogger("kedro_viz.models.flowchart.node_metadata").addFilter(MissingPreviewFilter())

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # environments (real, local, test ...) override single parameters, not whole blocks
    "merge_strategy": {"parameters": "soft"},
    "custom_resolvers": {"tracking_root": tracking_root},
}
# pluggy calls the hooks of the last registered first: the checks that only read (raw folders, unwritten inputs)
# come last, so they refuse a run before any lock is taken or marker written.
HOOKS = (
    ParameterCheckHooks(),
    RunLockHooks(),
    WritableOutputHooks(),
    VersionedOutputHooks(),
    RunCompletionHooks(),
    ProcessHooks(),
    RunSummaryHooks(),
    LaunchedGroupHooks(),
    MissingInputHooks(),
    RawDataHooks(),
    VariantSourcesHooks(),
    ConfiguredInputHooks(),  # registered last, so run first: the other checks read these inputs
)
