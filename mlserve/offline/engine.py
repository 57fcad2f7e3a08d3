"""The offline engine: runs a Pulumi program in-process against Pulumi's own mock monitor.

`make preview` and the tests both go through `run_program`, so what the plan prints and
what the tests assert come from the same run of the same `__main__.py` that `pulumi up`
executes. Nothing here talks to AWS, Kubernetes or the Pulumi CLI.

Every registration is recorded with its type, name, inputs (camelCase keys, numbers as
floats: that is how the engine serialises them), parent and provider. Outputs the real
provider would compute (ARNs, endpoints, OIDC issuers) are faked in `_fake_outputs` so
programs that read them keep flowing; see
https://www.pulumi.com/docs/iac/guides/testing/unit/ for the mechanism.
"""

from __future__ import annotations

import asyncio
import json
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

FAKE_ACCOUNT_ID = "123456789012"
# Who runs the offline `pulumi up`: a deploy role assumed through STS, as a CI runner or SSO
# user is. GetCallerIdentity reports the session ARN, never the role's IAM ARN.
FAKE_DEPLOY_ROLE = "mlserve-deployer"
FAKE_CALLER_ARN = f"arn:aws:sts::{FAKE_ACCOUNT_ID}:assumed-role/{FAKE_DEPLOY_ROLE}/offline"
PROJECT = "mlserve"


@dataclass
class RecordedResource:
    """One resource the program registered."""

    urn: str
    type: str
    name: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    parent: str  # the parent's URN ("" for the stack's direct children)
    provider: str  # "urn::id" of the explicit provider, "" for the default one
    custom: bool
    id: str
    protect: bool = False
    """Pulumi's `protect` option: the engine refuses to delete the resource (`pulumi destroy` fails)."""
    delete_before_replace: bool = False
    """Pulumi's `delete_before_replace` option (resources whose fixed physical name a replacement would reuse)."""
    ignore_changes: list[str] = field(default_factory=list)
    """Input paths the engine leaves alone after creation (`ignore_changes`)."""
    dependencies: list[str] = field(default_factory=list)
    """URNs this resource waits for: explicit `depends_on` plus the resources its inputs came from."""
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    """Per input (camelCase), the URNs of the resources its value came from (a flow log's `vpcId` -> the VPC)."""

    @property
    def package(self) -> str:
        """The provider package: "aws", "kubernetes", "mlserve" (components) ..."""
        return self.type.split(":", 1)[0]


@dataclass
class Plan:
    """What a program run declared, in registration order."""

    stack: str
    resources: list[RecordedResource] = field(default_factory=list)
    exports: dict[str, Any] = field(default_factory=dict)

    def of_type(self, type_token: str) -> list[RecordedResource]:
        """All resources of one type token, e.g. "aws:eks/nodeGroup:NodeGroup"."""
        return [r for r in self.resources if r.type == type_token]

    def one(self, type_token: str, name: str | None = None) -> RecordedResource:
        """The single resource of a type (and name); fails loudly when there is not exactly one."""
        found = [r for r in self.of_type(type_token) if name is None or r.name == name]
        if len(found) != 1:
            names = [r.name for r in self.of_type(type_token)]
            raise LookupError(f"expected one {type_token} named {name!r}, found {len(found)} among {names}")
        return found[0]

    def children(self, parent_urn: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.parent == parent_urn]


class _RecordingMocks(pulumi_mocks.Mocks):
    def __init__(self, region: str) -> None:
        self.region = region

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict]:
        resource_id = args.resource_id or f"{args.name}-id"
        if args.typ == "aws:s3/bucket:Bucket":  # a bucket's id is its name
            resource_id = str(args.inputs.get("bucket") or resource_id)
        if args.resource_id and args.typ == "kubernetes:core/v1:Service":  # Service.get: a read
            return resource_id, _read_service(args.resource_id, self.region)
        return resource_id, _fake_outputs(args.typ, args.name, dict(args.inputs), self.region)

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict, list]:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": FAKE_ACCOUNT_ID, "arn": FAKE_CALLER_ARN,
                    "userId": "AROAOFFLINEDEPLOYER:offline", "id": FAKE_ACCOUNT_ID}, []
        if args.token == "aws:iam/getSessionContext:getSessionContext":
            return _session_context(str(args.args["arn"])), []
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}, []
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": self.region, "region": self.region, "id": self.region}, []
        if args.token == "aws:ecr/getAuthorizationToken:getAuthorizationToken":
            return _ecr_authorization_token(str(args.args.get("registryId") or FAKE_ACCOUNT_ID), self.region), []
        # An unfaked call would resolve to empty values and hide a broken plan: refuse it.
        raise NotImplementedError(
            f"the offline engine has no fake for data source {args.token}; add one to mlserve/offline/engine.py"
        )


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    """Pulumi's MockMonitor, plus the parent, provider and resource options of each registration
    (protect, delete-before-replace, ignore_changes, dependencies), read from the RegisterResource
    request exactly as the real engine receives them."""

    def __init__(self, mocks: pulumi_mocks.Mocks, plan: Plan) -> None:
        super().__init__(mocks)
        self.plan = plan

    def RegisterResource(self, request):  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            state = self.resources[response.urn].state
            inputs = pulumi.runtime.rpc.deserialize_properties(request.object)
            self.plan.resources.append(
                RecordedResource(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    inputs=_plain(inputs),
                    outputs=_plain(state),
                    parent="" if "::pulumi:pulumi:Stack::" in request.parent else request.parent,
                    provider=request.provider,
                    custom=bool(request.custom),
                    id=response.id,
                    protect=bool(request.protect),
                    delete_before_replace=bool(request.deleteBeforeReplace),
                    ignore_changes=sorted(request.ignoreChanges),
                    dependencies=sorted(set(request.dependencies)),
                    property_dependencies={key: sorted(set(value.urns))
                                           for key, value in request.propertyDependencies.items() if value.urns},
                )
            )
        return response


def _session_context(arn: str) -> dict[str, Any]:
    """What `aws.iam.get_session_context` returns: for an STS assumed-role ARN the IAM role it came
    from (the provider reads the role's path with iam:GetRole; the fake roles have none), for any
    other ARN the ARN itself with empty issuer fields.
    https://www.pulumi.com/registry/packages/aws/api-docs/iam/getsessioncontext/"""
    parts = arn.split(":", 5)
    resource = parts[5] if len(parts) == 6 else ""
    if parts[2:3] == ["sts"] and resource.startswith("assumed-role/"):
        _, role, session = resource.split("/", 2)
        return {"arn": arn, "id": arn, "issuerArn": f"arn:{parts[1]}:iam::{parts[4]}:role/{role}",
                "issuerId": "AROAOFFLINEDEPLOYER", "issuerName": role, "sessionName": session}
    return {"arn": arn, "id": arn, "issuerArn": arn, "issuerId": "", "issuerName": "", "sessionName": ""}


def _ecr_authorization_token(registry_id: str, region: str) -> dict[str, Any]:
    """What `aws.ecr.get_authorization_token` returns: user "AWS", a password, and the token as
    base64("AWS:<password>"), valid 12 hours, for the registry's endpoint.
    https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_GetAuthorizationToken.html"""
    import base64

    password = "offline-ecr-password"
    return {"authorizationToken": base64.b64encode(f"AWS:{password}".encode()).decode(), "userName": "AWS",
            "password": password, "expiresAt": "2026-01-01T12:00:00Z", "registryId": registry_id,
            "proxyEndpoint": f"https://{registry_id}.dkr.ecr.{region}.amazonaws.com", "id": region, "region": region}


def _read_service(resource_id: str, region: str) -> dict[str, Any]:
    """A LoadBalancer Service read back once the AWS Load Balancer Controller provisioned its NLB:
    the NLB's DNS name in `status.loadBalancer.ingress[0].hostname` ("k8s-<ns>-<name>-<hash>.elb...").
    https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/service/nlb/"""
    import hashlib

    namespace, _, name = resource_id.rpartition("/")
    suffix = hashlib.sha256(resource_id.encode()).hexdigest()[:10]
    hostname = f"k8s-{namespace[:8]}-{name[:8]}-{suffix}.elb.{region}.amazonaws.com"
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace or "default"},
            "spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {"ingress": [{"hostname": hostname}]}}}


def _docker_image(inputs: dict[str, Any]) -> dict[str, Any]:
    """What pulumi-docker reports for a pushed image: `repoDigest` is "<repository>@sha256:<64 hex>",
    the registry's manifest digest (here a hash of what was built, so a changed build changes it)."""
    import hashlib

    image_name = str(inputs.get("imageName", ""))
    repository = image_name.rsplit(":", 1)[0] if ":" in image_name.rsplit("/", 1)[-1] else image_name
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()
    return {**inputs, "baseImageName": image_name, "repoDigest": f"{repository}@sha256:{digest}",
            "registryServer": repository.split("/", 1)[0], "context": inputs.get("build", {}).get("context", ""),
            "dockerfile": inputs.get("build", {}).get("dockerfile", "")}


def _plain(value: Any) -> Any:
    """Drop the engine's secret/unknown wrappers so plans compare and serialise as plain data."""
    if isinstance(value, dict):
        if value.get("4dabf18193072939515e22adb298388d") == "1b47061264138c4ac30d75fd1eb44270":
            return _plain(value.get("value"))
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, pulumi.Resource):
        return f"<resource {type(value).__name__}>"
    if isinstance(value, pulumi.FileAsset):  # an uploaded file (model store objects): which one
        return {"fileAsset": str(value.path)}
    return value


def _fake_outputs(type_token: str, name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    """What AWS would report back for a new resource, as far as this program reads it."""
    state = dict(inputs)
    package, module_and_type = type_token.split(":", 1)[0], type_token.split(":", 1)[-1]
    if type_token == "docker:index/image:Image":
        return _docker_image(inputs)
    if type_token == "kubernetes:helm.sh/v3:Release":
        # What the provider reports once installed (helm.v3.ReleaseStatus): the release's name and namespace.
        state["status"] = {"name": inputs.get("name", name), "namespace": inputs.get("namespace", "default"),
                           "chart": inputs.get("chart"), "version": inputs.get("version"), "revision": 1,
                           "status": "deployed"}
    if package != "aws":
        return state
    service = module_and_type.split("/", 1)[0]
    physical = inputs.get("name") or inputs.get("namePrefix") or name
    state.setdefault("arn", f"arn:aws:{service}:{region}:{FAKE_ACCOUNT_ID}:{physical}")
    state.setdefault("tagsAll", inputs.get("tags", {}))
    if type_token == "aws:eks/cluster:Cluster":
        state.setdefault("name", physical)
        state.update(
            endpoint=f"https://{physical}.gr7.{region}.eks.amazonaws.com",
            certificateAuthority={"data": "Y2VydGlmaWNhdGU="},
            identities=[{"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/OFFLINE{physical.upper()}"}]}],
            vpcConfig={**inputs.get("vpcConfig", {}), "clusterSecurityGroupId": f"sg-{physical}-cluster"},
            status="ACTIVE",
        )
    elif type_token == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
        state["arn"] = f"arn:aws:iam::{FAKE_ACCOUNT_ID}:oidc-provider/{str(inputs.get('url', '')).removeprefix('https://')}"
    elif type_token in ("aws:iam/role:Role", "aws:iam/policy:Policy"):
        kind = type_token.rsplit(":", 1)[-1].lower()
        state.setdefault("name", physical)
        state["arn"] = f"arn:aws:iam::{FAKE_ACCOUNT_ID}:{kind}/{physical}"
    elif type_token == "aws:kms/key:Key":
        state.update(keyId=f"{name}-key-id", arn=f"arn:aws:kms:{region}:{FAKE_ACCOUNT_ID}:key/{name}-key-id")
    elif type_token == "aws:ecr/repository:Repository":
        state.setdefault("name", physical)
        state["repositoryUrl"] = f"{FAKE_ACCOUNT_ID}.dkr.ecr.{region}.amazonaws.com/{physical}"
        state["registryId"] = FAKE_ACCOUNT_ID
    elif type_token == "aws:s3/bucket:Bucket":
        # S3 ARNs carry neither region nor account: https://docs.aws.amazon.com/AmazonS3/latest/userguide/s3-arn-format.html
        bucket = inputs.get("bucket") or name
        state.update(bucket=bucket, arn=f"arn:aws:s3:::{bucket}", bucketDomainName=f"{bucket}.s3.amazonaws.com",
                     bucketRegionalDomainName=f"{bucket}.s3.{region}.amazonaws.com", region=region)
    elif type_token == "aws:ec2/vpc:Vpc":
        state.setdefault("defaultSecurityGroupId", f"sg-{name}-default")
        state.setdefault("mainRouteTableId", f"rtb-{name}-main")
    elif type_token == "aws:cloudwatch/logGroup:LogGroup":
        state.setdefault("name", physical)
    elif type_token == "aws:sagemaker/model:Model":
        # Auto-named: Pulumi adds a random suffix, a fresh one on each replacement (here: from the inputs).
        state.setdefault("name", f"{name}-{_digest(inputs)[:7]}")
        state["arn"] = f"arn:aws:sagemaker:{region}:{FAKE_ACCOUNT_ID}:model/{state['name']}"
    elif type_token == "aws:sagemaker/endpointConfiguration:EndpointConfiguration":
        # name_prefix + a unique suffix (the provider's id.PrefixedUniqueId: a timestamp and counter).
        state.setdefault("name", f"{inputs.get('namePrefix', name)}{_digest(inputs)[:26]}")
        state["arn"] = f"arn:aws:sagemaker:{region}:{FAKE_ACCOUNT_ID}:endpoint-config/{state['name']}"
    elif type_token == "aws:sagemaker/endpoint:Endpoint":
        state["arn"] = f"arn:aws:sagemaker:{region}:{FAKE_ACCOUNT_ID}:endpoint/{physical}"
    elif type_token == "aws:sns/topic:Topic":
        state["arn"] = f"arn:aws:sns:{region}:{FAKE_ACCOUNT_ID}:{physical}"
    elif type_token == "aws:cloudwatch/metricAlarm:MetricAlarm":
        state["arn"] = f"arn:aws:cloudwatch:{region}:{FAKE_ACCOUNT_ID}:alarm:{physical}"
    elif type_token == "aws:eks/nodeGroup:NodeGroup":
        state.setdefault("nodeGroupName", inputs.get("nodeGroupNamePrefix", name) + "-offline")
        state.setdefault("resources", [{"autoscalingGroups": [{"name": f"eks-{name}-asg"}]}])
    elif type_token == "aws:ec2/launchTemplate:LaunchTemplate":
        state.setdefault("latestVersion", 1)
        state.setdefault("resources", [{"autoscalingGroups": [{"name": f"eks-{name}-asg"}]}])
    return state


def _digest(inputs: dict[str, Any]) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()


def stack_config(stack_file: Path) -> dict[str, str]:
    """A stack file's `config:` block as the Pulumi CLI hands it to a program:
    every value a string, structured values as JSON."""
    import yaml

    document = yaml.safe_load(stack_file.read_text()) or {}
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise ValueError(f"{stack_file.name}: 'config' must be a mapping")
    return {key: _config_string(value) for key, value in config.items()}


def _config_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def run(
    program: Callable[[], None],
    *,
    stack: str,
    config: dict[str, str],
    preview: bool = False,
    plan: Plan | None = None,
) -> Plan:
    """Run `program` (a callable that declares resources) against the mock engine.

    Pass your own `plan` to inspect what was registered even when the program raises."""
    plan = plan if plan is not None else Plan(stack=stack)
    _ensure_open_event_loop()
    region = config.get("mlserve:region") or config.get("aws:region") or "us-east-1"
    pulumi_settings.reset_options(project=PROJECT, stack=stack, preview=preview)
    pulumi.runtime.set_all_config(dict(config), [])
    mocks = _RecordingMocks(region)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=preview, monitor=_RecordingMonitor(mocks, plan))
    root = pulumi_settings.get_root_resource()

    _sync_await(run_pulumi_func(program))
    plan.exports = {key: _resolve(value) for key, value in getattr(root, "outputs", {}).items()}
    return plan


def _ensure_open_event_loop() -> None:
    """Pulumi's runtime drives its RPCs on the thread's current event loop. Code that ran
    `asyncio.run` before us (a server in the same process, a test) leaves none, or a closed one."""
    try:
        if not asyncio.get_event_loop_policy().get_event_loop().is_closed():
            return
    except RuntimeError:
        pass
    asyncio.set_event_loop(asyncio.new_event_loop())


def _resolve(value: Any) -> Any:
    output = pulumi.Output.from_input(value)
    if _sync_await(output.is_secret()):
        return "[secret]"
    return _plain(_sync_await(output.future()))


def run_program(program_path: Path, *, stack: str, config: dict[str, str], preview: bool = False,
                plan: Plan | None = None) -> Plan:
    """Run a Pulumi program file (the real `__main__.py`) against the mock engine."""
    return run(lambda: runpy.run_path(str(program_path), run_name="__main__"), stack=stack, config=config,
               preview=preview, plan=plan)
