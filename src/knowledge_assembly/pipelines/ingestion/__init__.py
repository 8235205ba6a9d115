"""Raw datasets → validated Parquet manifests."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
