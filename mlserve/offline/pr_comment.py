"""The pull-request comment and verdict: the head's offline plan judged by THIS checkout's pack.

    python -m mlserve.offline.pr_comment --base build --head pr/plans --stacks dev prod \\
        --changed-files pr/changed-files --tests-status pr/test-status --out build/pr-comment/comment.md

In CI (pr-comment.yml) this runs from the pull request's BASE commit, never from the pull request:
`--base` holds the base's own `plan-<stack>.json` (its `make preview`), `--head` the plans the pull
request's run uploaded, read as data and judged again here (mlserve/offline/judge.py) with this
checkout's pack and `policies/config/<stack>.json`. The comment opens with what a reviewer must
see first: a failing `make test`, a missing plan, and any change under `policies/` (the pack
that judges is the base's, whatever the pull request changes). Per stack: what is added, changed
(each input `old -> new`, secrets masked) and removed, every violation, and the monthly cost at
minimum and maximum size with the change of both. `--verdict-out` gets "success" or "failure" and a
one-line description for the commit status. The first line is the marker pr-comment.yml uses to
find its own comment.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mlserve.offline import plan_diff
from mlserve.offline.judge import Judged, judge
from mlserve.offline.pack import CONFIG_DIR

MARKER = "<!-- mlserve-preview -->"
MAX_LISTED = 40  # resources listed per section; GitHub comments stop at 65,536 characters
MAX_CHANGES = 12  # changed inputs listed per resource
POLICY_DIR = "policies/"


def _safe(text: Any) -> str:
    """Text from the pull request (resource names, file paths, messages quoting values) as inert
    Markdown: no code-span or table breaks, no line breaks, no @-mentions."""
    return (str(text).replace("`", "'").replace("|", "/").replace("\n", " ").replace("\r", " ")
            .replace("@", "@\u200b").replace("<", "&lt;"))


def load(path: Path) -> dict[str, Any] | None:
    """A plan JSON, or None where there is none or it is not JSON."""
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except ValueError:
        return None


def _money(value: float) -> str:
    return f"${value:,.2f}"


def _delta(head: float | None, base: float | None) -> str:
    if base is None or head is None:
        return "new"
    change = head - base
    return "no change" if abs(change) < 0.005 else f"{'+' if change > 0 else '-'}{_money(abs(change))}"


def _verdict(policy: dict[str, Any] | None) -> str:
    if not policy:
        return "❌ not judged"
    icon = "❌" if policy["mandatory"] else ("⚠️" if policy["advisory"] else "✅")
    return f"{icon} {policy['passed']}/{policy['rulesRun']} passed, {policy['mandatory']} mandatory, {policy['advisory']} advisory"


def _listing(title: str, rows: list[plan_diff.ResourceChange]) -> list[str]:
    if not rows:
        return []
    lines = [f"**{title} ({len(rows)})**", ""]
    for row in rows[:MAX_LISTED]:
        lines.append(f"- `{_safe(row.type)}` **{_safe(row.name)}**")
        for change in row.changes[:MAX_CHANGES]:
            lines.append(f"  - `{_safe(change.path)}`: `{change.old}` → `{change.new}`")
        if len(row.changes) > MAX_CHANGES:
            lines.append(f"  - ... and {len(row.changes) - MAX_CHANGES} more inputs")
    if len(rows) > MAX_LISTED:
        lines.append(f"- ... and {len(rows) - MAX_LISTED} more (see the run's plan artifact)")
    return [*lines, ""]


def _cost_lines(estimate: dict[str, Any], base_cost: dict[str, Any] | None) -> list[str]:
    old = {(l["category"], l["item"]): l for l in (base_cost or {}).get("lines", [])}
    lines = [f"**Estimated monthly cost** ({estimate['region']}, prices as of {estimate['pricesAsOf']})", "",
             "| Item | At min size | At max size | Change (min) | Change (max) |", "|---|---:|---:|---:|---:|"]
    for line in estimate["lines"]:
        previous = old.get((line["category"], line["item"])) or {}
        lines.append(f"| {_safe(line['category'])}: {_safe(line['item'])} ({_safe(line['detail'])}) | {_money(line['monthlyMin'])} | "
                     f"{_money(line['monthlyMax'])} | {_delta(line['monthlyMin'], previous.get('monthlyMin'))} | "
                     f"{_delta(line['monthlyMax'], previous.get('monthlyMax'))} |")
    gone = [key for key in old if key not in {(l["category"], l["item"]) for l in estimate["lines"]}]
    for category, item in gone:
        lines.append(f"| {_safe(category)}: {_safe(item)} (removed) | - | - | -{_money(old[(category, item)]['monthlyMin'])} | "
                     f"-{_money(old[(category, item)]['monthlyMax'])} |")
    base_cost = base_cost or {}
    lines.append(f"| **total** | **{_money(estimate['monthlyMin'])}** | **{_money(estimate['monthlyMax'])}** | "
                 f"**{_delta(estimate['monthlyMin'], base_cost.get('monthlyMin'))}** | "
                 f"**{_delta(estimate['monthlyMax'], base_cost.get('monthlyMax'))}** |")
    lines += ["", "Assumptions: " + "; ".join(map(_safe, estimate["assumptions"])) + "."]
    if estimate.get("unpriced"):
        lines.append("Not priced: " + ", ".join(map(_safe, estimate["unpriced"])) + ".")
    return lines


def stack_section(stack: str, base: dict[str, Any] | None, judged: Judged) -> list[str]:
    head = judged.plan
    if head is None:
        return [f"<details open><summary><b>{stack}</b>: ❌ no verdict</summary>", "", f"_{judged.error}._", "", "</details>", ""]
    changes = plan_diff.diff(base, head)
    policy, estimate = head["policy"], head.get("cost") or {}
    lines = [f"<details{' open' if policy['mandatory'] else ''}><summary><b>{stack}</b>: "
             f"+{len(changes['added'])} ~{len(changes['changed'])} -{len(changes['removed'])}, {_verdict(policy)}</summary>", ""]
    if base is None:
        lines += ["_No base plan for this stack: every resource counts as added._", ""]
    if not any(changes.values()):
        lines += ["No resource changes against the base branch.", ""]
    lines += _listing("Added", changes["added"]) + _listing("Changed", changes["changed"]) + _listing("Removed", changes["removed"])
    if policy["violations"]:
        lines += ["**Policy violations**", "", "| Level | Rule | Resource | How to fix |", "|---|---|---|---|"]
        for v in sorted(policy["violations"], key=lambda v: (v["level"] != "mandatory", v["rule"])):
            where = f"`{_safe(v['resourceType'])}` {_safe(v['resourceName'])}" if v.get("resourceType") else "(stack)"
            lines.append(f"| {v['level']} | `{v['rule']}` | {where} | {_safe(v['message'])} |")
        lines.append("")
    if estimate.get("lines"):
        lines += _cost_lines(estimate, (base or {}).get("cost"))
    return [*lines, "", "</details>", ""]


def banners(*, tests_status: str | None, changed_files: list[str], run_conclusion: str | None, judged: list[Judged],
            base_commit: str) -> list[str]:
    """What a reviewer must read before anything else, most serious first."""
    lines = []
    if tests_status is None:
        lines.append("❌ **`make test` did not report**: the pull request's run stopped before it (see the run).")
    elif tests_status != "0":
        lines.append(f"❌ **`make test` failed** on this branch (exit status {tests_status}): see the run's log.")
    if tests_status == "0" and run_conclusion not in (None, "", "success"):
        lines.append(f"❌ The pull request's preview run ended `{run_conclusion}` (a step after `make test` failed: see the run).")
    for item in judged:
        if item.plan is None:
            lines.append(f"❌ **{item.stack}: no verdict**: {item.error}.")
    policy_files = [f for f in changed_files if f.startswith(POLICY_DIR)]
    if policy_files:
        shown = ", ".join(f"`{_safe(f)}`" for f in policy_files[:10]) + (f" and {len(policy_files) - 10} more" if len(policy_files) > 10 else "")
        judge_of = f"the base commit {base_commit[:12]}" if base_commit else "the base commit"
        lines.append(f"⚠️ **This pull request changes the policy pack** ({shown}). The verdict below comes from the "
                     f"pack and config of {judge_of}; the changed "
                     "rules judge pull requests only once merged. Review them as code that guards production.")
    return [*lines, ""] if lines else []


def render(plans: dict[str, tuple[dict[str, Any] | None, Judged]], *, commit: str = "", base_commit: str = "",
           tests_status: str | None = "0", changed_files: list[str] | None = None, run_conclusion: str | None = None) -> str:
    """The whole comment for {stack: (base plan or None, judged head)}."""
    judged = [j for _, j in plans.values()]
    lines = [MARKER, "## mlserve preview" + (f" for {commit[:12]}" if commit else ""), ""]
    lines += banners(tests_status=tests_status, changed_files=changed_files or [], run_conclusion=run_conclusion,
                     judged=judged, base_commit=base_commit)
    lines += ["| Stack | Resources | Added | Changed | Removed | Policies (base pack) | Monthly cost (min - max) | Change (min / max) |",
              "|---|---:|---:|---:|---:|---|---:|---:|"]
    for stack, (base, item) in plans.items():
        if item.plan is None:
            lines.append(f"| {stack} | - | - | - | - | ❌ not judged | - | - |")
            continue
        changes, estimate = plan_diff.diff(base, item.plan), item.plan.get("cost") or {}
        base_cost = (base or {}).get("cost") or {}
        lines.append(f"| {stack} | {item.plan['summary']['total']} | {len(changes['added'])} | {len(changes['changed'])} | "
                     f"{len(changes['removed'])} | {_verdict(item.plan['policy'])} | "
                     f"{_money(estimate.get('monthlyMin', 0))} - {_money(estimate.get('monthlyMax', 0))} | "
                     f"{_delta(estimate.get('monthlyMin'), base_cost.get('monthlyMin'))} / "
                     f"{_delta(estimate.get('monthlyMax'), base_cost.get('monthlyMax'))} |")
    judge_of = f"the base commit {base_commit[:12]}" if base_commit else "this checkout"
    lines += ["", "Offline plan of this branch's `__main__.py` under Pulumi mocks (`make preview`, no cloud credentials), "
              f"judged and priced by the policy pack and config of {judge_of} (docs/ci.md).", ""]
    for stack, (base, item) in plans.items():
        lines += stack_section(stack, base, item)
    return "\n".join(lines)


def verdict_line(plans: dict[str, tuple[dict[str, Any] | None, Judged]], tests_status: str | None) -> tuple[str, str]:
    """("success" | "failure", description of at most 140 characters) for the commit status."""
    problems = []
    if tests_status != "0":
        problems.append("make test failed" if tests_status is not None else "make test did not report")
    for stack, (_, item) in plans.items():
        if item.plan is None:
            problems.append(f"{stack}: no verdict")
        elif item.plan["policy"]["mandatory"]:
            problems.append(f"{stack}: {item.plan['policy']['mandatory']} mandatory violation(s)")
    if problems:
        return "failure", "; ".join(problems)[:140]
    return "success", ("base pack: " + ", ".join(f"{stack} {item.plan['policy']['passed']}/{item.plan['policy']['rulesRun']}"
                                                  for stack, (_, item) in plans.items()))[:140]


def _read(path: Path | None) -> str | None:
    return path.read_text().strip() if path is not None and path.is_file() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True, help="directory with the base commit's plan-<stack>.json")
    parser.add_argument("--head", type=Path, required=True, help="directory with the pull request's plan-<stack>.json (data)")
    parser.add_argument("--stacks", nargs="+", default=["dev", "prod"])
    parser.add_argument("--commit", default="", help="the pull request's head commit")
    parser.add_argument("--base-commit", default="", help="the commit whose pack judges")
    parser.add_argument("--policy-config-dir", type=Path, default=CONFIG_DIR, help="default: this checkout's policies/config")
    parser.add_argument("--changed-files", type=Path, help="the pull request's changed paths, one per line")
    parser.add_argument("--tests-status", type=Path, help="a file holding `make test`'s exit status (missing: it did not run)")
    parser.add_argument("--run-conclusion", default=None, help="the conclusion of the pull request's run")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--verdict-out", type=Path, help="gets 'success|failure' and a description, one per line")
    args = parser.parse_args(argv)
    plans = {stack: (load(args.base / f"plan-{stack}.json"), judge(stack, load(args.head / f"plan-{stack}.json"), args.policy_config_dir))
             for stack in args.stacks}
    tests_status = _read(args.tests_status) if args.tests_status else "0"
    changed = (_read(args.changed_files) or "").splitlines() if args.changed_files else []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(plans, commit=args.commit, base_commit=args.base_commit, tests_status=tests_status,
                               changed_files=changed, run_conclusion=args.run_conclusion))
    state, description = verdict_line(plans, tests_status)
    if args.verdict_out:
        args.verdict_out.write_text(f"{state}\n{description}\n")
    print(f"Comment written to {args.out}; verdict {state}: {description}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
