"""Every account-unique physical name a plan declares, and the names two plans both claim.

The table of which input holds the name is the policy pack's (`policies/names.py`), so the rule
`physical-names-carry-stack` and this dev-and-prod collision test read the same one.
"""

from __future__ import annotations

from typing import Any, Iterator

from policies.names import ACCOUNT_SINGLETONS, physical_name


def physical_names(resources: list[Any]) -> Iterator[tuple[str, str, str]]:
    """(type, physical name, logical name) of every account-unique name a plan declares.
    Account singletons yield their type as their name."""
    for resource in resources:
        if resource.package != "aws" or not resource.custom or resource.type.startswith("pulumi:providers"):
            continue
        if resource.type in ACCOUNT_SINGLETONS:
            yield resource.type, "<account singleton>", resource.name
            continue
        name = physical_name(resource.type, resource.inputs)
        if name is not None:
            yield resource.type, name, resource.name


def collisions(first: list[Any], second: list[Any]) -> list[str]:
    """Names both plans claim for the same resource type, as readable lines."""
    seen = {(kind, name): logical for kind, name, logical in physical_names(first)}
    return sorted(
        f"{kind} {name!r} (logical {seen[(kind, name)]!r} and {logical!r})"
        for kind, name, logical in physical_names(second)
        if (kind, name) in seen
    )
