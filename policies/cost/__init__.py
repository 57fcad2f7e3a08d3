"""The monthly cost of a plan: pure arithmetic over the planned resources, `policies/prices.json` and the
stack's usage assumptions.

- `model.py`: Resource (what is read), Line and Estimate (what comes out), Pricing (what a pricer gets).
- `usage.py`: the usage assumptions, their defaults, and how they travel with the plan (a stack output).
- `compute.py`, `network.py`, `storage.py`, `observability.py`: one pricer per resource kind; each turns
  its planned resources into lines, monthly at the minimum and at the maximum the plan allows.
- `estimate.py`: runs every pricer, prints the result.
- `refresh.py`: `python -m policies.cost.refresh` rewrites prices.json from the AWS Price List API.

Usage-billed items are priced from stated assumptions, never silently left out; a region, type or item
missing from the price table is listed as unpriced; what is never estimated is listed as excluded.
"""

from policies.cost.estimate import PRICERS, estimate, render, usage_of
from policies.cost.model import Estimate, Line, Pricing, Resource
from policies.cost.usage import STACK_OUTPUT, LogIngestion, Usage

__all__ = ["PRICERS", "STACK_OUTPUT", "Estimate", "Line", "LogIngestion", "Pricing", "Resource", "Usage",
           "estimate", "render", "usage_of"]
