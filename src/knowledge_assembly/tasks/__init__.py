"""The task registry: every task the network can learn, by name, in head order. Everything that lists tasks or
their terms (variants' checks, the objective's sums, gradient norms, the progress line) is
derived from :data:`TASKS`, and so are the evaluation protocols (:data:`PROTOCOLS`, with what validation reports)."""

from __future__ import annotations

from .attributes import Attributes
from .base import Protocol, TaskType
from .identity import SOURCE_TERM, Identity, source_logit_count

TASKS: dict[str, TaskType] = {task.name: task for task in (Identity(), Attributes())}
SUPERVISED_TASKS = tuple(TASKS)
SUPERVISED_TERMS = (*(task.supervised_term for task in TASKS.values()), SOURCE_TERM)
SSL_TERMS = tuple(term for task in TASKS.values() for term in task.ssl_terms)
PROTOCOLS = {name: protocol for task in TASKS.values() for name, protocol in task.protocols.items()}
TASK_OF_PROTOCOL = {name: task.name for task in TASKS.values() for name in task.protocols}

__all__ = [
    "PROTOCOLS",
    "SOURCE_TERM",
    "SSL_TERMS",
    "SUPERVISED_TASKS",
    "SUPERVISED_TERMS",
    "TASKS",
    "TASK_OF_PROTOCOL",
    "Protocol",
    "TaskType",
    "source_logit_count",
]
