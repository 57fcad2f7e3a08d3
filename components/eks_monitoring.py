"""EKS monitoring: the Amazon CloudWatch Observability add-on (Container Insights with enhanced
observability, GPU metrics) plus the serving pods' own Prometheus metrics collected into
CloudWatch, so the EKS alarms (components/alarm_specs.py) are about the model, not only pods.
The agent keeps counters, gauges and summaries and drops histograms, hence the server's
recent-window gauges (serving_app/window_stats.py).

The add-on runs the CloudWatch agent (operator-managed) with an IRSA role. Its `agent.config` is
the CloudWatch agent configuration (the Prometheus EMF processor decides which scraped metrics
become CloudWatch metrics, with which dimensions) and `agent.prometheus.config` the Prometheus
scrape configuration (the chart renders it into the agent's `spec.prometheus`):
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/install-CloudWatch-Observability-EKS-addon.html
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/ContainerInsights-Prometheus-Setup-configure.html
https://github.com/aws-observability/helm-charts/blob/main/charts/amazon-cloudwatch-observability/templates/linux/cloudwatch-agent-custom-resource.yaml
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.alarm_specs import (BATCH_MEAN_METRIC, LATENCY_P50_METRIC, LATENCY_P99_METRIC, PROMETHEUS_NAMESPACE,
                                    REQUESTS_METRIC)
from components.cloudwatch import LOG_RETENTION_DAYS
from components.iam_roles import irsa_trust_policy, role_with_policies
from components.kms import cloudwatch_logs, encryption_key
from components.serving_contract import APP_LABEL, APP_NAME, TRACK_LABEL

ADDON_NAME = "amazon-cloudwatch-observability"
AGENT_NAMESPACE = "amazon-cloudwatch"
AGENT_SERVICE_ACCOUNT = "cloudwatch-agent"
# Pinned per Kubernetes minor: the add-on built from the newest chart release (aws-observability/helm-charts
# amazon-cloudwatch-observability 6.4.0, 2026-08-06; its values.yaml is vendored under
# tests/data/charts/), not read from AWS (no account here). Confirm before the first up:
#   aws eks describe-addon-versions --addon-name amazon-cloudwatch-observability --kubernetes-version <v>
#   aws eks describe-addon-configuration --addon-name amazon-cloudwatch-observability --addon-version <version>
ADDON_VERSIONS = {"1.35": "v6.4.0-eksbuild.1", "1.36": "v6.4.0-eksbuild.1"}
CHART_VERSION = "6.4.0"
"""The chart release the add-on version is built from (its values are the add-on's configuration)."""
SCRAPE_JOB = "mlserve"


def _label(name: str) -> str:
    """Prometheus' spelling of a Kubernetes label in service-discovery meta labels."""
    return "".join(c if c.isalnum() else "_" for c in name)


def scrape_config(namespace: str) -> dict[str, Any]:
    """Scrape the model-server pods of `namespace` where their `prometheus.io/*` annotations say:
    with Istio those point at the sidecar's merged metrics (port 15020, /stats/prometheus, plain
    HTTP, so STRICT mTLS does not block the agent). https://istio.io/latest/docs/ops/integrations/prometheus/#option-1-metrics-merging
    `track` and `Namespace` become labels (alarm dimensions); `status_class` folds status codes
    into "5xx" and "other", so the 5xx share is one ratio of two metrics."""
    return {
        "global": {"scrape_interval": "60s", "scrape_timeout": "10s"},
        "scrape_configs": [{
            "job_name": SCRAPE_JOB,
            "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": [namespace]}}],
            "relabel_configs": [
                {"source_labels": [f"__meta_kubernetes_pod_label_{_label(APP_LABEL)}"], "regex": f"{APP_NAME}(-primary)?",
                 "action": "keep"},
                {"source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"], "regex": "true", "action": "keep"},
                {"source_labels": ["__address__", "__meta_kubernetes_pod_annotation_prometheus_io_port"],
                 "regex": r"([^:]+)(?::\d+)?;(\d+)", "replacement": "$1:$2", "target_label": "__address__"},
                {"source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_path"], "regex": "(.+)",
                 "target_label": "__metrics_path__"},
                {"source_labels": [f"__meta_kubernetes_pod_label_{_label(TRACK_LABEL)}"], "target_label": "track"},
                # Under Flagger (rollout.mode automatic) pods carry no track label: its primary serves the
                # promoted version ("stable"), its target the one under analysis ("canary").
                {"source_labels": ["track", f"__meta_kubernetes_pod_label_{_label(APP_LABEL)}"], "regex": f";{APP_NAME}-primary",
                 "replacement": "stable", "target_label": "track"},
                {"source_labels": ["track", f"__meta_kubernetes_pod_label_{_label(APP_LABEL)}"], "regex": f";{APP_NAME}",
                 "replacement": "canary", "target_label": "track"},
                {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "Namespace"},
                {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod_name"},
            ],
            "metric_relabel_configs": [
                {"source_labels": ["status"], "regex": "5..", "replacement": "5xx", "target_label": "status_class"},
                {"source_labels": ["status"], "regex": "[1-4]..", "replacement": "other", "target_label": "status_class"},
            ],
        }],
    }


def agent_config(cluster_name: str) -> dict[str, Any]:
    """Container Insights (enhanced, with GPU metrics) plus the EMF declarations of the serving
    metrics: latency and batch size per track, requests per track and status class."""
    by_track = ["ClusterName", "Namespace", "track"]
    return {"logs": {"metrics_collected": {
        "kubernetes": {"cluster_name": cluster_name, "enhanced_container_insights": True,
                       "accelerated_compute_metrics": True},
        "prometheus": {
            "cluster_name": cluster_name,
            "log_group_name": prometheus_log_group(cluster_name),
            "prometheus_config_path": "/etc/prometheusconfig/prometheus.yaml",
            "emf_processor": {
                "metric_namespace": PROMETHEUS_NAMESPACE,
                "metric_declaration": [
                    {"source_labels": ["job"], "label_matcher": f"^{SCRAPE_JOB}$", "dimensions": [by_track],
                     # Gauges and counters only: the agent drops histograms, so the server
                     # exports its recent p50/p99 and mean batch size as gauges.
                     "metric_selectors": [f"^{m}$" for m in (LATENCY_P50_METRIC, LATENCY_P99_METRIC, BATCH_MEAN_METRIC)]},
                    {"source_labels": ["job"], "label_matcher": f"^{SCRAPE_JOB}$",
                     "dimensions": [[*by_track, "status_class"]], "metric_selectors": [f"^{REQUESTS_METRIC}$"]},
                ],
            },
        },
    }}}


def performance_log_group(cluster_name: str) -> str:
    return f"/aws/containerinsights/{cluster_name}/performance"


def prometheus_log_group(cluster_name: str) -> str:
    return f"/aws/containerinsights/{cluster_name}/prometheus"


@dataclass(frozen=True, kw_only=True)
class EksMonitoringArgs:
    """The cluster to watch and the serving namespace to scrape."""

    cluster_name: str
    kubernetes_version: str
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    """Without "https://"."""
    serving_namespace: str
    log_retention_days: int = 30
    protect: bool = False
    """Pulumi `protect` on the log groups and their key (prod)."""

    def __post_init__(self) -> None:
        if self.kubernetes_version not in ADDON_VERSIONS:
            raise ValueError(f"EksMonitoringArgs.kubernetes_version {self.kubernetes_version!r}: pinned for "
                             f"{sorted(ADDON_VERSIONS)}")
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            raise ValueError(f"EksMonitoringArgs.log_retention_days {self.log_retention_days}: one of {LOG_RETENTION_DAYS}")


class EksMonitoring(pulumi.ComponentResource):
    """The CloudWatch Observability add-on with the serving pods' metrics, and its log groups."""

    addon_name: pulumi.Output[str]
    """The add-on's name (EKS)."""

    def __init__(self, name: str, args: EksMonitoringArgs, opts: pulumi.ResourceOptions | None = None,
                 depends_on: Sequence[pulumi.Resource] = ()) -> None:
        super().__init__("mlserve:monitoring:EksMonitoring", name, None, opts)
        # performance (metrics as EMF), prometheus (the scraped metrics), and Fluent Bit's container,
        # node-service and host logs. https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Container-Insights-setup-logs-FluentBit.html
        groups = [performance_log_group(args.cluster_name), prometheus_log_group(args.cluster_name),
                  *(f"/aws/containerinsights/{args.cluster_name}/{kind}" for kind in ("application", "dataplane", "host"))]
        # The agent would create these unencrypted and kept forever: declared first, on a key of ours.
        key = encryption_key(f"{name}-logs-key", description=f"Encrypts Container Insights logs of {args.cluster_name}",
                             alias=f"alias/{args.cluster_name}-container-insights", name_tag=f"{name}-logs-key",
                             uses=[cloudwatch_logs(log_group_names=groups)], parent=self, protect=args.protect)
        log_groups = [
            aws.cloudwatch.LogGroup(f"{name}-{group.rsplit('/', 1)[-1]}", name=group,
                                    retention_in_days=args.log_retention_days, kms_key_id=key.arn,
                                    opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True, protect=args.protect))
            for group in groups
        ]
        role, attachments = role_with_policies(
            f"{name}-agent-irsa",
            description=f"{AGENT_NAMESPACE}/{AGENT_SERVICE_ACCOUNT} (CloudWatch agent) in EKS cluster {args.cluster_name}",
            assume_role_policy=irsa_trust_policy(args.oidc_provider_arn, args.oidc_issuer,
                                                 namespace=AGENT_NAMESPACE, service_account=AGENT_SERVICE_ACCOUNT),
            # https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/install-CloudWatch-Observability-EKS-addon.html
            managed_policies=["CloudWatchAgentServerPolicy"],
            parent=self,
        )
        addon = aws.eks.Addon(
            f"{name}-addon",
            cluster_name=args.cluster_name,
            addon_name=ADDON_NAME,
            addon_version=ADDON_VERSIONS[args.kubernetes_version],
            service_account_role_arn=role.arn,
            configuration_values=json.dumps({"agent": {
                "config": agent_config(args.cluster_name),
                "prometheus": {"config": scrape_config(args.serving_namespace)},
            }}),
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="PRESERVE",
            # One add-on of a name per cluster: a replacement must delete the old one first.
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True,
                                        depends_on=[*attachments, *log_groups, *depends_on]),
        )
        self.addon_name = addon.addon_name
        self.register_outputs({"addon_name": self.addon_name})
