"""EKS managed add-ons: the cluster's networking, DNS and storage drivers, installed and
version-pinned through the EKS API (`aws.eks.Addon`), with IRSA roles where they call AWS.

Helm-installed add-ons (device plugin, metrics-server, cluster-autoscaler) are in
`components/cluster_addons.py`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

import pulumi
import pulumi_aws as aws

from components.iam_roles import irsa_trust_policy, role_with_policies

# Installed before the node groups: without a CNI and kube-proxy nodes never turn Ready (the
# cluster sets bootstrap_self_managed_addons=False, so EKS installs neither itself).
ADDONS_BEFORE_NODES = ("vpc-cni", "kube-proxy", "eks-pod-identity-agent")
# Their pods need nodes to turn healthy, and EKS waits for that: created after the node groups.
ADDONS_AFTER_NODES = ("coredns", "aws-ebs-csi-driver")
REQUIRED_ADDONS = ADDONS_BEFORE_NODES + ADDONS_AFTER_NODES

# Add-ons that call AWS APIs -> (kube-system service account, AWS managed policy) of their IRSA role.
IRSA_ADDONS: dict[str, tuple[str, str]] = {
    # ENI and IP management stays off the node role, which every pod on the node could reach.
    # https://docs.aws.amazon.com/eks/latest/userguide/cni-iam-role.html
    "vpc-cni": ("aws-node", "AmazonEKS_CNI_Policy"),
    # https://docs.aws.amazon.com/eks/latest/userguide/ebs-csi.html
    "aws-ebs-csi-driver": ("ebs-csi-controller-sa", "AmazonEBSCSIDriverPolicy"),
}

# Pinned versions per Kubernetes minor: the EKS minors in standard support on 2026-11-24 whose
# support lasts long enough to build on (1.34 leaves standard support on 2026-12-02; 1.35 on
# 2027-03-27; 1.36 on 2027-08-02: https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html
# and https://endoflife.date/amazon-eks). Not from `describe-addon-versions`, which needs AWS:
#   1.35 from a public EKS stack pinning 1.35 (vpc-cni v1.21.1, kube-proxy v1.35.0, coredns v1.13.2,
#        pod-identity v1.3.10, ebs-csi v1.57.1);
#   1.36 from a public EKS stack pinning 1.36 (vpc-cni v1.22.3, kube-proxy v1.36.0, coredns v1.14.3,
#        pod-identity v1.3.10, ebs-csi v1.63.1).
# Confirm before a real deployment (docs/deploying.md):
#   aws eks describe-addon-versions --kubernetes-version <v> --addon-name <name> \
#     --query 'addons[].addonVersions[].addonVersion'
DEFAULT_ADDON_VERSIONS: dict[str, dict[str, str]] = {
    "1.35": {
        "vpc-cni": "v1.21.1-eksbuild.3",
        "kube-proxy": "v1.35.0-eksbuild.2",
        "eks-pod-identity-agent": "v1.3.10-eksbuild.3",
        "coredns": "v1.13.2-eksbuild.1",
        "aws-ebs-csi-driver": "v1.57.1-eksbuild.1",
    },
    "1.36": {
        "vpc-cni": "v1.22.3-eksbuild.1",
        "kube-proxy": "v1.36.0-eksbuild.13",
        "eks-pod-identity-agent": "v1.3.10-eksbuild.3",
        "coredns": "v1.14.3-eksbuild.3",
        "aws-ebs-csi-driver": "v1.63.1-eksbuild.1",
    },
}

ADDON_CONFIGURATION: dict[str, dict[str, str]] = {
    # The VPC CNI's network policy agent enforces NetworkPolicies (components/network_policies.py); off
    # unless asked for. The add-on's configuration schema types it as a string ("true"/"false"):
    #   aws eks describe-addon-configuration --addon-name vpc-cni --addon-version <version>
    # https://docs.aws.amazon.com/eks/latest/userguide/cni-network-policy-configure.html
    "vpc-cni": {"enableNetworkPolicy": "true"},
}
"""Per add-on, its `configuration_values` (JSON, validated by EKS against the add-on's schema)."""

_ADDON_VERSION = re.compile(r"v\d+\.\d+\.\d+-eksbuild\.\d+")


def addon_version_problem(addon_versions: Mapping[str, str]) -> str | None:
    """Why a name -> version mapping cannot pin the add-ons, or None when it can: it must name
    exactly `REQUIRED_ADDONS`, each with an EKS add-on version such as "v1.20.4-eksbuild.1"."""
    missing = [a for a in REQUIRED_ADDONS if a not in addon_versions]
    unknown = [a for a in addon_versions if a not in REQUIRED_ADDONS]
    if missing or unknown:
        return f"need exactly {list(REQUIRED_ADDONS)}; missing {missing}, unknown {unknown}"
    malformed = {a: v for a, v in addon_versions.items() if not _ADDON_VERSION.fullmatch(v)}
    if malformed:
        return f"{malformed} are not EKS add-on versions such as 'v1.20.4-eksbuild.1'"
    return None


def create_irsa_roles(
    name: str,
    *,
    cluster_name: str,
    oidc_provider_arn: pulumi.Input[str],
    oidc_issuer: pulumi.Input[str],
    parent: pulumi.Resource,
) -> tuple[dict[str, aws.iam.Role], list[aws.iam.RolePolicyAttachment]]:
    """One IRSA role per add-on in `IRSA_ADDONS`, trusted only by that add-on's service account;
    returns the roles by add-on and their policy attachments (what an add-on must wait for)."""
    roles = {}
    attachments: list[aws.iam.RolePolicyAttachment] = []
    for addon_name, (service_account, policy) in IRSA_ADDONS.items():
        roles[addon_name], attached = role_with_policies(
            f"{name}-{addon_name}-irsa",
            description=f"kube-system/{service_account} ({addon_name}) in EKS cluster {cluster_name}",
            assume_role_policy=irsa_trust_policy(
                oidc_provider_arn, oidc_issuer, namespace="kube-system", service_account=service_account
            ),
            managed_policies=[policy],
            parent=parent,
        )
        attachments.extend(attached)
    return roles, attachments


def create_addons(
    name: str,
    addon_names: Sequence[str],
    *,
    cluster: aws.eks.Cluster,
    versions: Mapping[str, str],
    irsa_roles: Mapping[str, aws.iam.Role],
    parent: pulumi.Resource,
    depends_on: Sequence[pulumi.Resource] = (),
) -> list[aws.eks.Addon]:
    """The managed add-ons `addon_names`, each pinned to `versions[addon_name]`."""
    addons = []
    for addon_name in addon_names:
        role = irsa_roles.get(addon_name)
        addons.append(
            aws.eks.Addon(
                f"{name}-{addon_name}",
                cluster_name=cluster.name,
                addon_name=addon_name,
                addon_version=versions[addon_name],
                service_account_role_arn=role.arn if role is not None else None,
                configuration_values=json.dumps(ADDON_CONFIGURATION[addon_name]) if addon_name in ADDON_CONFIGURATION else None,
                # Take over what is in the cluster at creation; keep hand-made changes on later
                # version updates rather than silently reverting them.
                # https://docs.aws.amazon.com/eks/latest/APIReference/API_UpdateAddon.html#AmazonEKS-UpdateAddon-request-resolveConflicts
                resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="PRESERVE",
                # One add-on of a name per cluster: a replacement must delete the old one first.
                opts=pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on), delete_before_replace=True),
            )
        )
    return addons
