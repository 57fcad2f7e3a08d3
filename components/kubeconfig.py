"""The kubeconfig a stack exports and its Kubernetes provider uses: no stored credential."""

from __future__ import annotations

import pulumi


def kubeconfig(
    *,
    cluster_name: pulumi.Input[str],
    endpoint: pulumi.Input[str],
    certificate_authority: pulumi.Input[str],
    region: pulumi.Input[str],
) -> pulumi.Output[str]:
    """A kubeconfig (JSON) for one cluster whose user gets a short-lived token from
    `aws eks get-token`: no long-lived credential is written anywhere.
    https://docs.aws.amazon.com/eks/latest/userguide/create-kubeconfig.html
    """
    return pulumi.Output.json_dumps({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": {"server": endpoint, "certificate-authority-data": certificate_authority}}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": "aws"}}],
        "current-context": cluster_name,
        "users": [{
            "name": "aws",
            "user": {"exec": {
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "command": "aws",
                "args": ["eks", "get-token", "--cluster-name", cluster_name, "--region", region, "--output", "json"],
                "interactiveMode": "Never",
            }},
        }],
    })
