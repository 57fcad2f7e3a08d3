"""`python -m mlserve.checks {smoke,status,gate}`: see mlserve/checks/__init__.py and the README.

Values come from flags or from the stack outputs (`pulumi stack output --json -s prod > outputs.json`,
then `--stack-outputs outputs.json`): `sagemaker_endpoint_name`, `alarm_names`, `ingress_url`, and
under `rollout.mode: automatic` `canary` with `kubeconfig`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from mlserve.checks import CheckError, ExitCode
from mlserve.checks.aws import Clients
from mlserve.checks.canary import KubernetesReader, canary_state, wait_for_canary
from mlserve.checks.gate import Deployed, gate
from mlserve.checks.smoke import smoke_eks, smoke_sagemaker
from mlserve.checks.status import status_lines
from mlserve.checks.targets import pick, read_outputs, sample_rows


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m mlserve.checks", description="Post-deploy checks of an mlserve stack.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--stack-outputs", help="JSON from `pulumi stack output --json`")
    common.add_argument("--region", default=None, help="AWS region (default: AWS_REGION / the profile's)")
    common.add_argument("--canary", help="'<namespace>/<name>' of the EKS Canary (output canary; rollout.mode automatic)")
    common.add_argument("--kubeconfig", help="kubeconfig file for the Canary (default: the output kubeconfig)")
    sub = top.add_subparsers(dest="command", required=True)

    smoke = sub.add_parser("smoke", parents=[common], help="send the sample rows and check the answer")
    smoke.add_argument("--target", choices=["sagemaker", "eks"], required=True)
    smoke.add_argument("--sample", required=True, help="sample.json, an artifact directory, or s3://<store>/models/<name>/<version>/")
    smoke.add_argument("--track", choices=["stable", "canary"], default="stable",
                       help="the variant (SageMaker) or track (EKS, via the canary header) to check")
    smoke.add_argument("--expect-version", help="the model version that must answer (e.g. 3)")
    smoke.add_argument("--endpoint", help="SageMaker endpoint name (output sagemaker_endpoint_name)")
    smoke.add_argument("--url", help="EKS ingress base URL (output ingress_url)")

    status = sub.add_parser("status", parents=[common], help="endpoint variants and alarm states")
    status.add_argument("--endpoint", help="SageMaker endpoint name (output sagemaker_endpoint_name); omit for EKS only")
    status.add_argument("--alarm-prefix", help="instead of the outputs' alarm_names: every alarm named from it")

    gate_ = sub.add_parser("gate", parents=[common],
                           help="wait for an automatic EKS rollout and the deployed endpoint, then for the alarms to stay OK")
    gate_.add_argument("--alarm-prefix", help="instead of the outputs' alarm_names: every alarm named from it")
    gate_.add_argument("--endpoint", help="SageMaker endpoint (output sagemaker_endpoint_name); none: alarms only")
    gate_.add_argument("--endpoint-config", help="the configuration it must be on (output sagemaker_endpoint_config_name)")
    gate_.add_argument("--timeout", type=float, default=900.0, help="seconds to wait in all (default 900)")
    gate_.add_argument("--window", type=float, default=300.0,
                       help="seconds every alarm must stay OK, with data, in a row (default 300)")
    gate_.add_argument("--poll", type=float, default=30.0, help="seconds between checks (default 30)")
    return top


def _alarm_names(args: argparse.Namespace, outputs: dict) -> list[str]:
    if args.alarm_prefix is not None:
        return []
    return list(pick(None, outputs, "alarm_names", "--alarm-prefix"))


def run(args: argparse.Namespace, clients: Clients | None = None) -> str:
    outputs = read_outputs(args.stack_outputs)
    make_clients = (lambda: clients) if clients is not None else (lambda: Clients(args.region or _default_region()))
    if args.command == "smoke":
        rows = sample_rows(args.sample)
        if args.target == "eks":
            return smoke_eks(pick(args.url, outputs, "ingress_url", "--url"), track=args.track, rows=rows,
                             expected_version=args.expect_version)
        return smoke_sagemaker(make_clients(), endpoint=pick(args.endpoint, outputs, "sagemaker_endpoint_name", "--endpoint"),
                               variant=args.track, rows=rows, expected_version=args.expect_version)
    names = _alarm_names(args, outputs)
    canary = args.canary if args.canary is not None else outputs.get("canary")
    reader = _reader(args, outputs) if canary else None
    if args.command == "status":
        endpoint = args.endpoint if args.endpoint is not None else outputs.get("sagemaker_endpoint_name")
        lines = [canary_state(reader, canary).line()] if reader else []
        return "\n".join(lines + status_lines(make_clients(), endpoint=endpoint, names=names, prefix=args.alarm_prefix))
    lines, timeout_s = [], args.timeout
    if reader:  # the automatic EKS rollout first: its alarms mean nothing before the new version is live
        started = time.monotonic()
        lines.append(wait_for_canary(reader, canary, timeout_s=timeout_s, poll_s=args.poll))
        timeout_s = max(0.0, timeout_s - (time.monotonic() - started))
    lines.append(gate(make_clients(), names=names, prefix=args.alarm_prefix, timeout_s=timeout_s, poll_s=args.poll,
                      window_s=args.window, deployed=_deployed(args, outputs)))
    return "\n".join(lines)



def _reader(args: argparse.Namespace, outputs: dict) -> KubernetesReader:
    if args.kubeconfig is not None:
        try:
            return KubernetesReader(Path(args.kubeconfig).read_text())
        except OSError as error:
            raise CheckError(ExitCode.USAGE, f"--kubeconfig {args.kubeconfig}: {error.strerror}") from None
    return KubernetesReader(pick(None, outputs, "kubeconfig", "--kubeconfig"))


def _deployed(args: argparse.Namespace, outputs: dict) -> Deployed | None:
    """What the gate waits for on SageMaker: flags first, else the stack outputs; None without an endpoint."""
    endpoint = args.endpoint if args.endpoint is not None else outputs.get("sagemaker_endpoint_name")
    if endpoint is None:
        return None
    from_outputs = args.endpoint is None  # the archives are the stack's only when the endpoint is too
    config = args.endpoint_config if args.endpoint_config is not None else (
        outputs.get("sagemaker_endpoint_config_name") if from_outputs else None)
    archives = outputs.get("model_archive_uris") if from_outputs else None
    return Deployed(endpoint=endpoint, config_name=config, model_archives=archives)


def _default_region() -> str:
    import boto3

    region = boto3.session.Session().region_name
    if not region:
        raise CheckError(ExitCode.USAGE, "no AWS region: pass --region or set AWS_REGION")
    return region


def main(argv: Sequence[str] | None = None, clients: Clients | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        print(run(args, clients))
    except CheckError as error:
        print(f"mlserve.checks {args.command}: {error}", file=sys.stderr)
        return int(error.code)
    return int(ExitCode.OK)


if __name__ == "__main__":
    sys.exit(main())
