"""Kedro project settings."""

from kedro.config import OmegaConfigLoader

from knowledge_assembly.hooks import (
    ParameterCheckHooks,
    ProcessHooks,
    RunCompletionHooks,
    RunLockHooks,
    VersionedOutputHooks,
    WritableOutputHooks,
)

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # environments (real, local, test ...) override single parameters, not whole blocks
    "merge_strategy": {"parameters": "soft"},
}
HOOKS = (
    ParameterCheckHooks(),
    RunLockHooks(),
    WritableOutputHooks(),
    VersionedOutputHooks(),
    RunCompletionHooks(),
    ProcessHooks(),
)
