"""The project's Kedro pipelines: each package adapts library code to nodes and wires them."""
