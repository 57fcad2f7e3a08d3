"""The cost section of the settings (`mlserve:cost`): the usage the cost estimate assumes where a bill
depends on traffic (log volumes, data between AZs, KMS requests, trail events, spot saving...).

Nothing here creates a resource. The defaults are the policy pack's (`policies/cost/usage.py`, one
place); a stack file sets only what it knows better. `__main__.py` exports the values as the stack
output `cost_assumptions`, which `make preview` and the budget rule of `pulumi preview --policy-pack`
both read back from the plan (docs/policies-and-cost.md, "Usage assumptions").
"""

from __future__ import annotations

from pydantic import Field

from mlserve.stack.settings.base import _Model
from policies.cost.usage import LogIngestion, Usage

_USAGE, _LOGS = Usage(), LogIngestion()


class LogIngestionSettings(_Model):
    """GB a month ingested per CloudWatch log group, by role; the per-node ones scale with the node pools."""

    control_plane: float = Field(default=_LOGS.control_plane, ge=0)
    """EKS control plane (api, audit, authenticator, controllerManager, scheduler)."""
    flow_logs: float = Field(default=_LOGS.flow_logs, ge=0)
    """VPC flow logs (all traffic)."""
    sage_maker: float = Field(default=_LOGS.sage_maker, ge=0)
    """Each SageMaker endpoint's log group."""
    prometheus: float = Field(default=_LOGS.prometheus, ge=0)
    """Container Insights' prometheus group."""
    application_per_node: float = Field(default=_LOGS.application_per_node, ge=0)
    """Container Insights' application group (pod stdout/stderr), per node."""
    dataplane_per_node: float = Field(default=_LOGS.dataplane_per_node, ge=0)
    """Container Insights' dataplane group, per node."""
    host_per_node: float = Field(default=_LOGS.host_per_node, ge=0)
    """Container Insights' host group, per node."""
    performance_per_node: float = Field(default=_LOGS.performance_per_node, ge=0)
    """Container Insights' performance group, per node (set 0 if your bill shows none)."""
    other: float = Field(default=_LOGS.other, ge=0)
    """Any other log group."""


class CostSettings(_Model):
    """Usage assumptions of the cost estimate; every one is printed with the estimate."""

    spot_discount_percent: float = Field(default=_USAGE.spot_discount_percent, ge=0, lt=100)
    """Saving of spot over on-demand for spot node pools."""
    nat_gb_per_month: float = Field(default=_USAGE.nat_gb_per_month, ge=0)
    """GB processed by each NAT gateway a month."""
    load_balancer_lcu: float = Field(default=_USAGE.load_balancer_lcu, ge=0)
    """Load-balancer capacity units per hour, per load balancer."""
    bucket_gb: float = Field(default=_USAGE.bucket_gb, ge=0)
    """GB stored per S3 bucket."""
    repository_gb: float = Field(default=_USAGE.repository_gb, ge=0)
    """GB stored per ECR repository."""
    cross_az_gb_per_month: float = Field(default=_USAGE.cross_az_gb_per_month, ge=0)
    """GB a month between Availability Zones (priced only when the network spans several AZs)."""
    kms_requests_per_month: float = Field(default=_USAGE.kms_requests_per_month, ge=0)
    """KMS requests a month, all keys together."""
    cloudtrail_data_events_per_month: float = Field(default=_USAGE.cloudtrail_data_events_per_month, ge=0)
    """Data events a month per trail that records them (the model store's trail)."""
    never_expiring_log_months: float = Field(default=_USAGE.never_expiring_log_months, ge=0)
    """Months of data priced for a log group without retention."""
    log_ingestion_gb: LogIngestionSettings = Field(default_factory=LogIngestionSettings)
    """GB a month each CloudWatch log group ingests, by its role (the per-node groups scale with the pools)."""

    def usage(self) -> Usage:
        """The pack's view of these settings (what the stack exports as `cost_assumptions`)."""
        values = self.model_dump()
        return Usage(**{**values, "log_ingestion_gb": LogIngestion(**values["log_ingestion_gb"])})
