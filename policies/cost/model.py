"""What the estimate reads (Resource), what it produces (Line, Estimate) and what every pricer is
handed (Pricing: the plan, one region's prices, the usage assumptions, and where to say what is missing)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from policies import prices
from policies.cost.usage import Usage


@dataclass(frozen=True)
class Resource:
    """What the estimate reads of a planned resource (the engine's plan and the policy analyzer both give this)."""

    type: str
    name: str
    props: Mapping[str, Any]
    urn: str = ""
    dependencies: Sequence[str] = ()


@dataclass(frozen=True)
class Line:
    """One priced item: monthly USD at the plan's minimum and maximum."""

    category: str
    item: str
    detail: str
    monthly_min: float
    monthly_max: float


@dataclass(frozen=True)
class Estimate:
    """A plan's monthly cost, broken down, with what it could not price and what it leaves out by design."""

    region: str
    lines: list[Line] = field(default_factory=list)
    unpriced: list[str] = field(default_factory=list)
    """Gaps: a region, instance type or item the price table lacks. The estimate is then a lower bound."""
    excluded: list[str] = field(default_factory=list)
    """Costs the estimate never counts (no sourced unit price, or usage it does not model); printed every time."""
    assumptions: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    usage_source: str = "defaults"
    """Where the usage assumptions came from: the stack's `cost_assumptions` output, or the defaults."""

    @property
    def monthly_min(self) -> float:
        return round(sum(line.monthly_min for line in self.lines), 2)

    @property
    def monthly_max(self) -> float:
        return round(sum(line.monthly_max for line in self.lines), 2)

    @property
    def complete(self) -> bool:
        """Whether every item of the plan that the estimate models found a price."""
        return not self.unpriced

    def to_json(self) -> dict[str, Any]:
        """The plan JSON's `cost` object. Keys of earlier versions keep their meaning (pr_comment.py reads
        region, pricesAsOf, monthlyMin, monthlyMax, assumptions, unpriced and lines); the rest are additions."""
        return {"region": self.region, "pricesAsOf": prices.PRICES_AS_OF, "monthlyMin": self.monthly_min,
                "monthlyMax": self.monthly_max, "complete": self.complete, "assumptions": self.assumptions,
                "usage": self.usage.to_mapping(), "usageSource": self.usage_source,
                "unpriced": self.unpriced, "excluded": self.excluded,
                "lines": [{"category": l.category, "item": l.item, "detail": l.detail,
                           "monthlyMin": round(l.monthly_min, 2), "monthlyMax": round(l.monthly_max, 2)} for l in self.lines]}


@dataclass
class Pricing:
    """Everything a pricer needs: the plan (sorted, so output order is stable), one region's prices, the
    usage assumptions, and the lists a pricer appends to when it cannot price or never prices something."""

    resources: list[Resource]
    table: Mapping[str, Mapping[str, float]]
    usage: Usage
    unpriced: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.by_urn = {r.urn: r for r in self.resources if r.urn}

    def of_type(self, *types: str) -> list[Resource]:
        return [r for r in self.resources if r.type in types]

    def dependencies_of(self, resource: Resource, resource_type: str) -> list[Resource]:
        return [self.by_urn[d] for d in resource.dependencies if d in self.by_urn and self.by_urn[d].type == resource_type]

    def service(self, key: str, needed_for: str) -> float | None:
        """The `services` price `key`, or None after recording that `needed_for` could not be priced."""
        price = self.table.get("services", {}).get(key)
        if price is None:
            self.unpriced.append(f"{needed_for} (no '{key}' price for this region in policies/prices.json)")
        return price


Pricer = Callable[[Pricing], Iterable[Line]]
