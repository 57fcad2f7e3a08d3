"""Settings -> `EksMonitoringArgs`: Container Insights and the serving pods' metrics for the EKS alarms."""

from __future__ import annotations

import pulumi

from components.eks_monitoring import EksMonitoringArgs
from components.serving_contract import SERVING_NAMESPACE
from mlserve.stack.args.naming import cluster_name
from mlserve.stack.settings import Settings


def monitoring_args(settings: Settings, stack: str, *, oidc_provider_arn: pulumi.Input[str],
                    oidc_issuer: pulumi.Input[str]) -> EksMonitoringArgs:
    return EksMonitoringArgs(
        cluster_name=cluster_name(stack), kubernetes_version=settings.cluster.kubernetes_version,
        oidc_provider_arn=oidc_provider_arn, oidc_issuer=oidc_issuer, serving_namespace=SERVING_NAMESPACE,
        log_retention_days=settings.cluster.log_retention_days, protect=settings.cluster.deletion_protection,
    )
