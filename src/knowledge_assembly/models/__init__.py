"""The multi-task network (no Kedro)."""

from .ka_net import KANet, TaskHead, build_model, restore_network

__all__ = ["KANet", "TaskHead", "build_model", "restore_network"]
