"""Leave-one-domain-out (UPAR task 1's question: does PAR generalise to a domain it never saw?)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
