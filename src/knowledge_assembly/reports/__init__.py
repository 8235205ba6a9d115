"""Tables and figures from metrics and training histories (no Kedro)."""
