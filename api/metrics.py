"""Prometheus metrics of the service.

Under gunicorn with several workers, ``suggest serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` before anything
imports ``prometheus_client``: every worker then writes its samples to that folder and ``/metrics`` aggregates
all workers (``MultiProcessCollector``). Without it (tests, a single process) the metrics are per process.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter("suggest_http_requests_total", "HTTP requests by endpoint, method and status",
                   ["endpoint", "method", "status"])
LATENCY = Histogram("suggest_http_request_seconds", "HTTP request latency by endpoint", ["endpoint"], buckets=_BUCKETS)
MODEL_LATENCY = Histogram("suggest_model_seconds", "Time spent in the model per call", ["operation"], buckets=_BUCKETS)
MODEL_INFO = Gauge("suggest_model_loaded", "1 for the model version a worker serves", ["name", "version"],
                   multiprocess_mode="livemax")


def render() -> tuple[bytes, str]:
    """The exposition text of all metrics (aggregated across workers in multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
