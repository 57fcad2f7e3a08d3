"""The automatic rollout of the model server (`rollout.mode: automatic`): Flagger's Canary for the
serving Deployment. A new model version or image changes the Deployment's pod template, which starts
an analysis: Flagger runs the acceptance webhook, then moves `stepWeight` percent of traffic at a time
to the new pods while the metric checks hold, promotes at `maxWeight`, or rolls back after `threshold`
failed checks.

What Flagger owns, so the stack never declares it in this mode (components/canary_routing.py is
not used): the `model-server`, `-primary` and `-canary` Services, the VirtualService and the
DestinationRules, the `model-server-primary` Deployment and its ScaledObject. What it changes on
objects the stack declares (and the stack therefore leaves alone, `ignore_changes` in
components/serving.py): the target Deployment's `spec.replicas` (scaled to 0 after a promotion) and
the target ScaledObject's `autoscaling.keda.sh/paused-replicas` annotation (set while idle).
https://docs.flagger.app/usage/how-it-works and Flagger's pkg/canary/scaled_object_reconciler.go.

Spec body: `components/delivery_specs.py`. The Kubernetes provider comes in through `opts`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as kubernetes

from components import delivery_specs as specs
from components.serving_contract import APP_NAME, SERVICE_PORT


@dataclass(frozen=True, kw_only=True)
class CanaryArgs:
    """Resolved analysis settings and where the Canary's parts are."""

    namespace: str
    """The serving namespace."""
    gateway: str
    """"<namespace>/<name>" of the mesh's Gateway."""
    hosts: tuple[str, ...]
    """The Gateway's hosts."""
    autoscaler: str
    """The target Deployment's ScaledObject (components/serving.py)."""
    expected_version: str
    """The model version the target runs: the acceptance check fails if another answers."""
    sample_rows: pulumi.Input[list[list[float]]] | list[list[float]]
    """The model's sample rows (its sample.json), sent by the acceptance check (and the load test)."""
    templates_namespace: str
    """Where Flagger's MetricTemplates are."""
    loadtester_url: str
    """The load tester's URL."""
    min_success_percent: float
    """Lowest success rate (non-5xx percent) a check passes with: 100 - alarms.error5xxPercent."""
    max_latency_ms: float
    """Highest p99 latency a check passes with: alarms.p99LatencyMs."""
    max_503_percent: float = 1
    """Default 1. Highest share of the server's own 503 answers."""
    interval_s: int = 60
    """Default 60. Seconds between checks and steps."""
    step_weight: int = 10
    """Default 10. Percent added per passing check."""
    max_weight: int = 50
    """Default 50. Percent reached before promotion."""
    threshold: int = 5
    """Default 5. Failed checks before rollback."""
    load_test_rps: int = 0
    """Default 0 (no load test). Requests per second sent to the canary during the analysis."""
    alert_provider: str | None = None
    """Default none. The AlertProvider's name (in `namespace`)."""
    timeout_s: float = 12
    """Default 12. The route timeout (the server's request timeout plus a margin)."""
    max_pending_requests: int = 1024
    """Default 1024. Requests queued per sidecar before Envoy answers 503."""
    startup_s: int = 600
    """Default 600. How long a new pod may take to turn ready (the model download): the Canary's
    progress deadline is this plus a margin."""

    def __post_init__(self) -> None:
        if not 0 < self.step_weight <= self.max_weight <= 100:
            raise ValueError(f"need 0 < step_weight <= max_weight <= 100, got {self.step_weight}, {self.max_weight}")
        if not 0 <= self.min_success_percent <= 100:
            raise ValueError(f"min_success_percent {self.min_success_percent}: 0..100")
        if self.interval_s < 30:
            raise ValueError(f"interval_s {self.interval_s}: at least 30 (two Prometheus scrapes)")


def _commands(args: CanaryArgs, rows: list[list[float]]) -> tuple[str, str | None]:
    url = f"http://{APP_NAME}-canary.{args.namespace}:{SERVICE_PORT}"
    acceptance = specs.acceptance_command(url=url, rows=rows, expected_version=args.expected_version)
    load = (specs.load_test_command(url=url, rows=rows, rps=args.load_test_rps, seconds=args.interval_s)
            if args.load_test_rps else None)
    return acceptance, load


class CanaryRollout(pulumi.ComponentResource):
    """Flagger's Canary of the model server."""

    canary_ref: str
    """"<namespace>/<name>" of the Canary (`kubectl -n <namespace> get canary <name>`; the checks' `--canary`)."""

    def __init__(self, name: str, args: CanaryArgs, opts: pulumi.ResourceOptions | None = None,
                 depends_on: Sequence[pulumi.Resource] = ()) -> None:
        super().__init__("mlserve:delivery:CanaryRollout", name, None, opts)

        def spec(rows: list[list[float]]) -> dict:
            acceptance, load = _commands(args, rows)
            return specs.canary_spec(
                namespace=args.namespace, gateway=args.gateway, hosts=list(args.hosts), autoscaler=args.autoscaler,
                interval_s=args.interval_s, step_weight=args.step_weight, max_weight=args.max_weight,
                threshold=args.threshold, min_success_percent=args.min_success_percent,
                max_latency_ms=args.max_latency_ms, max_503_percent=args.max_503_percent,
                templates_namespace=args.templates_namespace, loadtester_url=args.loadtester_url,
                acceptance_cmd=acceptance, load_test_cmd=load, alert_provider=args.alert_provider,
                timeout_s=args.timeout_s, max_pending_requests=args.max_pending_requests,
                progress_deadline_s=args.startup_s + 60)

        kubernetes.apiextensions.CustomResource(
            f"{name}-canary", api_version=specs.FLAGGER_API, kind="Canary",
            metadata=kubernetes.meta.v1.ObjectMetaArgs(name=APP_NAME, namespace=args.namespace,
                                                       labels={"app.kubernetes.io/part-of": "mlserve"}),
            spec=pulumi.Output.from_input(args.sample_rows).apply(spec),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
        )
        self.canary_ref = f"{args.namespace}/{APP_NAME}"
        self.register_outputs({"canary_ref": self.canary_ref})
