"""reID and PAR metrics, feature extraction (no Kedro)."""
