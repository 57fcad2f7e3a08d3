"""The policy pack, offline: every rule of `policies/` run against `make preview`'s plan.

Each rule's `validate` is called the way the analyzer calls it (pulumi_policy's
`_PolicyAnalyzerServicer.Analyze`/`AnalyzeStack`): resource rules once per registered resource with
its type, name, URN, inputs (camelCase, wrapped in the analyzer's unknown-checking proxy), options
(protect, ignore_changes, delete_before_replace, parent) and provider; stack rules once with every
resource's outputs, parent and dependencies. Enforcement levels and parameters come from a
`--policy-pack-config` file (policies/config/<env>.json), validated against the rules first.

Stack rules also get the root `pulumi:pulumi:Stack` resource with the stack's outputs as its
properties, as the real engine sends it (pulumi/pulumi pkg/resource/deploy/step_generator.go,
AnalyzeResources: every registered resource, the root stack included); the cost rules read the
`cost_assumptions` output there.

Where it differs from `pulumi preview --policy-pack`: no value is unknown here (the mocks resolve
every output). Stack rules get each resource's `dependencies` and `property_dependencies` (which
input came from which resource) as the real engine gives them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import unknown_checking_proxy

from mlserve.offline import engine

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = ROOT / "policies" / "config"


class PolicyConfigError(ValueError):
    """A policy config file names a rule, level or parameter the pack does not have."""


@dataclass(frozen=True)
class Violation:
    """One violation: which rule, at which level, on which resource (None: the whole stack)."""

    rule: str
    level: str  # "mandatory" | "advisory"
    message: str
    resource_type: str | None = None
    resource_name: str | None = None
    urn: str | None = None


@dataclass(frozen=True)
class Report:
    """What the pack said about a plan."""

    rules: list[tuple[str, str]]  # (rule name, enforcement level) of every rule, disabled ones included
    violations: list[Violation]

    @property
    def run(self) -> list[str]:
        return [name for name, level in self.rules if level != "disabled"]

    @property
    def passed(self) -> list[str]:
        failed = {v.rule for v in self.violations}
        return [name for name in self.run if name not in failed]

    def count(self, level: str) -> int:
        return sum(1 for v in self.violations if v.level == level)

    def summary_line(self) -> str:
        return (f"Policies: {len(self.run)} rules run, {len(self.passed)} passed, "
                f"{self.count('advisory')} advisory and {self.count('mandatory')} mandatory violations")

    def to_json(self) -> dict[str, Any]:
        return {"rulesRun": len(self.run), "passed": len(self.passed), "advisory": self.count("advisory"),
                "mandatory": self.count("mandatory"), "rules": [{"name": n, "level": l} for n, l in self.rules],
                "violations": [{"rule": v.rule, "level": v.level, "message": v.message, "resourceType": v.resource_type,
                                "resourceName": v.resource_name, "urn": v.urn} for v in self.violations]}


def load_config(path: Path, rules: list[Any]) -> dict[str, Any]:
    """A --policy-pack-config file, checked against the pack: unknown rules, levels or parameters raise."""
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise PolicyConfigError(f"{path}: {error}") from error
    by_name = {rule.name: rule for rule in rules}
    levels = {level.value for level in EnforcementLevel}
    for key, value in config.items():
        if key != "all" and key not in by_name:
            raise PolicyConfigError(f"{path.name}: no rule named {key!r} (rules: {sorted(by_name)})")
        level = value if isinstance(value, str) else value.get("enforcementLevel") if isinstance(value, dict) else None
        if level is not None and level not in levels:
            raise PolicyConfigError(f"{path.name}: {key}.enforcementLevel {level!r}: one of {sorted(levels)}")
        if isinstance(value, dict) and key != "all":
            schema = by_name[key].config_schema.properties if by_name[key].config_schema else {}
            unknown = sorted(set(value) - {"enforcementLevel"} - set(schema))
            if unknown:
                raise PolicyConfigError(f"{path.name}: {key} has no parameter {unknown} (parameters: {sorted(schema)})")
    return config


def _level(rule: Any, config: Mapping[str, Any]) -> EnforcementLevel:
    value = config.get(rule.name)
    level = value if isinstance(value, str) else value.get("enforcementLevel") if isinstance(value, dict) else None
    if level is None and isinstance(config.get("all"), str):
        level = config["all"]
    if level is not None:
        return EnforcementLevel(level)
    return rule.enforcement_level or EnforcementLevel.ADVISORY  # the analyzer's pack default


def _rule_config(rule: Any, config: Mapping[str, Any]) -> dict[str, Any]:
    value = config.get(rule.name)
    return {k: v for k, v in value.items() if k != "enforcementLevel"} if isinstance(value, dict) else {}


def _options(resource: engine.RecordedResource) -> PolicyResourceOptions:
    return PolicyResourceOptions(resource.protect, list(resource.ignore_changes), resource.delete_before_replace, [],
                                 PolicyCustomTimeouts(0, 0, 0), [], resource.parent or None)


def _stack_options() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], False, [], PolicyCustomTimeouts(0, 0, 0), [], None)


def _provider(resource: engine.RecordedResource, by_urn: Mapping[str, engine.RecordedResource]) -> PolicyProviderResource | None:
    provider = by_urn.get(resource.provider.rsplit("::", 1)[0]) if resource.provider else None
    if provider is None:
        return None
    return PolicyProviderResource(provider.type, unknown_checking_proxy(provider.inputs), provider.urn, provider.name)


STACK_TYPE = "pulumi:pulumi:Stack"


def root_stack_urn(plan: engine.Plan) -> str:
    """The URN the engine gives the program's root stack resource."""
    return f"urn:pulumi:{plan.stack}::{engine.PROJECT}::{STACK_TYPE}::{engine.PROJECT}-{plan.stack}"


def check(plan: engine.Plan, config: Mapping[str, Any] | None = None, rules: list[Any] | None = None) -> Report:
    """Run `rules` (default: the whole pack) against `plan` with a loaded policy config."""
    from policies import all_rules

    rules = all_rules() if rules is None else rules
    config = config or {}
    by_urn = {r.urn: r for r in plan.resources}
    violations: list[Violation] = []
    levels: list[tuple[str, str]] = []
    for rule in rules:
        level = _level(rule, config)
        levels.append((rule.name, level.value))
        if level == EnforcementLevel.DISABLED:
            continue
        reported = "mandatory" if level in (EnforcementLevel.MANDATORY, EnforcementLevel.REMEDIATE) else "advisory"
        if isinstance(rule, ResourceValidationPolicy):
            for resource in plan.resources:
                def report(message: str, _urn: str | None = None, resource=resource) -> None:
                    violations.append(Violation(rule.name, reported, message, resource.type, resource.name, resource.urn))
                args = ResourceValidationArgs(resource.type, unknown_checking_proxy(resource.inputs), resource.urn, resource.name,
                                              _options(resource), _provider(resource, by_urn), _rule_config(rule, config))
                rule.validate(args, report)
        elif isinstance(rule, StackValidationPolicy):
            resources = {r.urn: PolicyResource(r.type, unknown_checking_proxy(r.outputs), r.urn, r.name, _options(r),
                                               _provider(r, by_urn), None, [], {}) for r in plan.resources}
            for r in plan.resources:
                resources[r.urn].parent = resources.get(r.parent)
                resources[r.urn].dependencies = [resources[d] for d in r.dependencies if d in resources]
                resources[r.urn].property_dependencies = {
                    key: [resources[d] for d in urns if d in resources] for key, urns in r.property_dependencies.items()}
            root = root_stack_urn(plan)
            resources[root] = PolicyResource(STACK_TYPE, unknown_checking_proxy(dict(plan.exports)), root,
                                             f"{engine.PROJECT}-{plan.stack}", _stack_options(), None, None, [], {})

            def report_stack(message: str, urn: str | None = None) -> None:
                target = by_urn.get(urn or "")
                violations.append(Violation(rule.name, reported, message, target.type if target else None,
                                            target.name if target else None, urn))
            rule.validate(StackValidationArgs(list(resources.values()), _rule_config(rule, config)), report_stack)
    return Report(rules=levels, violations=violations)


def render(report: Report) -> list[str]:
    """Violations grouped by rule (mandatory first), each with its resources, then the summary line."""
    lines: list[str] = []
    order = sorted({(v.level != "mandatory", v.rule) for v in report.violations})
    for _, name in order:
        found = [v for v in report.violations if v.rule == name]
        lines.append(f"[{found[0].level}] {name}: {len(found)} violation(s)")
        for v in found:
            where = f"{v.resource_type}  {v.resource_name}" if v.resource_type else "(stack)"
            lines.append(f"    {where}: {v.message}")
    lines.append(report.summary_line())
    return lines
