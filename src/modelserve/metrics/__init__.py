"""Prometheus metrics for the server (a leaf package: prometheus_client, nothing of ours but ``record``)."""
