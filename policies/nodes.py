"""Worker node rules: instance metadata, root volumes, GPU pools kept for GPU pods."""

from __future__ import annotations

from policies.rules import as_list, get, resource_rule, truthy

LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
GPU_TAINT_KEY = "nvidia.com/gpu"
# Instance families with NVIDIA GPUs (g*, p*): https://aws.amazon.com/ec2/instance-types/#Accelerated_Computing
GPU_FAMILY_PREFIXES = ("g4dn", "g5", "g6", "gr6", "p3", "p4", "p5", "p6")


def _imdsv2(props, _args):
    options = props.get("metadataOptions") or {}
    if get(options, "httpTokens") != "required":
        yield "set metadataOptions.httpTokens = required (IMDSv2 only)"
    hop_limit = get(options, "httpPutResponseHopLimit")
    if hop_limit is None or float(hop_limit) != 1:
        yield (f"metadataOptions.httpPutResponseHopLimit is {hop_limit}: set 1 so pods cannot reach the node's "
               "instance role through IMDS")


def _encrypted_root(props, _args):
    mappings = as_list(props.get("blockDeviceMappings"))
    if not mappings:
        yield "declare blockDeviceMappings with ebs.encrypted = true (the AMI's default root volume may be unencrypted)"
    for mapping in mappings:
        if not truthy(get(mapping, "ebs.encrypted")):
            yield f"set ebs.encrypted = true on block device {get(mapping, 'deviceName')}"


def _no_public_ip(props, _args):
    public = [get(i, "deviceIndex") for i in as_list(props.get("networkInterfaces")) if truthy(get(i, "associatePublicIpAddress"))]
    if public:
        yield (f"networkInterfaces {public} set associatePublicIpAddress: nodes live in private subnets and reach "
               "out through NAT; remove it")


def is_gpu_pool(props) -> bool:
    """A node group whose AMI or instance types are NVIDIA GPU ones."""
    if "NVIDIA" in str(props.get("amiType", "")):
        return True
    return any(str(t).startswith(GPU_FAMILY_PREFIXES) for t in as_list(props.get("instanceTypes")))


def _gpu_taint(props, _args):
    if not is_gpu_pool(props):
        return
    if not any(get(t, "key") == GPU_TAINT_KEY and get(t, "effect") == "NO_SCHEDULE" for t in as_list(props.get("taints"))):
        yield (f"GPU node group without the taint {{key: {GPU_TAINT_KEY}, effect: NO_SCHEDULE}}: add it "
               "(nodePools[].taints) so only pods that request GPUs land on these nodes")


RULES = [
    resource_rule("nodes-imdsv2-hop-limit-1",
                  "Node launch templates require IMDSv2 with a hop limit of 1 "
                  "(Checkov CKV_AWS_79, EKS best practices: restrict access to the instance profile).",
                  [LAUNCH_TEMPLATE], _imdsv2),
    resource_rule("nodes-encrypted-root-volume",
                  "Node launch templates encrypt their EBS volumes (Checkov CKV_AWS_8).",
                  [LAUNCH_TEMPLATE], _encrypted_root),
    resource_rule("nodes-no-public-ip",
                  "Node launch templates give nodes no public IP (Checkov CKV_AWS_88).",
                  [LAUNCH_TEMPLATE], _no_public_ip),
    resource_rule("gpu-pool-taint",
                  "GPU node groups carry the nvidia.com/gpu NoSchedule taint (EKS best practices: AI/ML compute).",
                  [NODE_GROUP], _gpu_taint),
]
