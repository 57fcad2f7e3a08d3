"""The instance types AWS itself lists, read from botocore's service models (botocore is pinned in
requirements.txt, so the lists move only with a reviewed version bump):

- `EC2_INSTANCE_TYPES`: the EC2 API's `InstanceType` enum (what a managed node group may launch);
- `SAGEMAKER_HOSTING_TYPES`: SageMaker's `ProductionVariantInstanceType` enum (what a real-time
  endpoint variant may run on; SageMaker hosts fewer types than EC2 has, e.g. no ml.m5.8xlarge).

A typo gets a "did you mean" from the same list, so a message never points at a table of ours.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection
from functools import lru_cache


@lru_cache(maxsize=None)
def _enum(service: str, shape: str) -> frozenset[str]:
    import botocore.session

    return frozenset(botocore.session.get_session().get_service_model(service).shape_for(shape).enum)


def ec2_instance_types() -> frozenset[str]:
    """Every EC2 instance type botocore's ec2 model lists ("m7i.large", "g6.xlarge", ...)."""
    return _enum("ec2", "InstanceType")


def sagemaker_hosting_types() -> frozenset[str]:
    """Every instance type a SageMaker production variant accepts ("ml.m7i.large", ...)."""
    return _enum("sagemaker", "ProductionVariantInstanceType")


def suggestions(value: str, known: Collection[str], count: int = 3) -> list[str]:
    """The closest names to `value` in `known`, best first: a name that only lacks a prefix
    ("m7i.large" for "ml.m7i.large"), then difflib's ratio >= 0.75."""
    exact_tail = sorted(k for k in known if k.endswith("." + value) or k.endswith("-" + value))
    close = difflib.get_close_matches(value, sorted(known), n=count, cutoff=0.75)
    return (exact_tail + [c for c in close if c not in exact_tail])[:count]


def unknown_type_problem(value: str, known: Collection[str], what: str) -> str | None:
    """None when `value` is in `known`; else "'m7i.larg' is not <what>; did you mean 'm7i.large'?"."""
    if value in known:
        return None
    close = suggestions(value, known)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f"{value!r} is not {what}{hint}"
