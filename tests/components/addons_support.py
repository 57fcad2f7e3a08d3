"""Shared by the ClusterAddons tests: arguments, a builder under the offline engine, and
accessors for the recorded Helm releases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as kubernetes

from components.cluster_addons import ClusterAddons, ClusterAddonsArgs

CHARTS = Path(__file__).resolve().parent.parent / "data" / "charts"
RELEASE = "kubernetes:helm.sh/v3:Release"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"

OIDC_ISSUER = "oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
OIDC_PROVIDER_ARN = f"arn:aws:iam::123456789012:oidc-provider/{OIDC_ISSUER}"
GPU_TAINT = "nvidia.com/gpu"


def addons_args(**overrides: Any) -> ClusterAddonsArgs:
    values: dict[str, Any] = dict(
        cluster_name="mlserve-prod",
        region="us-west-2",
        kubernetes_version="1.36",
        oidc_provider_arn=OIDC_PROVIDER_ARN,
        oidc_issuer=OIDC_ISSUER,
    )
    values.update(overrides)
    return ClusterAddonsArgs(**values)


def make_build(run_pulumi):
    """Build ClusterAddons with explicit AWS and Kubernetes providers; return the Plan.

    cluster_name comes in as an Output, as it does from the cluster component."""

    def _build(**overrides: Any):
        def program() -> None:
            aws_provider = aws.Provider("aws", region="us-west-2")
            kubernetes_provider = kubernetes.Provider("k8s", kubeconfig="{}")
            args = addons_args(**{"cluster_name": pulumi.Output.from_input("mlserve-prod"), **overrides})
            addons = ClusterAddons(
                "addons", args, opts=pulumi.ResourceOptions(providers=[aws_provider, kubernetes_provider])
            )
            pulumi.export("autoscaler_role_arn", addons.autoscaler_role_arn)
            pulumi.export("device_plugin_namespace", addons.device_plugin_namespace)

        return run_pulumi(program)

    return _build


def release_of(plan, chart: str):
    found = [r for r in plan.of_type(RELEASE) if r.inputs["chart"] == chart]
    assert len(found) == 1, f"expected one release of chart {chart}, found {len(found)}"
    return found[0]


def values_of(plan, chart: str) -> dict[str, Any]:
    return release_of(plan, chart).inputs["values"]


