"""The hub's Prometheus metrics (prometheus-client), named once here so any module can move them.

Every hub process serves them at /metrics (server/blueprints/metrics.py). Under gunicorn each worker is a
process of its own: with $PROMETHEUS_MULTIPROC_DIR set (server/wsgi_server.py sets it before the workers
start) prometheus-client writes each worker's values to files there and /metrics adds them up, so a
scrape that lands on any worker sees the whole hub process's figures.

Other helpers: increment these (or add one here), never create metrics elsewhere; a metric created
twice in one process is an error in prometheus-client.
"""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import REGISTRY, multiprocess

EVENTS_INGESTED = Counter("checkpoint_hub_events_ingested", "Gate events stored (new ones only: replays are not counted)")
EVENTS_REFUSED = Counter("checkpoint_hub_events_refused", "Gate events refused (future-dated, too old, wrong direction)")
SYNC_SECONDS = Histogram(
    "checkpoint_hub_sync_seconds", "Time the hub took to answer a gate's sync",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0))
LEASES_GRANTED = Counter("checkpoint_hub_leases_granted", "Lease requests that were lent at least one place")
LEASES_REFUSED = Counter("checkpoint_hub_leases_refused", "Lease requests that asked for places and got none")
SYNCS_SHED = Counter("checkpoint_hub_syncs_shed", "Device syncs answered 503 with Retry-After: the process had its bound of syncs in flight")
# Depth of a queue inside the hub (`queue` label: e.g. "mqtt_events" for the bridge's pending batch);
# "livesum": the hub-wide depth is the sum over live processes.
QUEUE_DEPTH = Gauge("checkpoint_hub_queue_depth", "Items waiting in one of the hub's queues", ["queue"],
                    multiprocess_mode="livesum")
# Alert delivery (mail, SMS, webhook...): `channel` says which, `outcome` "sent" or "failed".
ALERTS = Counter("checkpoint_hub_alerts", "Alerts the hub tried to deliver", ["channel", "outcome"])
RETENTION_DELETED = Counter("checkpoint_hub_retention_deleted_events", "Events deleted past their venue's retention")


def exposition() -> tuple[bytes, str]:
    """The metrics in the Prometheus text format, and its content type (every worker's, in multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
