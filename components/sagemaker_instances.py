"""Facts about SageMaker instance types the stack decides on: vCPUs (server workers, CPU alarm
thresholds), GPUs (GPU alarm thresholds) and local instance storage (no KMS volume key).

A pure table over the families the settings accept, so a new family is a reviewed diff.
Sizes: https://aws.amazon.com/sagemaker/pricing/ (instance details).
"""

from __future__ import annotations

import re

_TYPE = re.compile(r"^ml\.(?P<family>[a-z0-9]+)\.(?P<size>[0-9]*x?large)$")
# vCPUs per size for the general-purpose, compute and GPU families below (large = 2 vCPUs).
_VCPUS = {"large": 2, "xlarge": 4, "2xlarge": 8, "4xlarge": 16, "8xlarge": 32, "12xlarge": 48,
          "16xlarge": 64, "24xlarge": 96, "48xlarge": 192}
CPU_FAMILIES = ("m5", "m6i", "m7i", "c5", "c6i", "c7i", "r5", "r6i", "r7i")
# GPUs per size (NVIDIA A10G in g5, L4 in g6): one up to 16xlarge, four at 12x/24xlarge, eight at 48xlarge.
_GPUS = {"xlarge": 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1, "16xlarge": 1, "12xlarge": 4, "24xlarge": 4,
         "48xlarge": 8}
GPU_FAMILIES = ("g5", "g6")
# Families with local NVMe instance storage: SageMaker refuses a KmsKeyId for their volumes
# (the instance store is encrypted by the hardware).
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpointConfig.html#sagemaker-CreateEndpointConfig-request-KmsKeyId
LOCAL_STORAGE_FAMILIES = ("g5", "g6")


def _parts(instance_type: str) -> tuple[str, str]:
    match = _TYPE.fullmatch(instance_type)
    if match is None or match["family"] not in CPU_FAMILIES + GPU_FAMILIES or match["size"] not in _VCPUS:
        raise ValueError(f"instance type {instance_type!r}: supported are ml.<family>.<size> with family in "
                         f"{list(CPU_FAMILIES + GPU_FAMILIES)} and size in {list(_VCPUS)}")
    if match["family"] in GPU_FAMILIES and match["size"] == "large":
        raise ValueError(f"instance type {instance_type!r}: GPU families start at xlarge")
    return match["family"], match["size"]


def vcpus(instance_type: str) -> int:
    """vCPUs of "ml.m7i.xlarge" (4)."""
    return _VCPUS[_parts(instance_type)[1]]


def gpus(instance_type: str) -> int:
    """GPUs of the instance type; 0 for CPU families."""
    family, size = _parts(instance_type)
    return _GPUS[size] if family in GPU_FAMILIES else 0


def has_local_storage(instance_type: str) -> bool:
    """True where the volume cannot take a KMS key (instance store)."""
    return _parts(instance_type)[0] in LOCAL_STORAGE_FAMILIES
