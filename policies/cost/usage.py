"""The usage the estimate assumes where a bill depends on traffic, not on what is declared.

One place holds the defaults (`Usage` below). A stack changes them in its stack file's `mlserve:cost`
section (mlserve/stack/settings/cost.py validates it and takes its defaults from here); `__main__.py`
exports the values as the stack output `cost_assumptions`. The estimate reads them back from the
plan's root stack resource, so `make preview` and the policy analyzer of `pulumi preview` price the
same plan with the same assumptions: the analyzer's AnalyzeStack receives every registered resource,
the root `pulumi:pulumi:Stack` with its outputs included (pulumi/pulumi pkg/resource/deploy
step_generator.go, AnalyzeResources). A program that exports nothing is priced with these defaults,
and the estimate says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

STACK_OUTPUT = "cost_assumptions"
"""The stack output that carries the usage assumptions (camelCase keys, as in the stack file)."""
STACK_TYPE = "pulumi:pulumi:Stack"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@dataclass(frozen=True, kw_only=True)
class LogIngestion:
    """GB a month written to each CloudWatch log group, by the group's role. Per-node figures scale with
    the node pools' size (minimum at min size, maximum at max size)."""

    control_plane: float = 30.0
    """EKS control plane, all five log types (the audit log dominates): about 1 GB a day."""
    flow_logs: float = 15.0
    """VPC flow logs of all traffic, delivered to CloudWatch Logs."""
    sage_maker: float = 2.0
    """Each SageMaker endpoint's log group (container stdout/stderr)."""
    prometheus: float = 1.0
    """Container Insights' prometheus group (the serving pods' scraped metrics, as EMF)."""
    application_per_node: float = 3.0
    """Container Insights' application group (pods' stdout/stderr), per node."""
    dataplane_per_node: float = 1.0
    """Container Insights' dataplane group (kubelet, container runtime), per node."""
    host_per_node: float = 0.5
    """Container Insights' host group (system logs), per node."""
    performance_per_node: float = 1.0
    """Container Insights' performance group (EMF performance events), per node."""
    other: float = 1.0
    """Any other log group the plan declares."""


@dataclass(frozen=True, kw_only=True)
class Usage:
    """Assumptions behind the usage-billed lines. Every field is a `mlserve:cost` key in camelCase."""

    spot_discount_percent: float = 60.0
    """Saving of spot over on-demand. Spot prices move hourly per AZ (typically 50-90% off for these families,
    https://aws.amazon.com/ec2/spot/instance-advisor/); 60% is a conservative middle."""
    nat_gb_per_month: float = 100.0
    """GB through each NAT gateway a month (image pulls and logs use VPC endpoints instead)."""
    load_balancer_lcu: float = 1.0
    """Load-balancer capacity units in use per hour, per load balancer (light serving traffic)."""
    bucket_gb: float = 50.0
    """GB stored per S3 bucket (model versions, data capture, trail logs)."""
    repository_gb: float = 10.0
    """GB stored per ECR repository (release images the lifecycle policy keeps)."""
    cross_az_gb_per_month: float = 100.0
    """GB a month crossing Availability Zones (gateway to pods, pods to endpoints), when the plan spans several AZs."""
    kms_requests_per_month: float = 1_000_000.0
    """KMS API requests a month, all keys together (S3, EBS, EKS secrets, logs, SageMaker)."""
    cloudtrail_data_events_per_month: float = 1_000_000.0
    """Data events a month that trails with data-event selectors deliver (model store reads and writes)."""
    never_expiring_log_months: float = 12.0
    """Months of data a log group without retention holds (priced as a year after creation)."""
    log_ingestion_gb: LogIngestion = field(default_factory=LogIngestion)

    @property
    def spot_discount(self) -> float:
        return self.spot_discount_percent / 100

    def to_mapping(self) -> dict[str, Any]:
        """The camelCase mapping the stack exports and the plan JSON carries."""
        return {_camel(k): ({_camel(kk): vv for kk, vv in v.items()} if isinstance(v, dict) else v)
                for k, v in asdict(self).items()}

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Usage:
        """Read `to_mapping`'s shape back; a missing key keeps its default. Raises ValueError naming a key
        that is unknown or not a number >= 0."""
        def read(model: type, given: Mapping[str, Any], where: str) -> dict[str, Any]:
            known = {_camel(f.name): f for f in fields(model)}
            unknown = sorted(set(given) - set(known))
            if unknown:
                raise ValueError(f"{where}: unknown key(s) {unknown} (known: {sorted(known)})")
            out: dict[str, Any] = {}
            for key, value in given.items():
                name = known[key].name
                if name == "log_ingestion_gb":
                    if not isinstance(value, Mapping):
                        raise ValueError(f"{where}.{key}: a mapping of log group roles to GB a month")
                    out[name] = LogIngestion(**read(LogIngestion, value, f"{where}.{key}"))
                    continue
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                    raise ValueError(f"{where}.{key} = {value!r}: a number >= 0")
                out[name] = float(value)
            return out
        return cls(**read(cls, values, STACK_OUTPUT))

    def describe(self) -> list[str]:
        """The assumptions as printed lines, in the estimate's words."""
        logs = self.log_ingestion_gb
        return [
            f"spot at {self.spot_discount_percent:g}% below on-demand",
            f"{self.nat_gb_per_month:g} GB a month through each NAT gateway",
            f"{self.load_balancer_lcu:g} LCU per load balancer",
            f"{self.bucket_gb:g} GB per S3 bucket, {self.repository_gb:g} GB per ECR repository",
            f"{self.cross_az_gb_per_month:g} GB a month between AZs (multi-AZ plans)",
            f"{self.kms_requests_per_month:,.0f} KMS requests a month",
            f"{self.cloudtrail_data_events_per_month:,.0f} CloudTrail data events a month per data-event trail",
            (f"log GB a month: control plane {logs.control_plane:g}, flow logs {logs.flow_logs:g}, SageMaker "
             f"{logs.sage_maker:g} per endpoint, prometheus {logs.prometheus:g}, other {logs.other:g} per group; per node: "
             f"application {logs.application_per_node:g}, dataplane {logs.dataplane_per_node:g}, host {logs.host_per_node:g}, "
             f"performance {logs.performance_per_node:g}"),
            f"logs stored for their retention at the ingested size, {self.never_expiring_log_months:g} months where none is set",
        ]


def from_outputs(outputs: Mapping[str, Any] | None) -> Usage | None:
    """The assumptions a root stack's outputs carry, or None when it exports none."""
    if not outputs or STACK_OUTPUT not in outputs:
        return None
    value = outputs[STACK_OUTPUT]
    if not isinstance(value, Mapping):
        raise ValueError(f"{STACK_OUTPUT}: a mapping of assumption keys to numbers, got {type(value).__name__}")
    return Usage.from_mapping(value)
