"""The project's Kedro pipelines; ``for_variant`` binds a node function to one variant."""
import inspect
import typing
from functools import partial


def for_variant(func, variant: str):
    """``func`` with its first argument (the variant name) bound, carrying the remaining arguments' resolved type
    hints, so Kedro matches the node's inputs to the right arguments and builds its typed parameters."""
    bound = partial(func, variant)
    first = next(iter(inspect.signature(func).parameters))
    bound.__annotations__ = {k: v for k, v in typing.get_type_hints(func).items() if k != first}
    bound.__name__, bound.__qualname__, bound.__doc__ = func.__name__, func.__qualname__, func.__doc__
    bound.__module__ = func.__module__
    return bound
