"""Physical names: every one derives from the stack, so dev and prod never collide in one account."""

from __future__ import annotations


def name_prefix(stack: str) -> str:
    """"mlserve-dev": the prefix of every physical name in a stack."""
    return f"mlserve-{stack}"


def cluster_name(stack: str) -> str:
    return name_prefix(stack)


def endpoint_name(stack: str) -> str:
    """"mlserve-prod": one endpoint per stack, named before it exists (alarms dimension on it)."""
    return name_prefix(stack)
