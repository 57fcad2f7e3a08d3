"""Progressive delivery on EKS: the `rollout.analysis` block (what Flagger checks while it shifts
traffic to a new version, `rollout.mode: automatic`) and the `monitoring` section (the in-cluster
Prometheus and Grafana both rollout modes scrape into).

The success-rate and latency bounds of the analysis are NOT set here: they are `alarms.error5xxPercent`
and `alarms.p99LatencyMs`, the thresholds SageMaker's deployment guardrails roll back on, so one
number gates a new version on both targets (`mlserve/stack/args/delivery.py` reads them).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from mlserve.stack.settings.base import _Model


class RolloutAlerts(_Model):
    """Where Flagger posts rollout events (started, each step, promoted, rolled back). The address is a
    credential (a chat webhook URL), so it lives in a Kubernetes Secret made out of band, never in a
    stack file: `kubectl -n mlserve-serving create secret generic <secretName> --from-literal=address=<url>`."""

    provider: Literal["slack", "msteams", "discord", "rocket", "gchat"]
    """Flagger's AlertProvider types (its CRD's enum)."""
    secret_name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)
    """The Secret (key `address`) in the serving namespace holding the webhook URL."""
    channel: str | None = Field(default=None, min_length=1, max_length=80)
    """Slack channel; unused by the other providers."""


class Analysis(_Model):
    """Flagger's canary analysis (`rollout.mode: automatic`): every `intervalSeconds` it checks the
    metrics; while they hold, the canary's weight grows by `stepWeight` up to `maxWeight`, then the new
    version is promoted; after `threshold` failed checks it is rolled back."""

    interval_seconds: int = Field(default=60, ge=30, le=3600)
    """Seconds between checks and weight steps; also the metrics' look-back window (Prometheus scrapes
    every 15 s, so at least 30 s holds two samples)."""
    step_weight: int = Field(default=10, ge=1, le=50)
    """Percent of traffic added to the canary per passing check."""
    max_weight: int = Field(default=50, ge=1, le=100)
    """Canary percent reached before promotion (a multiple of stepWeight or not: Flagger stops at it)."""
    threshold: int = Field(default=5, ge=1, le=100)
    """Failed checks (any metric or webhook) before the rollout is rolled back."""
    max_503_percent: float = Field(default=1, ge=0, le=100)
    """The server's own 503 answers (queue full: `MLSERVE_MAX_QUEUED_ROWS`) as a percent of its
    prediction requests: above this a check fails (the canary cannot keep up with its share)."""
    load_test_rps: int = Field(default=0, ge=0, le=1000)
    """Default 0 (off). Requests per second the load tester sends to the canary during the analysis,
    with the model's sample rows: for services too quiet to give the checks data."""
    alerts: RolloutAlerts | None = None
    """Default none. Where rollout events are posted (Slack, Teams, ...)."""

    @model_validator(mode="after")
    def _steps(self) -> Analysis:
        if self.step_weight > self.max_weight:
            raise ValueError(f"stepWeight {self.step_weight} is above maxWeight {self.max_weight}")
        return self


class MonitoringSettings(_Model):
    """The in-cluster Prometheus (kube-prometheus-stack) and Grafana: what the canary analysis, the
    autoscaler and the model-serving dashboard read. Sized here; its volume is encrypted gp3."""

    retention_days: int = Field(default=15, ge=1, le=365)
    """Days of metrics Prometheus keeps (its `retention`)."""
    storage_gib: int = Field(default=50, ge=10, le=16384)
    """Size of Prometheus' volume (gp3, encrypted). `retentionSize` is set to 90% of it, so a full disk
    drops the oldest blocks rather than stopping ingestion."""
    prometheus_replicas: int = Field(default=1, ge=1, le=3)
    """Prometheus pods, each with its own volume and a full copy (2 in prod: a node's loss keeps
    the analysis and the autoscaler fed)."""
    prometheus_memory: str = Field(default="2Gi", pattern=r"^[1-9]\d*(Mi|Gi)$")
    """Memory request and limit of each Prometheus pod."""
    volume_reclaim: Literal["Delete", "Retain"] = "Delete"
    """What happens to the volume when its claim is deleted (prod: Retain)."""
