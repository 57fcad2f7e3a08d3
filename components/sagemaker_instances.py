"""Facts about SageMaker hosting instance types the stack decides on: which types it accepts,
vCPUs (server workers, CPU alarm thresholds), GPUs (GPU alarm thresholds) and local instance
storage (no KMS volume key).

Which types exist comes from AWS: botocore's `ProductionVariantInstanceType` enum
(`components/instance_types.py`). Of those the stack accepts the ones its serving image runs on:
x86_64 CPU families and NVIDIA GPU families whose GPU count is listed below. Graviton (arm64),
Inferentia/Trainium (Neuron) and Gaudi types are refused by name rather than left to fail at
container start.

vCPUs follow EC2's size names (medium 1, large 2, xlarge 4, <n>xlarge 4n), except the sizes in
`_VCPU_EXCEPTIONS`; GPUs per type are listed per family. Both from the EC2 instance type
specifications: https://docs.aws.amazon.com/ec2/latest/instancetypes/gp.html (general purpose),
/co.html (compute), /mo.html (memory), /ac.html (accelerated computing); SageMaker hosts the EC2
type of the same name behind the "ml." prefix (https://aws.amazon.com/sagemaker/pricing/).
"""

from __future__ import annotations

import re

from components.instance_types import sagemaker_hosting_types, unknown_type_problem

_TYPE = re.compile(r"^ml\.(?P<family>[a-z0-9-]+)\.(?P<size>[a-z0-9-]+)$")
_SIZE = re.compile(r"^(?P<n>\d*)xlarge$")

CPU_FAMILIES = ("t2", "m4", "m5", "m5d", "m6i", "m7i", "c4", "c5", "c5d", "c6i", "c6in", "c7i",
                "r5", "r5d", "r6i", "r7i")
"""x86_64 CPU families SageMaker hosts (the serving image is built for linux/amd64)."""

# The sizes that break the "<n>xlarge = 4n vCPUs" rule.
_VCPU_EXCEPTIONS = {"ml.t2.medium": 2, "ml.m4.10xlarge": 40, "ml.c4.8xlarge": 36, "ml.c5.9xlarge": 36,
                    "ml.c5.18xlarge": 72, "ml.c5d.9xlarge": 36, "ml.c5d.18xlarge": 72}

# NVIDIA GPUs per hosting type, per family (ac.html). A family not listed here is refused in a
# variant: its GPU alarms would need a count we do not know.
_GPU_COUNTS: dict[str, dict[str, int]] = {
    "p2": {"xlarge": 1, "8xlarge": 8, "16xlarge": 16},                                 # K80
    "p3": {"2xlarge": 1, "8xlarge": 4, "16xlarge": 8},                                 # V100
    "g4dn": {"xlarge": 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1, "16xlarge": 1, "12xlarge": 4},  # T4
    **{family: {"xlarge": 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1, "16xlarge": 1, "12xlarge": 4,
                "24xlarge": 4, "48xlarge": 8} for family in ("g5", "g6", "g6e")},      # A10G, L4, L40S
    "p4d": {"24xlarge": 8}, "p4de": {"24xlarge": 8},                                   # A100
    "p5": {"4xlarge": 1, "48xlarge": 8}, "p5e": {"48xlarge": 8}, "p5en": {"48xlarge": 8},  # H100, H200
}
GPU_FAMILIES = tuple(_GPU_COUNTS)

# Families whose instances carry local NVMe instance storage: their volumes are encrypted by the
# hardware and the stack declares no KMS volume key for them (the existing g5/g6 decision,
# extended to every accepted family with instance store in the EC2 specifications).
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpointConfig.html#sagemaker-CreateEndpointConfig-request-KmsKeyId
LOCAL_STORAGE_FAMILIES = ("m5d", "c5d", "r5d", "g4dn", "g5", "g6", "g6e", "p4d", "p4de", "p5", "p5e", "p5en")

_NOT_RUNNABLE = {
    "inf": "an Inferentia (Neuron) type", "trn": "a Trainium (Neuron) type", "dl1": "a Gaudi type",
}


def accepted_types() -> frozenset[str]:
    """The hosting types a variant may use: SageMaker's list, narrowed to what the image runs on."""
    return frozenset(t for t in sagemaker_hosting_types() if _refusal(t) is None)


def _refusal(instance_type: str) -> str | None:
    """Why a type SageMaker hosts is refused here, or None."""
    family, size = _TYPE.fullmatch(instance_type).group("family", "size")  # type: ignore[union-attr]
    for prefix, kind in _NOT_RUNNABLE.items():
        if family.startswith(prefix):
            return f"{kind}; the serving image runs on x86_64 CPUs and NVIDIA GPUs"
    if family in GPU_FAMILIES:
        return None if size in _GPU_COUNTS[family] else f"no GPU count known for size {size} of {family}"
    if family in CPU_FAMILIES:
        return None
    if re.fullmatch(r"[a-z]+\d+[a-z]*g[a-z]*|p6e-gb\d+", family):
        return "an arm64 (Graviton or Grace) type; the serving image is built for linux/amd64"
    return f"family {family!r} has no GPU count or vCPU rule here (accepted: {', '.join(CPU_FAMILIES + GPU_FAMILIES)})"


def check(instance_type: str) -> str:
    """`instance_type` itself, or ValueError naming it: not a SageMaker hosting type (with a
    "did you mean"), or one the serving image cannot run on."""
    problem = unknown_type_problem(instance_type, sagemaker_hosting_types(), "a SageMaker hosting instance type")
    if problem is not None:
        raise ValueError(problem)
    refusal = _refusal(instance_type)
    if refusal is not None:
        raise ValueError(f"{instance_type!r} is {refusal}" if refusal.startswith("a") else f"{instance_type!r}: {refusal}")
    return instance_type


def vcpus(instance_type: str) -> int:
    """vCPUs of "ml.m7i.xlarge" (4)."""
    check(instance_type)
    if instance_type in _VCPU_EXCEPTIONS:
        return _VCPU_EXCEPTIONS[instance_type]
    size = _TYPE.fullmatch(instance_type)["size"]  # type: ignore[index]
    if size == "medium":
        return 1
    if size == "large":
        return 2
    match = _SIZE.fullmatch(size)
    if match is None:
        raise ValueError(f"{instance_type!r}: size {size!r} has no vCPU rule")
    return 4 * int(match["n"] or 1)


def gpus(instance_type: str) -> int:
    """NVIDIA GPUs of the instance type; 0 for CPU families."""
    check(instance_type)
    family, size = _TYPE.fullmatch(instance_type).group("family", "size")  # type: ignore[union-attr]
    return _GPU_COUNTS.get(family, {}).get(size, 0)


def has_local_storage(instance_type: str) -> bool:
    """True where the volume takes no KMS key (instance store)."""
    check(instance_type)
    return _TYPE.fullmatch(instance_type)["family"] in LOCAL_STORAGE_FAMILIES  # type: ignore[index]
