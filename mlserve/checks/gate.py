"""gate: passes once the deployment is really done and healthy, or fails with its own exit code.

1. The SageMaker endpoint (when the stack has one) is InService on the configuration `pulumi up`
   deployed (`sagemaker_endpoint_config_name`), with each variant serving the model archive the
   stack declared for it (`model_archive_uris`). RollingBack, or InService on another
   configuration, is a rollback (ROLLED_BACK); Failed is NOT_READY; still Creating/Updating at the
   timeout is TIMEOUT.
2. Then every alarm of the stack has data and stays OK for `window_s` in a row. An alarm that does
   not exist fails at once naming it (NOT_FOUND); one still in ALARM at the timeout is ALARM; one
   without data (INSUFFICIENT_DATA), or a window not yet complete, at the timeout is TIMEOUT.

Endpoint states: https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeEndpoint.html#sagemaker-DescribeEndpoint-response-EndpointStatus
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from mlserve.checks import CheckError, ExitCode
from mlserve.checks.aws import Clients, call
from mlserve.checks.status import alarm_states

IN_PROGRESS = ("Creating", "Updating", "SystemUpdating")
BROKEN = ("Failed", "UpdateRollbackFailed", "OutOfService", "Deleting")


@dataclass(frozen=True)
class Deployed:
    """What `pulumi up` deployed to the endpoint (from the stack outputs or flags)."""

    endpoint: str
    config_name: str | None = None
    """The endpoint configuration the endpoint must be on; None: any."""
    model_archives: Mapping[str, str] | None = None
    """Variant -> the s3:// model archive it must serve; None: not checked."""


class _Clock:
    def __init__(self, timeout_s: float, sleep: Callable[[float], None], clock: Callable[[], float]) -> None:
        self.started, self.timeout_s, self._sleep, self.now = clock(), timeout_s, sleep, clock

    @property
    def left(self) -> float:
        return self.started + self.timeout_s - self.now()

    def waited(self) -> float:
        return self.now() - self.started

    def sleep(self, poll_s: float) -> None:
        self._sleep(max(0.0, min(poll_s, self.left)))


def gate(clients: Clients, *, names: Sequence[str], prefix: str | None, timeout_s: float, poll_s: float,
         window_s: float = 300.0, deployed: Deployed | None = None,
         sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> str:
    """Wait for the endpoint (if `deployed`), then for the alarms; returns the success line or raises CheckError."""
    timer = _Clock(timeout_s, sleep, clock)
    lines = []
    if deployed is not None:
        lines.append(_wait_for_endpoint(clients, deployed, timer, poll_s))
    lines.append(_wait_for_alarms(clients, names, prefix, timer, poll_s, window_s))
    return "gate passed: " + "; ".join(lines)


def _wait_for_endpoint(clients: Clients, deployed: Deployed, timer: _Clock, poll_s: float) -> str:
    name = deployed.endpoint
    while True:
        described = call(f"endpoint {name}", clients.sagemaker.describe_endpoint, EndpointName=name)
        status, config = described["EndpointStatus"], described.get("EndpointConfigName")
        if status == "RollingBack":
            raise CheckError(ExitCode.ROLLED_BACK, f"endpoint {name} is RollingBack: the deployment's alarms fired "
                                                   f"or it failed, and SageMaker is restoring the previous fleet")
        if status in BROKEN:
            reason = described.get("FailureReason")
            raise CheckError(ExitCode.NOT_READY, f"endpoint {name} is {status}" + (f": {reason}" if reason else ""))
        if status == "InService":
            if deployed.config_name is not None and config != deployed.config_name:
                raise CheckError(ExitCode.ROLLED_BACK, f"endpoint {name} is InService on configuration {config}, not "
                                                       f"the deployed {deployed.config_name}: the deployment rolled back")
            variants = [v["VariantName"] for v in described.get("ProductionVariants", [])]
            _check_versions(clients, name, config, variants, deployed.model_archives)
            return f"endpoint {name} InService on {config} (variants {', '.join(variants)})"
        if timer.left <= 0:
            raise CheckError(ExitCode.TIMEOUT, f"endpoint {name} still {status} after {timer.waited():g} s")
        timer.sleep(poll_s)


def _check_versions(clients: Clients, endpoint: str, config_name: str | None, variants: Sequence[str],
                    archives: Mapping[str, str] | None) -> None:
    """Each variant's model serves the archive the stack declared for that variant."""
    if not archives or config_name is None:
        return
    config = call(f"endpoint configuration {config_name}", clients.sagemaker.describe_endpoint_config,
                  EndpointConfigName=config_name)
    models = {v["VariantName"]: v["ModelName"] for v in config.get("ProductionVariants", [])}
    for variant in variants:
        expected = archives.get(variant)
        if expected is None:
            raise CheckError(ExitCode.WRONG_ANSWER, f"endpoint {endpoint} runs variant {variant!r}, which the stack "
                                                    f"did not deploy (stack variants: {sorted(archives)})")
        model = call(f"model {models.get(variant)}", clients.sagemaker.describe_model, ModelName=models.get(variant, ""))
        served = model.get("PrimaryContainer", {}).get("ModelDataUrl")
        if served != expected:
            raise CheckError(ExitCode.WRONG_ANSWER, f"endpoint {endpoint} variant {variant} serves {served}, not the "
                                                    f"deployed {expected}")


def _wait_for_alarms(clients: Clients, names: Sequence[str], prefix: str | None, timer: _Clock, poll_s: float,
                     window_s: float) -> str:
    ok_since: float | None = None
    while True:
        states = alarm_states(clients, names=names, prefix=prefix)  # NOT_FOUND naming any missing alarm
        not_ok = {name: state for name, state in states.items() if state != "OK"}
        now = timer.now()
        ok_since = (ok_since if ok_since is not None else now) if not not_ok else None
        if ok_since is not None and now - ok_since >= window_s:
            return f"{len(states)} alarms OK for {window_s:g} s"
        if timer.left <= 0:
            firing = sorted(name for name, state in not_ok.items() if state == "ALARM")
            if firing:
                raise CheckError(ExitCode.ALARM, f"gate failed after {timer.waited():g} s: {len(firing)} alarm(s) in "
                                                 "ALARM: " + ", ".join(firing))
            if not_ok:
                raise CheckError(ExitCode.TIMEOUT, f"gate timed out after {timer.waited():g} s: {len(not_ok)} alarm(s) "
                                                   "without data (INSUFFICIENT_DATA): " + ", ".join(sorted(not_ok)))
            raise CheckError(ExitCode.TIMEOUT, f"gate timed out after {timer.waited():g} s: alarms OK for "
                                               f"{now - ok_since:g} s of the {window_s:g} s window")  # type: ignore[operator]
        timer.sleep(poll_s)
