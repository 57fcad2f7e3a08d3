"""The estimate itself: every pricer over the plan, the assumptions it rests on, and how it is printed."""

from __future__ import annotations

from typing import Sequence

from policies import prices
from policies.cost import compute, network, observability, storage
from policies.cost.model import Estimate, Pricer, Pricing, Resource
from policies.cost.usage import STACK_TYPE, Usage, from_outputs

PRICERS: list[Pricer] = [
    compute.node_pools, compute.clusters, network.nat_and_endpoints, network.cross_az, network.load_balancers,
    compute.sagemaker, storage.buckets_registries_keys, storage.kubernetes_volumes, observability.log_groups,
    observability.alarms_and_dashboards, observability.container_insights, observability.cloudtrail,
]
"""One function per resource kind that costs money; a new kind is a row in prices.json plus a pricer here."""

FIXED_ASSUMPTIONS = [
    f"{prices.HOURS_PER_MONTH} hours per month",
    "node pools and SageMaker variants: minimum size (cheapest listed instance type) to maximum size (dearest)",
    "EKS extended support (max) only where upgradePolicy is EXTENDED",
]
ALWAYS_EXCLUDED = [
    "data transfer out to the internet and between regions",
    "S3, ECR and CloudWatch API requests; NAT, endpoint and load-balancer data beyond the assumed figures",
    "Savings Plans, Reserved Instances, free tiers and taxes (on-demand list prices)",
]


def usage_of(resources: Sequence[Resource]) -> tuple[Usage, str]:
    """The usage assumptions the plan's root stack exports, else the defaults; and which of the two it was."""
    for resource in resources:
        if resource.type == STACK_TYPE:
            found = from_outputs(resource.props)
            if found is not None:
                return found, "the stack's cost_assumptions output (mlserve:cost)"
    return Usage(), "defaults (the stack exports no cost_assumptions)"


def estimate(resources: Sequence[Resource], region: str) -> Estimate:
    """The monthly cost of `resources` in `region`, with the usage assumptions the plan carries.
    Raises ValueError when the plan's `cost_assumptions` output is malformed."""
    usage, source = usage_of(resources)
    assumptions = FIXED_ASSUMPTIONS + usage.describe()
    if region not in prices.REGIONS:
        return Estimate(region=region, assumptions=assumptions, usage=usage, usage_source=source,
                        excluded=list(ALWAYS_EXCLUDED),
                        unpriced=[f"region {region} (the table prices {sorted(prices.REGIONS)}; a maintainer adds it with "
                                  f"`python -m policies.cost.refresh --add-region {region}`)"])
    ordered = sorted(resources, key=lambda r: (r.type, r.name))  # registration order varies between runs
    ctx = Pricing(resources=ordered, table=prices.REGIONS[region], usage=usage)
    lines = [line for pricer in PRICERS for line in pricer(ctx)]
    return Estimate(region=region, lines=lines, unpriced=ctx.unpriced, excluded=ctx.excluded + ALWAYS_EXCLUDED,
                    assumptions=assumptions, usage=usage, usage_source=source)


def render(result: Estimate, stack: str) -> list[str]:
    """The estimate as text lines for `make preview`."""
    out = [f"Estimated monthly cost, stack '{stack}' ({result.region}; on-demand list prices as of "
           f"{prices.PRICES_AS_OF}, policies/prices.json):"]
    total = "total (min / max)" if result.complete else "priced part (min / max)"
    width = max([len(f"{l.category}: {l.item}") for l in result.lines] + [len(total)])
    out.append(f"  {'':<{width}}  {'at min size':>11}  {'at max size':>11}")
    for line in result.lines:
        out.append(f"  {f'{line.category}: {line.item}':<{width}}  ${line.monthly_min:>10,.2f}  ${line.monthly_max:>10,.2f}  {line.detail}")
    out.append(f"  {total:<{width}}  ${result.monthly_min:>10,.2f}  ${result.monthly_max:>10,.2f}")
    for item in result.unpriced:
        out.append(f"  not priced: {item}")
    out.append(f"  assumptions ({result.usage_source}): " + "; ".join(result.assumptions))
    out.append("  not included: " + "; ".join(result.excluded))
    out.append("  sources: " + ", ".join(prices.SOURCES.values()))
    return out
