"""The pull-request comment: the head's offline plan against the base branch's, per stack.

    python -m mlserve.offline.pr_comment --base build/base --head build --stacks dev prod --out build/pr-comment.md

Reads `plan-<stack>.json` (written by `make preview`, with its policy results and cost) from both
directories and writes one Markdown comment: per stack the resource totals, what is added, changed
(with the changed input keys) and removed, the policy verdict with every violation, and the monthly
cost with its change. The first line is a marker the workflow uses to update its one comment
instead of adding a new one on every push. A missing base plan (a new stack, or a base branch
older than the JSON format) is said so, and every resource counts as added.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

MARKER = "<!-- mlserve-preview -->"
MAX_LISTED = 40  # resources listed per section; GitHub comments stop at 65,536 characters


def load(path: Path) -> dict[str, Any] | None:
    """A plan JSON, or None where there is none."""
    return json.loads(path.read_text()) if path.exists() else None


def diff(base: dict[str, Any] | None, head: dict[str, Any]) -> dict[str, list[tuple[str, str, list[str]]]]:
    """Added, changed and removed resources as (type, name, changed input keys), keyed by URN."""
    old = {r["urn"]: r for r in (base or {}).get("resources", [])}
    new = {r["urn"]: r for r in head.get("resources", [])}

    def keys(a: dict, b: dict) -> list[str]:
        return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))

    changed = [(new[u]["type"], new[u]["name"], keys(old[u]["inputs"], new[u]["inputs"]))
               for u in sorted(set(old) & set(new)) if old[u]["inputs"] != new[u]["inputs"]
               or old[u].get("protect") != new[u].get("protect")]
    return {"added": [(new[u]["type"], new[u]["name"], []) for u in sorted(set(new) - set(old))],
            "changed": [(t, n, k or ["protect"]) for t, n, k in changed],
            "removed": [(old[u]["type"], old[u]["name"], []) for u in sorted(set(old) - set(new))]}


def _money(value: float) -> str:
    return f"${value:,.2f}"


def _delta(head: float, base: float | None) -> str:
    if base is None:
        return "new"
    change = head - base
    return "no change" if abs(change) < 0.005 else f"{'+' if change > 0 else '-'}{_money(abs(change))}"


def _verdict(policy: dict[str, Any] | None) -> str:
    if not policy:
        return "not run"
    icon = "❌" if policy["mandatory"] else ("⚠️" if policy["advisory"] else "✅")
    return f"{icon} {policy['passed']}/{policy['rulesRun']} passed, {policy['mandatory']} mandatory, {policy['advisory']} advisory"


def _listing(title: str, rows: list[tuple[str, str, list[str]]]) -> list[str]:
    if not rows:
        return []
    lines = [f"**{title} ({len(rows)})**", ""]
    for kind, name, keys in rows[:MAX_LISTED]:
        lines.append(f"- `{kind}` **{name}**" + (f": {', '.join(f'`{k}`' for k in keys)}" if keys else ""))
    if len(rows) > MAX_LISTED:
        lines.append(f"- ... and {len(rows) - MAX_LISTED} more (see the job's plan artifact)")
    return [*lines, ""]


def stack_section(stack: str, base: dict[str, Any] | None, head: dict[str, Any]) -> list[str]:
    changes = diff(base, head)
    policy, estimate = head.get("policy"), head.get("cost") or {}
    base_cost = (base or {}).get("cost")
    lines = [f"<details{' open' if policy and policy['mandatory'] else ''}><summary><b>{stack}</b>: "
             f"+{len(changes['added'])} ~{len(changes['changed'])} -{len(changes['removed'])}, {_verdict(policy)}</summary>", ""]
    if base is None:
        lines += ["_No base plan for this stack: every resource counts as added._", ""]
    if not any(changes.values()):
        lines += ["No resource changes against the base branch.", ""]
    lines += _listing("Added", changes["added"]) + _listing("Changed", changes["changed"]) + _listing("Removed", changes["removed"])
    if policy and policy["violations"]:
        lines += ["**Policy violations**", "", "| Level | Rule | Resource | How to fix |", "|---|---|---|---|"]
        for v in sorted(policy["violations"], key=lambda v: (v["level"] != "mandatory", v["rule"])):
            where = f"`{v['resourceType']}` {v['resourceName']}" if v.get("resourceType") else "(stack)"
            lines.append(f"| {v['level']} | `{v['rule']}` | {where} | {v['message'].replace('|', '/')} |")
        lines.append("")
    if estimate.get("lines"):
        old = {(l["category"], l["item"]): l for l in (base_cost or {}).get("lines", [])}
        lines += ["**Estimated monthly cost** (" + estimate["region"] + f", prices as of {estimate['pricesAsOf']})", "",
                  "| Item | At min size | At max size | Change (max) |", "|---|---:|---:|---:|"]
        for line in estimate["lines"]:
            previous = old.get((line["category"], line["item"]))
            lines.append(f"| {line['category']}: {line['item']} ({line['detail']}) | {_money(line['monthlyMin'])} | "
                         f"{_money(line['monthlyMax'])} | {_delta(line['monthlyMax'], previous['monthlyMax'] if previous else None)} |")
        lines.append(f"| **total** | **{_money(estimate['monthlyMin'])}** | **{_money(estimate['monthlyMax'])}** | "
                     f"**{_delta(estimate['monthlyMax'], base_cost['monthlyMax'] if base_cost else None)}** |")
        lines += ["", "Assumptions: " + "; ".join(estimate["assumptions"]) + "."]
        if estimate.get("unpriced"):
            lines.append("Not priced: " + ", ".join(estimate["unpriced"]) + ".")
    return [*lines, "", "</details>", ""]


def render(plans: dict[str, tuple[dict[str, Any] | None, dict[str, Any]]], commit: str = "") -> str:
    """The whole comment for {stack: (base plan or None, head plan)}."""
    lines = [MARKER, "## mlserve preview" + (f" for {commit[:12]}" if commit else ""), "",
             "| Stack | Resources | Added | Changed | Removed | Policies | Monthly cost (min - max) | Change (max) |",
             "|---|---:|---:|---:|---:|---|---:|---:|"]
    for stack, (base, head) in plans.items():
        changes, estimate = diff(base, head), head.get("cost") or {}
        base_max = ((base or {}).get("cost") or {}).get("monthlyMax")
        lines.append(f"| {stack} | {head['summary']['total']} | {len(changes['added'])} | {len(changes['changed'])} | "
                     f"{len(changes['removed'])} | {_verdict(head.get('policy'))} | "
                     f"{_money(estimate.get('monthlyMin', 0))} - {_money(estimate.get('monthlyMax', 0))} | "
                     f"{_delta(estimate.get('monthlyMax', 0), base_max)} |")
    lines += ["", "Offline plan of the real `__main__.py` under Pulumi mocks (`make preview`), no cloud credentials; "
              "`pulumi preview` with the policy pack runs in its own job where credentials are configured.", ""]
    for stack, (base, head) in plans.items():
        lines += stack_section(stack, base, head)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True, help="directory with the base branch's plan-<stack>.json")
    parser.add_argument("--head", type=Path, required=True, help="directory with this branch's plan-<stack>.json")
    parser.add_argument("--stacks", nargs="+", default=["dev", "prod"])
    parser.add_argument("--commit", default="")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    plans = {}
    for stack in args.stacks:
        head = load(args.head / f"plan-{stack}.json")
        if head is None:
            print(f"error: no plan {args.head / f'plan-{stack}.json'}: run make preview STACK={stack} first", file=sys.stderr)
            return 2
        plans[stack] = (load(args.base / f"plan-{stack}.json"), head)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(plans, args.commit))
    print(f"Comment written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
