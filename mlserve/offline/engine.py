"""The offline engine: runs a Pulumi program in-process against Pulumi's own mock monitor.

`make preview` and the tests both go through `run_program`, so what the plan prints and
what the tests assert come from the same run of the same `__main__.py` that `pulumi up`
executes. Nothing here talks to AWS, Kubernetes or the Pulumi CLI.

Every registration is recorded with its type, name, inputs (camelCase keys, numbers as
floats: that is how the engine serialises them), parent and provider. Outputs the real
provider would compute (ARNs, endpoints, OIDC issuers) are faked in `fake_outputs` so
programs that read them keep flowing; see
https://www.pulumi.com/docs/iac/guides/testing/unit/ for the mechanism.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from mlserve.offline.aws_reads import OfflineSageMaker
from mlserve.offline.fakes import (  # noqa: F401
    FAKE_ACCOUNT_ID,
    FAKE_CALLER_ARN,
    FAKE_DEPLOY_ROLE,
    ecr_authorization_token,
    fake_outputs,
    published_object,
    read_service,
    session_context,
)
from mlserve.stack.settings.loader import STACK_FILE_ENV

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
    secret_inputs: list[str] = field(default_factory=list)
    """Dotted paths of the inputs the program marked secret (`Output.secret`): the PR comment masks them."""
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
            return resource_id, read_service(args.resource_id, self.region)
        return resource_id, fake_outputs(args.typ, args.name, dict(args.inputs), self.region)

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict, list]:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": FAKE_ACCOUNT_ID, "arn": FAKE_CALLER_ARN,
                    "userId": "AROAOFFLINEDEPLOYER:offline", "id": FAKE_ACCOUNT_ID}, []
        if args.token == "aws:iam/getSessionContext:getSessionContext":
            return session_context(str(args.args["arn"])), []
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}, []
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": self.region, "region": self.region, "id": self.region}, []
        if args.token == "aws:s3/getObject:getObject":
            return published_object(str(args.args["bucket"]), str(args.args["key"])), []
        if args.token == "aws:ecr/getAuthorizationToken:getAuthorizationToken":
            return ecr_authorization_token(str(args.args.get("registryId") or FAKE_ACCOUNT_ID), self.region), []
        # An unfaked call would resolve to empty values and hide a broken plan: refuse it.
        raise NotImplementedError(
            f"the offline engine has no fake for data source {args.token}; add one to mlserve/offline/fakes.py"
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
                    secret_inputs=_secret_paths(inputs),
                    property_dependencies={key: sorted(set(value.urns))
                                           for key, value in request.propertyDependencies.items() if value.urns},
                )
            )
        return response


_SECRET_SIG = ("4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270")  # pulumi.runtime.rpc


def _secret_paths(value: Any, path: str = "") -> list[str]:
    """Where the engine's secret wrapper sits in deserialized inputs, as dotted paths ("registry.password")."""
    if isinstance(value, dict):
        if value.get(_SECRET_SIG[0]) == _SECRET_SIG[1]:
            return [path]
        return [p for key, item in value.items() for p in _secret_paths(item, f"{path}.{key}" if path else str(key))]
    if isinstance(value, (list, tuple)):
        return [p for index, item in enumerate(value) for p in _secret_paths(item, f"{path}[{index}]")]
    return []


def _plain(value: Any) -> Any:
    """Drop the engine's secret/unknown wrappers so plans compare and serialise as plain data."""
    if isinstance(value, dict):
        if value.get(_SECRET_SIG[0]) == _SECRET_SIG[1]:
            return _plain(value.get("value"))
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, pulumi.Resource):
        return f"<resource {type(value).__name__}>"
    if isinstance(value, pulumi.FileAsset):  # an uploaded file (model store objects): which one
        return {"fileAsset": str(value.path)}
    return value


class StackFileError(ValueError):
    """A stack file that is not the YAML mapping Pulumi reads: one line, `file:line:column: problem`."""


def stack_config(stack_file: Path) -> dict[str, str]:
    """A stack file's `config:` block as the Pulumi CLI hands it to a program:
    every value a string, structured values as JSON. A YAML error is a StackFileError naming
    the file, line and column (PyYAML's marks count from 0; editors and this message from 1)."""
    import yaml

    try:
        document = yaml.safe_load(stack_file.read_text()) or {}
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{stack_file}:{mark.line + 1}:{mark.column + 1}" if mark else str(stack_file)
        problem = ": ".join(filter(None, [error.context, error.problem]))
        raise StackFileError(f"{where}: {problem or 'not valid YAML'}") from None
    except yaml.YAMLError as error:
        raise StackFileError(f"{stack_file}: not valid YAML ({error})") from None
    if not isinstance(document, dict):
        raise StackFileError(f"{stack_file}: a mapping with a 'config' key expected, not {type(document).__name__}")
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise StackFileError(f"{stack_file}: 'config' must be a mapping")
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
    project: str = PROJECT,
    stack_file: str | None = None,
    sagemaker: OfflineSageMaker | None = None,
) -> Plan:
    """Run `program` (a callable that declares resources) against the mock engine.

    Pass your own `plan` to inspect what was registered even when the program raises. `project`
    is the Pulumi project the program belongs to (the bootstrap program is its own project).
    `stack_file` is the file the config came from when it is not Pulumi.<stack>.yaml: settings
    messages name it (through $MLSERVE_STACK_FILE, for the duration of the run). The AWS reads the
    program makes itself (mlserve/stack/running.py) are answered by `sagemaker` (default: an
    account where no endpoint exists yet)."""
    if stack_file is not None:
        with _environment(STACK_FILE_ENV, stack_file):
            return run(program, stack=stack, config=config, preview=preview, plan=plan, project=project,
                       sagemaker=sagemaker)
    from mlserve.stack import running

    plan = plan if plan is not None else Plan(stack=stack)
    _ensure_open_event_loop()
    region = config.get(f"{project}:region") or config.get("mlserve:region") or config.get("aws:region") or "us-east-1"
    pulumi_settings.reset_options(project=project, stack=stack, preview=preview)
    pulumi.runtime.set_all_config(dict(config), [])
    mocks = _RecordingMocks(region)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=preview, monitor=_RecordingMonitor(mocks, plan))
    root = pulumi_settings.get_root_resource()

    account = sagemaker if sagemaker is not None else OfflineSageMaker(account=FAKE_ACCOUNT_ID, region=region)
    with running.client_factory(account.client):
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
                plan: Plan | None = None, project: str = PROJECT, stack_file: str | None = None,
                sagemaker: OfflineSageMaker | None = None) -> Plan:
    """Run a Pulumi program file (the real `__main__.py`, or `bootstrap/__main__.py` with
    project="mlserve-bootstrap") against the mock engine."""
    return run(lambda: runpy.run_path(str(program_path), run_name="__main__"), stack=stack, config=config,
               preview=preview, plan=plan, project=project, stack_file=stack_file, sagemaker=sagemaker)


@contextlib.contextmanager
def _environment(name: str, value: str):
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous
