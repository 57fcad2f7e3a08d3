"""Reading recorded resource inputs (camelCase, as the engine and the policy analyzer pass them):
one dotted getter and one list view, shared by the plan printer, the cost estimate and the policy
rules. Mappings and Sequences, not dict and list: the analyzer hands rules proxy objects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def get(props: Any, dotted: str, default: Any = None) -> Any:
    """`get(props, "vpcConfig.endpointPublicAccess")`; `default` where any step is missing."""
    value = props
    for part in dotted.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, Sequence) and not isinstance(value, str) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return default
    return value


def as_list(value: Any) -> list[Any]:
    """A scalar or sequence as a list (IAM's "Action": "s3:GetObject" or [...]); None as []."""
    if value is None:
        return []
    if isinstance(value, Sequence) and not isinstance(value, str):
        return list(value)
    return [value]
