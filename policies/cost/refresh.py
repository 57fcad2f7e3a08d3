"""Refresh the price table from the AWS Price List API: `python -m policies.cost.refresh`.

For a maintainer with AWS credentials (any identity allowed `pricing:GetProducts`; the API answers from
us-east-1 for every region). Reads every figure the table has, for every region it has (or those given
with --region; --add-region prices a new region with the first region's items), prints old -> new with
the Price List's unit, and rewrites policies/prices.json with today's date. Nothing is written when an
item is not found or is ambiguous (two prices match), unless --allow-missing: then a missing item keeps
its old figure, or stays absent from a new region (the estimate lists it as unpriced). --record FILE
keeps every request and answer, the form tests/data/pricing/ holds (tests/policies/test_price_refresh.py).

    python -m policies.cost.refresh --dry-run
    python -m policies.cost.refresh --add-region eu-west-1

Exit codes: 0 written (or --dry-run), 1 items not found or ambiguous, 2 usage or AWS error.

How each figure is found: a GetProducts query (service code, region, a few TERM_MATCH filters), then the
products whose `usagetype` matches a pattern (us-east-1's usage types carry no region prefix, the others
do: "USW2-NatGateway-Hours"), then the on-demand price of the first tier (beginRange 0). The patterns
follow the usage types AWS bills under (the same names Cost Explorer shows).
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from policies import prices

PRICING_API_REGION = "us-east-1"


@dataclass(frozen=True)
class Query:
    """One Price List look-up: `per` converts the API's unit into the table's (10,000 requests ...)."""

    service: str
    usagetype: str
    filters: tuple[tuple[str, str], ...] = ()
    per: float = 1.0
    region_field: str | None = "regionCode"


def _q(service: str, usagetype: str, *filters: tuple[str, str], per: float = 1.0, region_field: str | None = "regionCode") -> Query:
    return Query(service, usagetype, tuple(filters), per, region_field)


SERVICE_QUERIES: dict[str, tuple[Query, ...]] = {
    "eks_cluster_hour": (_q("AmazonEKS", r"(^|-)AmazonEKS-Hours:perCluster$"),),
    # Extended support is billed as a surcharge on top of the cluster-hour; the table holds the total.
    "eks_cluster_extended_hour": (_q("AmazonEKS", r"(^|-)AmazonEKS-Hours:perCluster$"),
                                  _q("AmazonEKS", r"(^|-)AmazonEKS-Hours:extendedSupport$")),
    "nat_gateway_hour": (_q("AmazonEC2", r"(^|-)NatGateway-Hours$", ("productFamily", "NAT Gateway")),),
    "nat_gateway_gb": (_q("AmazonEC2", r"(^|-)NatGateway-Bytes$", ("productFamily", "NAT Gateway")),),
    "public_ipv4_hour": (_q("AmazonVPC", r"(^|-)PublicIPv4:InUseAddress$"),),
    "interface_endpoint_az_hour": (_q("AmazonVPC", r"(^|-)VpcEndpoint-Hours$", ("productFamily", "VpcEndpoint")),),
    "nlb_hour": (_q("AWSELB", r"(^|-)LoadBalancerUsage$", ("productFamily", "Load Balancer-Network")),),
    "nlb_lcu_hour": (_q("AWSELB", r"(^|-)LCUUsage$", ("productFamily", "Load Balancer-Network")),),
    "ebs_gp3_gb_month": (_q("AmazonEC2", r"(^|-)EBS:VolumeUsage\.gp3$", ("productFamily", "Storage")),),
    "ebs_gp2_gb_month": (_q("AmazonEC2", r"(^|-)EBS:VolumeUsage\.gp2$", ("productFamily", "Storage")),),
    "s3_standard_gb_month": (_q("AmazonS3", r"(^|-)TimedStorage-ByteHrs$", ("volumeType", "Standard")),),
    "ecr_gb_month": (_q("AmazonECR", r"(^|-)TimedStorage-ByteHrs$"),),
    "kms_key_month": (_q("awskms", r"(^|-)KMS-Keys$"),),
    "kms_requests_10k": (_q("awskms", r"(^|-)KMS-Requests$", per=10_000),),
    "logs_ingest_gb": (_q("AmazonCloudWatch", r"(^|-)DataProcessing-Bytes$"),),
    "logs_storage_gb_month": (_q("AmazonCloudWatch", r"(^|-)TimedStorage-ByteHrs$"),),
    "alarm_metric_month": (_q("AmazonCloudWatch", r"(^|-)CW:AlarmMonitorUsage$"),),
    "alarm_high_resolution_metric_month": (_q("AmazonCloudWatch", r"(^|-)CW:HighResAlarmMonitorUsage$"),),
    "composite_alarm_month": (_q("AmazonCloudWatch", r"(^|-)CW:CompositeAlarmMonitorUsage$"),),
    "dashboard_month": (_q("AmazonCloudWatch", r"^DashboardsUsageHour$", region_field=None),),
    "custom_metric_month": (_q("AmazonCloudWatch", r"(^|-)CW:MetricMonitorUsage$"),),
    "cloudtrail_data_events_100k": (_q("AWSCloudTrail", r"(^|-)DataEventsRecorded$", per=100_000),),
    "cross_az_gb_each_way": (_q("AWSDataTransfer", r"(^|-)DataTransfer-Regional-Bytes$", ("transferType", "IntraRegion"),
                                region_field="fromRegionCode"),),
}


def ec2_query(instance_type: str) -> tuple[Query, ...]:
    """Linux, shared tenancy, no pre-installed software, on-demand capacity."""
    return (_q("AmazonEC2", rf"(^|-)BoxUsage:{re.escape(instance_type)}$", ("instanceType", instance_type),
               ("operatingSystem", "Linux"), ("tenancy", "Shared"), ("preInstalledSw", "NA"), ("capacitystatus", "Used")),)


def sagemaker_query(instance_type: str) -> tuple[Query, ...]:
    """Real-time inference hosting (usage type `<prefix>-Host:<type>`), not training or notebooks."""
    return (_q("AmazonSageMaker", rf"(^|-)Host:{re.escape(instance_type)}$", ("instanceType", instance_type)),)


def queries_for(section: str, item: str) -> tuple[Query, ...] | None:
    if section == "ec2":
        return ec2_query(item)
    if section == "sagemaker":
        return sagemaker_query(item)
    return SERVICE_QUERIES.get(item)


class Recorder:
    """Wraps a pricing client and keeps every GetProducts request and answer (--record)."""

    def __init__(self, client: Any) -> None:
        self.client, self.calls = client, []

    def get_products(self, **params: Any) -> dict[str, Any]:
        answer = self.client.get_products(**params)
        self.calls.append({"params": params, "response": {k: v for k, v in answer.items() if k != "ResponseMetadata"}})
        return answer


def products(client: Any, query: Query, region: str) -> list[dict[str, Any]]:
    """Every product of `query` in `region` whose usage type matches, following NextToken."""
    filters = [{"Type": "TERM_MATCH", "Field": field, "Value": value} for field, value in query.filters]
    if query.region_field:
        filters.insert(0, {"Type": "TERM_MATCH", "Field": query.region_field, "Value": region})
    params: dict[str, Any] = {"ServiceCode": query.service, "Filters": filters, "FormatVersion": "aws_v1", "MaxResults": 100}
    found, pattern = [], re.compile(query.usagetype)
    while True:
        answer = client.get_products(**params)
        for text in answer.get("PriceList", []):
            product = json.loads(text) if isinstance(text, str) else text
            if pattern.search(str(product.get("product", {}).get("attributes", {}).get("usagetype", ""))):
                found.append(product)
        if not answer.get("NextToken"):
            return found
        params["NextToken"] = answer["NextToken"]


def on_demand_price(product: Mapping[str, Any]) -> tuple[float, str] | None:
    """(USD per unit, unit) of a product's on-demand first tier."""
    for term in product.get("terms", {}).get("OnDemand", {}).values():
        for dimension in term.get("priceDimensions", {}).values():
            if str(dimension.get("beginRange", "0")) in ("0", "0.0") and "USD" in dimension.get("pricePerUnit", {}):
                return float(dimension["pricePerUnit"]["USD"]), str(dimension.get("unit", ""))
    return None


def price_of(client: Any, queries: Iterable[Query], region: str) -> tuple[float, str] | str:
    """(table figure, units) of one item, or why it could not be found."""
    total, units = 0.0, []
    for query in queries:
        found = {p for p in (on_demand_price(product) for product in products(client, query, region)) if p}
        if not found:
            return f"no {query.service} product with usage type /{query.usagetype}/"
        if len({price for price, _ in found}) > 1:
            return f"ambiguous: {query.service} /{query.usagetype}/ matches {sorted(found)}"
        price, unit = found.pop()
        total += price * query.per
        units.append(unit if query.per == 1 else f"{query.per:,.0f} {unit}")
    return round(total, 10), " + ".join(units)


def refresh(client: Any, table: Mapping[str, Any], regions: list[str], add_regions: list[str]) -> tuple[dict[str, Any], list[str], list[str]]:
    """(new table, changes as printed lines, failures) for `regions` plus `add_regions`."""
    new = json.loads(json.dumps(table))
    template = next(iter(table["regions"].values()))
    changes, failures = [], []
    for region in [*regions, *add_regions]:
        current = new["regions"].setdefault(region, {section: {} for section in template})
        for section, items in (table["regions"].get(region) or template).items():
            for item in items:
                queries = queries_for(section, item)
                result = price_of(client, queries, region) if queries else f"no Price List query for {section}.{item}"
                old = current.get(section, {}).get(item)
                if isinstance(result, str):
                    failures.append(f"{region} {section}.{item}: {result}")
                    continue
                value, unit = result
                current.setdefault(section, {})[item] = value
                changes.append(f"{region} {section}.{item}: {old} -> {value} ({unit})" + ("" if old != value else " same"))
    return new, changes, failures


def main(argv: list[str] | None = None, client: Any = None, today: datetime.date | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m policies.cost.refresh", description=__doc__.split("\n\n")[0])
    parser.add_argument("--region", action="append", default=[], help="a region of the table to refresh (default: all)")
    parser.add_argument("--add-region", action="append", default=[], help="a new region, priced with the first region's items")
    parser.add_argument("--table", type=Path, default=prices.TABLE_PATH, help="the table to refresh (default: policies/prices.json)")
    parser.add_argument("--dry-run", action="store_true", help="print the changes, write nothing")
    parser.add_argument("--allow-missing", action="store_true", help="write even when items are not found (they keep their old figure)")
    parser.add_argument("--record", type=Path, help="write every GetProducts request and answer to this JSON file")
    args = parser.parse_args(argv)
    table = prices.load(args.table)
    unknown = [r for r in args.region if r not in table["regions"]]
    if unknown:
        print(f"refresh: {unknown} not in {args.table.name} (regions: {sorted(table['regions'])}); use --add-region", file=sys.stderr)
        return 2
    if client is None:
        import boto3  # only a maintainer's run needs it; the pack never imports this module

        client = boto3.client("pricing", region_name=PRICING_API_REGION)
    recorder = Recorder(client)
    try:
        new, changes, failures = refresh(recorder, table, args.region or sorted(table["regions"]), args.add_region)
    except Exception as error:  # botocore's NoCredentialsError, ClientError, EndpointConnectionError ...
        print(f"refresh: the Price List API failed: {type(error).__name__}: {error}", file=sys.stderr)
        return 2
    finally:
        if args.record:
            args.record.write_text(json.dumps(recorder.calls, indent=1) + "\n")
    print("\n".join(changes))
    for failure in failures:
        print(f"not found: {failure}", file=sys.stderr)
    if args.dry_run:
        return 1 if failures else 0
    if failures and not args.allow_missing:
        print(f"refresh: {len(failures)} item(s) not found; nothing written (--allow-missing keeps their old figures)", file=sys.stderr)
        return 1
    new["asOf"] = (today or datetime.datetime.now(datetime.timezone.utc).date()).isoformat()
    new["compiledFrom"] = "AWS Price List API (GetProducts), python -m policies.cost.refresh"
    args.table.write_text(json.dumps(new, indent=2, sort_keys=False) + "\n")
    print(f"wrote {args.table} (as of {new['asOf']})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
