"""EKS control plane and node group access rules (CIS Amazon EKS Benchmark, EKS best practices, Checkov)."""

from __future__ import annotations

import ipaddress
import re

from policies.rules import as_list, get, json_document, resource_rule, setting

CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
ACCESS_POLICY_ASSOCIATION = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
ADDON = "aws:eks/addon:Addon"
# EKS access policies that give write access to the whole API (cluster-admin, admin):
# https://docs.aws.amazon.com/eks/latest/userguide/access-policy-permissions.html
ADMIN_ACCESS_POLICIES = ("AmazonEKSClusterAdminPolicy", "AmazonEKSAdminPolicy")
# One IAM role, named in full: no account root, user, wildcard or assumed-role session.
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")

REQUIRED_LOG_TYPES = ("api", "audit", "authenticator")

PUBLIC_ENDPOINT_CONFIG = {
    "allowedPublicCidrs": {
        "type": "array", "items": {"type": "string"}, "default": [],
        "description": "CIDRs the public API endpoint may be opened to; empty: any listed range except the internet",
    },
}
# EKS standard and extended support: https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html
VERSION_CONFIG = {
    "supportedVersions": {"type": "array", "items": {"type": "string"}, "default": ["1.35", "1.36"],
                          "description": "Kubernetes minors this project supports (components/amis.py tables)"},
}


def _logging(props, _args):
    missing = [t for t in REQUIRED_LOG_TYPES if t not in as_list(props.get("enabledClusterLogTypes"))]
    if missing:
        yield f"enabledClusterLogTypes lacks {missing}: add them (cluster.logTypes) so API calls and who made them are kept"


def _secrets_encryption(props, _args):
    config = props.get("encryptionConfig")
    if not ("secrets" in as_list(get(config, "resources")) and get(config, "provider.keyArn")):
        yield "set encryptionConfig = {resources: [secrets], provider: {keyArn: <KMS key>}} for envelope encryption of Secrets"


def _public_endpoint(props, args):
    vpc = props.get("vpcConfig") or {}
    if get(vpc, "endpointPublicAccess") is False:
        return
    # EKS defaults the public endpoint to on, open to 0.0.0.0/0, when the field is left out.
    cidrs = as_list(get(vpc, "publicAccessCidrs")) or ["0.0.0.0/0 (EKS default)"]
    allowed = setting(args, PUBLIC_ENDPOINT_CONFIG, "allowedPublicCidrs")
    for cidr in cidrs:
        try:
            network = ipaddress.ip_network(str(cidr).split(" ")[0], strict=False)
        except ValueError:
            yield f"publicAccessCidrs entry {cidr!r} is not a CIDR"
            continue
        if network.prefixlen == 0:
            yield (f"the public API endpoint is open to {cidr}: set vpcConfig.endpointPublicAccess = false "
                   "or list only your egress ranges in publicAccessCidrs")
        elif allowed and not any(network.subnet_of(ipaddress.ip_network(a, strict=False)) for a in allowed
                                 if ipaddress.ip_network(a, strict=False).version == network.version):
            yield f"publicAccessCidrs entry {cidr} is not within the policy's allowedPublicCidrs {list(allowed)}"


def _supported_version(props, args):
    supported = setting(args, VERSION_CONFIG, "supportedVersions")
    if str(props.get("version")) not in supported:
        yield f"Kubernetes version {props.get('version')!r} is not supported here: use one of {list(supported)}"


def _no_ssh(props, _args):
    if props.get("remoteAccess"):
        yield "remove remoteAccess (SSH) from the node group: reach nodes with SSM Session Manager instead"


def _admin_to_named_roles(props, _args):
    policy = str(props.get("policyArn", "")).rsplit("/", 1)[-1]
    principal = str(props.get("principalArn", ""))
    if policy in ADMIN_ACCESS_POLICIES and not _ROLE_ARN.match(principal):
        yield (f"{policy} is granted to {principal!r}: give cluster admin only to named IAM roles "
               "(arn:aws:iam::<account>:role/<name>), never an account root, a user or a wildcard")


def _network_policy_enforced(props, _args):
    if props.get("addonName") != "vpc-cni":
        return
    values = json_document(props.get("configurationValues")) or {}
    if str(values.get("enableNetworkPolicy")).lower() != "true":
        yield ('set configurationValues {"enableNetworkPolicy": "true"} on the vpc-cni add-on: without it EKS '
               "enforces no NetworkPolicy at all")


RULES = [
    resource_rule("eks-control-plane-logging",
                  "EKS clusters send api, audit and authenticator logs to CloudWatch (CIS Amazon EKS Benchmark 2.1.1).",
                  [CLUSTER], _logging),
    resource_rule("eks-secrets-encryption",
                  "EKS clusters encrypt Kubernetes Secrets with a KMS key (Checkov CKV_AWS_58).",
                  [CLUSTER], _secrets_encryption),
    resource_rule("eks-public-endpoint-restricted",
                  "The EKS API endpoint is private or open only to listed CIDRs, never 0.0.0.0/0 "
                  "(Checkov CKV_AWS_38/CKV_AWS_39, CIS Amazon EKS Benchmark 5.4.1).",
                  [CLUSTER], _public_endpoint, config=PUBLIC_ENDPOINT_CONFIG),
    resource_rule("eks-supported-version",
                  "EKS clusters run a Kubernetes version this project supports (EKS best practices: cluster upgrades).",
                  [CLUSTER], _supported_version, config=VERSION_CONFIG),
    resource_rule("eks-admin-access-named-roles",
                  "EKS admin access policies are associated only with named IAM roles (EKS best practices: "
                  "identity and access management, access entries).",
                  [ACCESS_POLICY_ASSOCIATION], _admin_to_named_roles),
    resource_rule("eks-network-policy-enforced",
                  "The VPC CNI add-on enforces Kubernetes NetworkPolicies (EKS best practices: network security, "
                  "network policy).",
                  [ADDON], _network_policy_enforced),
    resource_rule("eks-node-group-no-ssh",
                  "Managed node groups allow no SSH remote access (Checkov CKV_AWS_100).",
                  [NODE_GROUP], _no_ssh),
]
