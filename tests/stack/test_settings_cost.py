"""The `mlserve:cost` section: the pack's defaults, stack-file overrides with named errors, and the
stack output `cost_assumptions` that carries them to the estimate and the budget rule."""

from __future__ import annotations

from dataclasses import fields

from mlserve.stack.settings import parse
from mlserve.stack.settings.cost import CostSettings, LogIngestionSettings
from policies.cost.usage import STACK_OUTPUT, LogIngestion, Usage
from tests.stack.test_settings import as_config, problems_for, stack_values


def test_the_defaults_are_the_packs():
    assert CostSettings().usage() == Usage()
    # every assumption of the pack is a settings key, and nothing else is
    assert set(CostSettings.model_fields) == {f.name for f in fields(Usage)}
    assert set(LogIngestionSettings.model_fields) == {f.name for f in fields(LogIngestion)}


def test_a_stack_file_overrides_what_it_knows_better():
    values = stack_values("prod")
    values["mlserve:cost"] = {"crossAzGbPerMonth": 800, "logIngestionGb": {"controlPlane": 90, "applicationPerNode": 0.5}}
    usage = parse(as_config(values), stack_file="Pulumi.prod.yaml").cost.usage()
    assert usage.cross_az_gb_per_month == 800 and usage.log_ingestion_gb.control_plane == 90
    assert usage.log_ingestion_gb.application_per_node == 0.5 and usage.nat_gb_per_month == Usage().nat_gb_per_month
    assert Usage.from_mapping(usage.to_mapping()) == usage  # what the stack exports reads back the same


def test_bad_assumptions_are_named_with_what_is_allowed():
    def edit(values):
        values["mlserve:cost"] = {"spotDiscountPercent": 100, "natGb": 5, "logIngestionGb": {"flowLogs": -1}}
    assert sorted(problems_for(edit)) == [
        "mlserve:cost.logIngestionGb.flowLogs = -1: Input should be greater than or equal to 0",
        "mlserve:cost.natGb: unknown key (allowed here: spotDiscountPercent, natGbPerMonth, loadBalancerLcu, bucketGb, "
        "repositoryGb, crossAzGbPerMonth, kmsRequestsPerMonth, cloudtrailDataEventsPerMonth, neverExpiringLogMonths, "
        "logIngestionGb)",
        "mlserve:cost.spotDiscountPercent = 100: Input should be less than 100",
    ]


def test_the_program_exports_the_assumptions(built_plan):
    for stack in ("dev", "prod"):
        assert Usage.from_mapping(built_plan(stack).exports[STACK_OUTPUT]) == Usage()
