"""Settings -> the Args of progressive delivery on EKS: the metrics stack, KEDA, Flagger and the Canary.

The Canary's success-rate and latency bounds are the alarms' (`alarms.error5xxPercent`,
`alarms.p99LatencyMs`), the numbers SageMaker's guardrails roll back on: one threshold, both targets.
"""

from __future__ import annotations

import json
from pathlib import Path

import pulumi
import pulumi_aws as aws

from components.canary import CanaryArgs
from components.flagger import FlaggerArgs
from components.metrics_stack import MetricsStackArgs
from components.model_store_layout import version_prefix
from components.prometheus_values import PROMETHEUS_URL
from components.serving_contract import SERVING_NAMESPACE
from components.serving_pods import VERSION_LABEL, termination_grace_seconds
from mlserve.stack.args.model_store import ROOT
from mlserve.stack.args.serving import ROUTE_TIMEOUT_MARGIN_S
from mlserve.stack.settings import Settings
from serving_app.models.artifact import SAMPLE_FILE

STARTUP_S = 600
"""How long a new serving pod may take to turn ready (its startup probe's 120 x 5 s)."""


def metrics_stack_args(settings: Settings) -> MetricsStackArgs:
    m = settings.monitoring
    return MetricsStackArgs(serving_namespace=SERVING_NAMESPACE, version_label=VERSION_LABEL,
                            retention_days=m.retention_days, storage_gib=m.storage_gib, replicas=m.prometheus_replicas,
                            memory=m.prometheus_memory, reclaim_policy=m.volume_reclaim)


def flagger_args(settings: Settings) -> FlaggerArgs:
    alerts = settings.rollout.analysis.alerts
    return FlaggerArgs(serving_namespace=SERVING_NAMESPACE, prometheus_url=PROMETHEUS_URL,
                       alert_provider=alerts.provider if alerts else None, alert_secret=alerts.secret_name if alerts else None,
                       alert_channel=alerts.channel if alerts else None)


def sample_rows(settings: Settings, *, bucket_name: pulumi.Input[str]) -> pulumi.Input[list[list[float]]]:
    """The stable version's sample rows (its sample.json): read from the local artifact directory (dev),
    or from the model store while the program runs (`aws.s3.get_object`; published versions carry
    their sample, docs/models.md). Raises ValueError naming the key when a local version has none."""
    ref = settings.models.stable_ref
    if ref.is_local:
        path = ROOT / ref.local_path / SAMPLE_FILE
        if not path.is_file():
            raise ValueError(f"mlserve:models.stable = {ref.text!r}: no {SAMPLE_FILE}; rollout.mode automatic sends "
                             "its rows to every new version before it gets traffic (python -m mlserve.models package --sample)")
        return json.loads(path.read_text())["rows"]
    key = version_prefix(ref.name, ref.version) + SAMPLE_FILE
    return aws.s3.get_object_output(bucket=bucket_name, key=key).body.apply(lambda body: json.loads(body)["rows"])


def canary_args(settings: Settings, *, gateway: str, autoscaler: str, expected_version: str,
                rows: pulumi.Input[list[list[float]]], templates_namespace: str, loadtester_url: str,
                alert_provider: str | None) -> CanaryArgs:
    analysis = settings.rollout.analysis
    server = settings.serving.stable.server
    return CanaryArgs(
        namespace=SERVING_NAMESPACE, gateway=gateway, hosts=tuple(settings.mesh.hosts), autoscaler=autoscaler,
        expected_version=expected_version, sample_rows=rows, templates_namespace=templates_namespace,
        loadtester_url=loadtester_url,
        min_success_percent=100 - settings.alarms.error_5xx_percent, max_latency_ms=settings.alarms.p99_latency_ms,
        max_503_percent=analysis.max_503_percent, interval_s=analysis.interval_seconds,
        step_weight=analysis.step_weight, max_weight=analysis.max_weight, threshold=analysis.threshold,
        load_test_rps=analysis.load_test_rps, alert_provider=alert_provider,
        timeout_s=server.request_timeout_s + ROUTE_TIMEOUT_MARGIN_S,
        startup_s=STARTUP_S + termination_grace_seconds(server.shutdown_grace_s),
    )


def local_sample_path(settings: Settings) -> Path | None:
    """Where a local stable version's sample is (for the rule net), else None."""
    ref = settings.models.stable_ref if settings.models else None
    return ROOT / ref.local_path / SAMPLE_FILE if ref is not None and ref.is_local else None
