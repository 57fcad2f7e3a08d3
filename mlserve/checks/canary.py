"""The EKS side of `status` and `gate` under `rollout.mode: automatic`: Flagger's Canary read through the
Kubernetes API with the stack's `kubeconfig` output (lightkube, pinned; its exec plugin runs
`aws eks get-token` as kubectl does).

A rollout is done when Flagger promoted the version the stack declared: the Canary is Succeeded or
Initialized and the primary Deployment runs the target's containers (Flagger copies the target's pod
template into `<target>-primary` on promotion). Right after `pulumi up` the Canary may still say
Succeeded from the last rollout while the primary runs the old version: that is "not yet", never "done".
Failed means Flagger rolled the new version back. Phases: https://docs.flagger.app/usage/how-it-works#canary-status
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlserve.checks import CheckError, ExitCode

DONE = ("Succeeded", "Initialized")
ROLLED_BACK = ("Failed",)


@dataclass(frozen=True)
class CanaryState:
    """What one read of the Canary and its two Deployments says."""

    ref: str
    phase: str
    weight: int
    failed_checks: int
    promoted: bool
    """The primary runs the target's containers (the declared version is live)."""
    message: str

    def line(self) -> str:
        live = "declared version live" if self.promoted else "declared version not live yet"
        return (f"canary {self.ref}: {self.phase}, canary weight {self.weight}%, failed checks {self.failed_checks}, "
                f"{live}" + (f" ({self.message})" if self.message else ""))


class KubernetesReader:
    """Reads the Canary and Deployments through the API server a kubeconfig names."""

    def __init__(self, kubeconfig: str | dict[str, Any]) -> None:
        from lightkube import Client
        from lightkube.config.kubeconfig import KubeConfig
        from lightkube.core.exceptions import ConfigError
        from lightkube.generic_resource import create_namespaced_resource

        try:
            config = json.loads(kubeconfig) if isinstance(kubeconfig, str) else kubeconfig
            self._client = Client(config=KubeConfig.from_dict(config), trust_env=False)
        except (ValueError, KeyError, TypeError, ConfigError) as error:
            raise CheckError(ExitCode.USAGE, f"kubeconfig: not a usable kubeconfig ({error})") from None
        self._canary = create_namespaced_resource("flagger.app", "v1beta1", "Canary", "canaries")

    def _get(self, what: str, kind, name: str, namespace: str) -> dict[str, Any]:
        import httpx2
        from lightkube.core.exceptions import ApiError, ConfigError

        try:
            obj = self._client.get(kind, name, namespace=namespace)
        except ApiError as error:
            code = error.status.code
            if code == 404:
                raise CheckError(ExitCode.NOT_FOUND, f"{what} {namespace}/{name} not found (is rollout.mode automatic "
                                                     "deployed in this cluster?)") from None
            if code in (401, 403):
                raise CheckError(ExitCode.NO_CREDENTIALS, f"{what} {namespace}/{name}: the API server refused the "
                                                          f"credentials ({code}: {error.status.message})") from None
            raise CheckError(ExitCode.AWS_ERROR, f"{what} {namespace}/{name}: {code}: {error.status.message}") from None
        except ConfigError as error:  # the exec plugin (aws eks get-token) failed or is missing
            raise CheckError(ExitCode.NO_CREDENTIALS, f"{what}: no token for the cluster ({error})") from None
        except httpx2.TransportError as error:
            raise CheckError(ExitCode.UNREACHABLE, f"{what} {namespace}/{name}: API server unreachable "
                                                   f"({type(error).__name__}: {error})") from None
        return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)

    def canary(self, namespace: str, name: str) -> dict[str, Any]:
        return self._get("Canary", self._canary, name, namespace)

    def deployment(self, namespace: str, name: str) -> dict[str, Any]:
        from lightkube.resources.apps_v1 import Deployment

        return self._get("Deployment", Deployment, name, namespace)


def _containers(deployment: dict[str, Any]) -> list[tuple[str, str, str]]:
    spec = deployment.get("spec", {}).get("template", {}).get("spec", {})
    return [(c.get("name"), c.get("image"), json.dumps(c.get("env", []), sort_keys=True)) for c in spec.get("containers", [])]


def canary_state(reader: KubernetesReader, ref: str) -> CanaryState:
    """One read of the Canary `ref` ("namespace/name"), its target and the primary Flagger made."""
    namespace, _, name = ref.partition("/")
    if not namespace or not name:
        raise CheckError(ExitCode.USAGE, f"canary {ref!r}: expected '<namespace>/<name>' (output canary)")
    canary = reader.canary(namespace, name)
    status = canary.get("status") or {}
    phase = status.get("phase") or "Pending"
    target = canary.get("spec", {}).get("targetRef", {}).get("name", name)
    promoted = False
    if phase in DONE:
        promoted = _containers(reader.deployment(namespace, target)) == _containers(
            reader.deployment(namespace, f"{target}-primary"))
    messages = [c.get("message", "") for c in status.get("conditions", []) if c.get("type") == "Promoted"]
    return CanaryState(ref=ref, phase=phase, weight=int(status.get("canaryWeight") or 0),
                       failed_checks=int(status.get("failedChecks") or 0), promoted=promoted,
                       message=messages[0] if messages else "")


def wait_for_canary(reader: KubernetesReader, ref: str, *, timeout_s: float, poll_s: float,
                    sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> str:
    """Poll until the declared version is promoted (pass), Flagger rolled it back (ROLLED_BACK), or
    `timeout_s` passed with the rollout still under way (TIMEOUT)."""
    deadline = clock() + timeout_s
    while True:
        state = canary_state(reader, ref)
        if state.phase in ROLLED_BACK:
            raise CheckError(ExitCode.ROLLED_BACK, f"{state.line()}: Flagger rolled the new version back")
        if state.phase in DONE and state.promoted:
            return state.line()
        if clock() >= deadline:
            raise CheckError(ExitCode.TIMEOUT, f"{state.line()}: still rolling out after {timeout_s:g} s")
        sleep(min(poll_s, max(0.0, deadline - clock())))
