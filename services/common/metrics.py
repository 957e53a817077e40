"""Prometheus metrics: a registry per app (several apps share the dev process), and
multiprocess mode when ``PROMETHEUS_MULTIPROC_DIR`` is set (gunicorn workers, worker processes)."""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def multiprocess_mode() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def new_registry() -> CollectorRegistry:
    return CollectorRegistry(auto_describe=True)


def render(registry: CollectorRegistry) -> bytes:
    if multiprocess_mode():
        # Every process writes its own files; a scrape sums them all.
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)
        return generate_latest(merged)
    return generate_latest(registry)


class HttpMetrics:
    def __init__(self, service: str, registry: CollectorRegistry):
        self.requests = Counter(
            "whistle_http_requests",
            "HTTP requests answered",
            ["service", "method", "endpoint", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "whistle_http_request_seconds",
            "HTTP request latency",
            ["service", "method", "endpoint"],
            registry=registry,
            buckets=LATENCY_BUCKETS,
        )


class WorkerMetrics:
    def __init__(self, service: str, registry: CollectorRegistry):
        labels = {"service": service}
        self.handled = Counter(
            "whistle_events_handled",
            "Events applied by the consumer",
            ["service", "type", "outcome"],
            registry=registry,
        )
        self.retries = Counter(
            "whistle_event_retries",
            "Events sent to a wait queue or the DLQ",
            ["service", "target"],
            registry=registry,
        )
        self.lag = Histogram(
            "whistle_event_lag_seconds",
            "From an event's time to its handling",
            ["service"],
            registry=registry,
            buckets=LATENCY_BUCKETS,
        ).labels(**labels)
        self.published = Counter(
            "whistle_events_published",
            "Outbox rows confirmed by the broker",
            ["service"],
            registry=registry,
        ).labels(**labels)
        gauge_mode = {"multiprocess_mode": "livemax"} if multiprocess_mode() else {}
        self.outbox_backlog = Gauge(
            "whistle_outbox_backlog",
            "Outbox rows not yet sent",
            ["service"],
            registry=registry,
            **gauge_mode,
        ).labels(**labels)
        self.batch_linger = Gauge(
            "whistle_batch_linger_seconds",
            "How long the consumer lets a batch grow (longer while the machine's CPUs are saturated)",
            ["service"],
            registry=registry,
            **gauge_mode,
        ).labels(**labels)
        self.dlq_depth = Gauge(
            "whistle_dlq_depth",
            "Messages in the dead-letter queue",
            ["service"],
            registry=registry,
            **gauge_mode,
        ).labels(**labels)
