"""`make preview`: what `pulumi preview` would create, with no CLI, no AWS and no network.

Runs the real `__main__.py` for a stack in-process against the offline engine with the
stack file's config, prints a tree of every resource with a few key settings and the
totals, and writes the whole plan as JSON (for PR comments, policy checks, cost).
A settings error prints the loader's message and exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from mlserve.offline import engine
from mlserve.offline import verdict as preview_checks
from mlserve.offline.pack import PolicyConfigError
from mlserve.offline.routes import metrics_lines, route_lines
from mlserve.stack.settings import SettingsError
from policies.props import get

ROOT = Path(__file__).resolve().parents[2]

# Per type, the input paths worth a reviewer's glance (dotted, camelCase as recorded).
KEY_SETTINGS: dict[str, tuple[str, ...]] = {
    "pulumi:providers:aws": ("region",),
    "aws:ec2/vpc:Vpc": ("cidrBlock",),
    "aws:ec2/subnet:Subnet": ("availabilityZone", "cidrBlock", "mapPublicIpOnLaunch"),
    "aws:ec2/natGateway:NatGateway": ("connectivityType",),
    "aws:ec2/vpcEndpoint:VpcEndpoint": ("serviceName", "vpcEndpointType", "privateDnsEnabled"),
    "aws:ec2/flowLog:FlowLog": ("trafficType", "logDestinationType"),
    "aws:ec2/launchTemplate:LaunchTemplate": ("metadataOptions.httpTokens", "metadataOptions.httpPutResponseHopLimit"),
    "aws:cloudwatch/logGroup:LogGroup": ("name", "retentionInDays"),
    "aws:kms/key:Key": ("enableKeyRotation", "deletionWindowInDays"),
    "aws:ecr/repository:Repository": ("name", "imageTagMutability", "imageScanningConfiguration.scanOnPush", "forceDelete"),
    "aws:eks/cluster:Cluster": (
        "name", "version", "upgradePolicy.supportType", "vpcConfig.endpointPublicAccess", "vpcConfig.publicAccessCidrs",
        "accessConfig.authenticationMode", "enabledClusterLogTypes", "deletionProtection",
    ),
    "aws:eks/nodeGroup:NodeGroup": ("amiType", "version", "releaseVersion", "capacityType", "instanceTypes", "scalingConfig"),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": ("fromPort", "cidrIpv4", "referencedSecurityGroupId"),
    "aws:eks/accessEntry:AccessEntry": ("principalArn",),
    "aws:eks/addon:Addon": ("addonName", "addonVersion"),
    "kubernetes:helm.sh/v3:Release": ("chart", "version", "namespace"),
    "aws:s3/bucket:Bucket": ("bucket", "forceDestroy"),
    "aws:s3/bucketObjectv2:BucketObjectv2": ("key",),
    "aws:cloudtrail/trail:Trail": ("name",),
    "aws:sagemaker/endpoint:Endpoint": (
        "name", "deploymentConfig.blueGreenUpdatePolicy.trafficRoutingConfiguration.type",
        "deploymentConfig.blueGreenUpdatePolicy.trafficRoutingConfiguration.waitIntervalInSeconds",
    ),
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": ("namePrefix", "dataCaptureConfig.initialSamplingPercentage"),
    "aws:sagemaker/model:Model": ("primaryContainer.modelDataUrl", "enableNetworkIsolation"),
    "aws:appautoscaling/target:Target": ("resourceId", "minCapacity", "maxCapacity"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("name", "threshold", "actionsEnabled"),
    "aws:sns/topic:Topic": ("name",),
    "aws:cloudwatch/dashboard:Dashboard": ("dashboardName",),
    "kubernetes:autoscaling/v2:HorizontalPodAutoscaler": ("spec.minReplicas", "spec.maxReplicas"),
    "kubernetes:keda.sh/v1alpha1:ScaledObject": ("spec.minReplicaCount", "spec.maxReplicaCount"),
    "kubernetes:flagger.app/v1beta1:Canary": ("spec.targetRef.name", "spec.autoscalerRef.name", "spec.analysis.interval",
                                              "spec.analysis.stepWeight", "spec.analysis.maxWeight",
                                              "spec.analysis.threshold"),
    "kubernetes:storage.k8s.io/v1:StorageClass": ("parameters.type", "parameters.encrypted"),
    "kubernetes:policy/v1:PodDisruptionBudget": ("spec.maxUnavailable",),
    "docker:index/image:Image": ("imageName",),
}


def _show(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _order(resource: engine.RecordedResource) -> tuple[str, str]:
    # Registration order varies from run to run (outputs resolve concurrently); a sorted plan
    # diffs cleanly between two pull requests.
    return resource.type, resource.name


def render_tree(plan: engine.Plan) -> list[str]:
    """One line per resource, children indented under their component, sorted by type and name."""
    lines: list[str] = []

    def walk(parent: str, depth: int) -> None:
        for resource in sorted(plan.children(parent), key=_order):
            keys = KEY_SETTINGS.get(resource.type, ())
            settings = [f"{k.rsplit('.', 1)[-1]}={_show(v)}" for k in keys if (v := get(resource.inputs, k)) is not None]
            lines.append(f"{'  ' * depth}+ {resource.type}  {resource.name}" + (f"  ({', '.join(settings)})" if settings else "")
                         + ("  [protected]" if resource.protect else ""))
            walk(resource.urn, depth + 1)

    walk("", 0)
    return lines


def summary(plan: engine.Plan) -> dict[str, int]:
    counts = Counter("component" if not r.custom else r.package for r in plan.resources)
    return {"total": len(plan.resources), **dict(sorted(counts.items()))}


def to_json(plan: engine.Plan) -> dict[str, Any]:
    """The plan as data: everything the pack reads (inputs, outputs, options, provider, dependencies),
    so another checkout's pack can judge it without running this program (`from_json`)."""
    return {
        "stack": plan.stack,
        "summary": summary(plan),
        "resources": [
            {"urn": r.urn, "type": r.type, "name": r.name, "parent": r.parent, "provider": r.provider,
             "custom": r.custom, "id": r.id, "inputs": r.inputs, "outputs": r.outputs, "protect": r.protect,
             "deleteBeforeReplace": r.delete_before_replace, "ignoreChanges": r.ignore_changes,
             "dependencies": r.dependencies, "propertyDependencies": r.property_dependencies,
             "secretInputs": r.secret_inputs}
            for r in sorted(plan.resources, key=lambda r: r.urn)
        ],
        "exports": plan.exports,
    }


def from_json(data: dict[str, Any]) -> engine.Plan:
    """A plan JSON (`to_json`, e.g. from a pull request's artifact) back as a Plan, read as data only.
    Raises ValueError naming the first malformed resource."""
    if not isinstance(data, dict) or not isinstance(data.get("resources"), list):
        raise ValueError("not a plan: no 'resources' list")
    resources = []
    for index, r in enumerate(data["resources"]):
        try:
            resources.append(engine.RecordedResource(
                urn=str(r["urn"]), type=str(r["type"]), name=str(r["name"]), inputs=dict(r["inputs"]),
                outputs=dict(r.get("outputs") or r["inputs"]), parent=str(r.get("parent") or ""),
                provider=str(r.get("provider") or ""), custom=bool(r.get("custom", True)), id=str(r.get("id") or ""),
                protect=bool(r.get("protect")), delete_before_replace=bool(r.get("deleteBeforeReplace")),
                ignore_changes=[str(p) for p in r.get("ignoreChanges") or []],
                dependencies=[str(u) for u in r.get("dependencies") or []],
                property_dependencies={str(key): [str(u) for u in urns]
                                       for key, urns in (r.get("propertyDependencies") or {}).items()},
                secret_inputs=[str(p) for p in r.get("secretInputs") or []]))
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"resource {index} of the plan is malformed: {error!r}") from error
    return engine.Plan(stack=str(data.get("stack", "")), resources=resources, exports=dict(data.get("exports") or {}))


def build(stack: str, program: Path = ROOT / "__main__.py", stack_file: Path | None = None) -> engine.Plan:
    """Run the program for `stack` with its stack file's config (raises SettingsError, or
    engine.StackFileError for a file that is not YAML). Messages name the file read: a
    `stack_file` given is named as given."""
    default = program.parent / f"Pulumi.{stack}.yaml"
    stack_file = stack_file or default
    if not stack_file.exists():
        raise FileNotFoundError(f"no stack file {stack_file}; stacks here: "
                                f"{sorted(p.name for p in program.parent.glob('Pulumi.*.yaml'))}")
    named = None if stack_file == default else str(stack_file)
    return engine.run_program(program, stack=stack, config=engine.stack_config(stack_file), stack_file=named)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--json-out", type=Path, help="default: build/plan-<stack>.json")
    parser.add_argument("--stack-file", type=Path, help="default: Pulumi.<stack>.yaml beside __main__.py")
    parser.add_argument("--policy-config", type=Path, help="default: policies/config/<stack>.json")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    try:
        plan = build(args.stack, stack_file=args.stack_file)
    except (SettingsError, engine.StackFileError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started

    print(f"Offline plan for stack '{args.stack}' (the real __main__.py under Pulumi mocks; no cloud calls)\n")
    print("\n".join(render_tree(plan)))
    routes = route_lines(plan)
    if routes:
        print("\n" + "\n".join(routes))
    metrics = metrics_lines(plan)
    if metrics:
        print("\n" + "\n".join(metrics))
    counts = summary(plan)
    detail = ", ".join(f"{n} {kind}" for kind, n in counts.items() if kind != "total")
    print(f"\n{counts['total']} resources to create ({detail}) in {elapsed:.1f}s")
    print("Outputs: " + ", ".join(sorted(plan.exports)))

    # The plan is written before the pack runs, so another checkout's pack can judge it even when
    # this one's fails (mlserve/offline/judge.py), then again with this pack's verdict and cost.
    out = args.json_out or ROOT / "build" / f"plan-{args.stack}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(to_json(plan), indent=2, sort_keys=True, default=str))
    try:
        checks = preview_checks.evaluate(plan, args.policy_config or ROOT / "policies" / "config" / f"{args.stack}.json")
    except (PolicyConfigError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    out.write_text(json.dumps({**to_json(plan), **checks.to_json()}, indent=2, sort_keys=True, default=str))
    print(f"Plan written to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    print("\n" + "\n".join(checks.lines(args.stack)))
    if checks.failed:
        print(f"error: {checks.report.count('mandatory')} mandatory policy violation(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
