"""The small toolkit every rule module shares: one way to declare a rule, read its config, read props.

A rule is a `pulumi_policy` ResourceValidationPolicy or StackValidationPolicy; nothing here starts the
analyzer. `resource_rule` wraps a plain check function `(props, args) -> iterable of messages` so a
rule module reads as a table of decisions. Props are what the analyzer passes: the resource's inputs
with camelCase keys, as Mappings and Sequences (the analyzer wraps them in proxies that raise on
values unknown during preview, so checks read them through `Mapping`/`Sequence`, never `dict`/`list`).
Config comes from `--policy-pack-config` (policies/config/<env>.json); a rule's schema holds its
defaults, and `setting` falls back to them, so a rule behaves the same with or without a config file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Callable, Iterable

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policies.props import as_list, get  # noqa: F401 (the rule modules import them from here)

MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY

Check = Callable[[Mapping[str, Any], ResourceValidationArgs], Iterable[str]]
StackCheck = Callable[[StackValidationArgs], Iterable[tuple[str, str | None]]]


def _schema(config: Mapping[str, Mapping[str, Any]] | None) -> PolicyConfigSchema | None:
    return PolicyConfigSchema(properties={k: dict(v) for k, v in config.items()}) if config else None


def setting(args: ResourceValidationArgs | StackValidationArgs, schema: Mapping[str, Mapping[str, Any]], key: str) -> Any:
    """A config value of a rule whose config schema is `schema`: from the pack config when given,
    else the schema's default."""
    given = args.get_config() or {}
    if key in given:
        return given[key]
    return schema[key]["default"]


def resource_rule(name: str, description: str, types: Iterable[str] | None, check: Check, *,
                  enforcement: EnforcementLevel = MANDATORY,
                  config: Mapping[str, Mapping[str, Any]] | None = None) -> ResourceValidationPolicy:
    """A rule over each resource of `types` (None: every type): every message `check` yields is one violation."""
    wanted = None if types is None else frozenset(types)

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if wanted is not None and args.resource_type not in wanted:
            return
        for message in check(args.props, args):
            report_violation(message, None)

    policy = ResourceValidationPolicy(name=name, description=description, validate=validate,
                                      enforcement_level=enforcement, config_schema=_schema(config))
    policy.resource_types = wanted  # type: ignore[attr-defined]  (read by the offline runner and tests)
    return policy


def stack_rule(name: str, description: str, check: StackCheck, *,
               enforcement: EnforcementLevel = MANDATORY,
               config: Mapping[str, Mapping[str, Any]] | None = None) -> StackValidationPolicy:
    """A rule over the whole stack: `check` yields (message, urn or None) pairs."""

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        for message, urn in check(args):
            report_violation(message, urn)

    return StackValidationPolicy(name=name, description=description, validate=validate,
                                 enforcement_level=enforcement, config_schema=_schema(config))


def truthy(value: Any) -> bool:
    """True for True and "true" (the mocks and some providers send booleans as strings)."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


def json_document(value: Any) -> Mapping[str, Any] | None:
    """A policy document given as a JSON string (how pulumi-aws takes them) or already as a mapping."""
    if isinstance(value, Mapping):
        return value
    if isinstance(value, str) and value.strip():
        try:
            document = json.loads(value)
        except ValueError:
            return None
        return document if isinstance(document, Mapping) else None
    return None


def statements(document: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """The statements of an IAM/resource policy document (a single statement object counts too)."""
    if not document:
        return []
    return [s for s in as_list(document.get("Statement")) if isinstance(s, Mapping)]


def depends_on(resource: Any, prop: str, urn: str) -> bool:
    """Whether a stack resource's input `prop` came from the resource `urn` (the engine's property
    dependencies: a flow log's vpcId from the VPC it watches). A literal value (another stack's VPC id)
    depends on nothing here."""
    return any(dep.urn == urn for dep in (getattr(resource, "property_dependencies", None) or {}).get(prop, []))


def stack_of(urn: str) -> str:
    """The stack in a URN: urn:pulumi:<stack>::<project>::<type>::<name>."""
    return urn.split("::", 1)[0].removeprefix("urn:pulumi:")
