"""Knowledge Assembly: reID + PAR multi-task learning from datasets with disjoint labels."""

__version__ = "0.1.0"
