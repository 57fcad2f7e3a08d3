"""cluster-autoscaler decisions: the pinned chart and image, its Helm values, its IAM policy
and the Auto Scaling group tags it discovers node groups by.

Pure functions and constants; no resource is created here. `components/cluster_addons.py`
installs the chart with these values and its IRSA role.
"""

from __future__ import annotations

from typing import Any

import pulumi

# https://github.com/kubernetes/autoscaler/tree/cluster-autoscaler-chart-9.59.0/cluster-autoscaler/charts/cluster-autoscaler
# The chart's default image is v1.35.0; we override the tag per Kubernetes minor (below).
# Pinned exactly (never a range) so a plan is reproducible and a chart upgrade is a reviewed diff.
AUTOSCALER_CHART = "cluster-autoscaler"
AUTOSCALER_CHART_VERSION = "9.59.0"
AUTOSCALER_REPOSITORY = "https://kubernetes.github.io/autoscaler"

# Cluster-autoscaler is released per Kubernetes minor and only tested against that minor:
# "use the Cluster Autoscaler version that matches your cluster's Kubernetes minor".
# https://github.com/kubernetes/autoscaler/tree/master/cluster-autoscaler#releases
# Latest patch of each minor (tags cluster-autoscaler-<x.y.z> in kubernetes/autoscaler).
AUTOSCALER_IMAGE_TAGS: dict[str, str] = {
    "1.31": "v1.31.5",
    "1.32": "v1.32.7",
    "1.33": "v1.33.6",
    "1.34": "v1.34.5",
    "1.35": "v1.35.2",
    "1.36": "v1.36.1",
}

# The name the IRSA trust policy and the operators' kubectl commands rely on.
AUTOSCALER_SERVICE_ACCOUNT = "cluster-autoscaler"

# The Auto Scaling group tags cluster-autoscaler reads. They are defined here only: the node
# pools tag their groups with them, the autoscaler discovers groups by them and its IAM policy
# lets it scale only groups carrying them, so the three can never name different tags.
AUTOSCALER_TAG_PREFIX = "k8s.io/cluster-autoscaler"
# Discovery tags, value "owned" for the cluster tag, as EKS managed node groups set them:
# https://docs.aws.amazon.com/eks/latest/userguide/managed-node-groups.html
AUTOSCALER_ENABLED_TAG = f"{AUTOSCALER_TAG_PREFIX}/enabled"
AUTOSCALER_CLUSTER_TAG_VALUE = "owned"
# Prefix of the tags describing the nodes a group would start (labels, taints, resources).
# https://github.com/kubernetes/autoscaler/blob/master/cluster-autoscaler/cloudprovider/aws/README.md#scaling-a-node-group-to-0
AUTOSCALER_NODE_TEMPLATE_TAG = f"{AUTOSCALER_TAG_PREFIX}/node-template"


def autoscaler_cluster_tag(cluster_name: str) -> str:
    """The ASG tag key naming the cluster an Auto Scaling group belongs to."""
    return f"{AUTOSCALER_TAG_PREFIX}/{cluster_name}"


def autoscaler_discovery_tags(cluster_name: str) -> dict[str, str]:
    """The tags cluster-autoscaler's `--node-group-auto-discovery=asg:tag=...` looks for.
    https://github.com/kubernetes/autoscaler/blob/master/cluster-autoscaler/cloudprovider/aws/README.md#auto-discovery-setup
    """
    return {AUTOSCALER_ENABLED_TAG: "true", autoscaler_cluster_tag(cluster_name): AUTOSCALER_CLUSTER_TAG_VALUE}


def autoscaler_image_tag(kubernetes_version: str) -> str:
    """The cluster-autoscaler image tag for a Kubernetes minor ("1.34" -> "v1.34.5").

    Raises ValueError naming the version when the table has no entry: running an autoscaler
    built for another minor is unsupported and fails in ways a plan cannot show.
    """
    try:
        return AUTOSCALER_IMAGE_TAGS[kubernetes_version]
    except KeyError:
        raise ValueError(
            f"no cluster-autoscaler image pinned for Kubernetes {kubernetes_version!r}; "
            f"known minors: {', '.join(AUTOSCALER_IMAGE_TAGS)} (add it to AUTOSCALER_IMAGE_TAGS)"
        ) from None


def autoscaler_values(
    *,
    cluster_name: pulumi.Input[str],
    region: str,
    kubernetes_version: str,
    role_arn: pulumi.Input[str],
) -> dict[str, Any]:
    """Helm values for cluster-autoscaler with ASG auto-discovery and IRSA.

    Flags: https://github.com/kubernetes/autoscaler/blob/master/cluster-autoscaler/FAQ.md#what-are-the-parameters-to-ca
    """
    return {
        "cloudProvider": "aws",
        "awsRegion": region,
        "fullnameOverride": AUTOSCALER_SERVICE_ACCOUNT,
        "image": {"tag": autoscaler_image_tag(kubernetes_version)},
        # Discover every ASG carrying both tags (EKS managed node groups get them by default).
        # https://github.com/kubernetes/autoscaler/blob/master/cluster-autoscaler/cloudprovider/aws/README.md#auto-discovery-setup
        "autoDiscovery": {
            "clusterName": cluster_name,
            "tags": [
                AUTOSCALER_ENABLED_TAG,
                pulumi.Output.from_input(cluster_name).apply(autoscaler_cluster_tag),
            ],
        },
        "rbac": {
            "serviceAccount": {
                "create": True,
                # Fixed name: the IRSA trust policy names this service account.
                "name": AUTOSCALER_SERVICE_ACCOUNT,
                "annotations": {"eks.amazonaws.com/role-arn": role_arn},
            }
        },
        "extraArgs": {
            # GPU and CPU pools spread over several AZs are one pool per AZ; keep them the same size.
            "balance-similar-node-groups": True,
            # On EKS, kube-system runs DaemonSets and a few Deployments on every node; with the
            # default (true) no node running e.g. CoreDNS could ever be removed.
            "skip-nodes-with-system-pods": False,
            # Model servers cache weights in emptyDir; the default (true) would pin such nodes,
            # the expensive GPU ones first, forever.
            "skip-nodes-with-local-storage": False,
            # Pick the node group that leaves the least idle CPU/GPU after scheduling.
            "expander": "least-waste",
            # Scale-down: remove a node after 10 minutes under half used, not sooner than 10
            # minutes after a scale-up (the CA defaults, stated so a change is a visible diff).
            "scale-down-enabled": True,
            "scale-down-utilization-threshold": "0.5",
            "scale-down-unneeded-time": "10m",
            "scale-down-delay-after-add": "10m",
        },
        "resources": {"requests": {"cpu": "100m", "memory": "300Mi"}},
    }


def autoscaler_permissions_policy(*, cluster_name: str, partition: str, region: str, account_id: str) -> dict[str, Any]:
    """What the autoscaler may do: read everywhere, describe and scale only this cluster's node groups.

    The CA AWS guide's "full features" policy, with the mutating block restricted by tag as it
    recommends: https://github.com/kubernetes/autoscaler/blob/master/cluster-autoscaler/cloudprovider/aws/README.md#iam-policy
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadNodeGroups",
                "Effect": "Allow",
                # Describe/Get calls support no resource-level permissions, hence "*".
                # https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2autoscaling.html
                "Action": [
                    "autoscaling:DescribeAutoScalingGroups",
                    "autoscaling:DescribeAutoScalingInstances",
                    "autoscaling:DescribeLaunchConfigurations",
                    "autoscaling:DescribeScalingActivities",
                    "ec2:DescribeImages",
                    "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplateVersions",
                    "ec2:GetInstanceTypesFromInstanceRequirements",
                ],
                "Resource": "*",
            },
            {
                # Labels and taints of a managed node group still at zero nodes, so a GPU pool
                # can scale up from zero for a pod that tolerates its taint. This action takes a
                # node group ARN (CKV_AWS_355): only this cluster's node groups.
                # https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelastickubernetesservice.html
                "Sid": "DescribeThisClustersNodeGroups",
                "Effect": "Allow",
                "Action": "eks:DescribeNodegroup",
                "Resource": f"arn:{partition}:eks:{region}:{account_id}:nodegroup/{cluster_name}/*/*",
            },
            {
                "Sid": "ScaleThisClustersNodeGroups",
                "Effect": "Allow",
                "Action": [
                    "autoscaling:SetDesiredCapacity",
                    "autoscaling:TerminateInstanceInAutoScalingGroup",
                ],
                "Resource": "*",
                # Only ASGs tagged as owned by this cluster: another cluster's (or anyone's) ASGs
                # in the account cannot be resized or have instances terminated.
                # https://docs.aws.amazon.com/autoscaling/ec2/userguide/control-access-using-iam.html
                "Condition": {
                    "StringEquals": {
                        f"aws:ResourceTag/{autoscaler_cluster_tag(cluster_name)}": AUTOSCALER_CLUSTER_TAG_VALUE
                    }
                },
            },
        ],
    }
