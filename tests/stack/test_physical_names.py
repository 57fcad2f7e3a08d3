"""dev and prod may share one AWS account and region: no two resources of the two stacks may
claim the same physical name (issue: the flow-log group once did). This test stays so later
components cannot bring a collision back."""

from __future__ import annotations

from mlserve.offline.engine import RecordedResource
from tests.stack.physical_names import collisions, physical_names


def test_dev_and_prod_claim_no_common_physical_name(built_plan):
    dev, prod = built_plan("dev"), built_plan("prod")
    assert list(physical_names(dev.resources)), "no named resource found: the extraction is broken"
    assert collisions(dev.resources, prod.resources) == []


def test_every_physical_name_carries_its_stack(built_plan):
    for stack in ("dev", "prod"):
        # Account singletons have no name to carry the stack; the collision test above covers them.
        unnamed = [f"{kind} {name!r}" for kind, name, _ in physical_names(built_plan(stack).resources)
                   if name != "<account singleton>" and f"mlserve-{stack}" not in name]
        assert unnamed == [], f"{stack}: physical names that do not derive from the stack"


def _resource(type_: str, logical: str, **inputs) -> RecordedResource:
    return RecordedResource(urn=f"urn:{logical}", type=type_, name=logical, inputs=inputs, outputs={}, parent="",
                            provider="", custom=True, id=f"{logical}-id")


def test_the_check_catches_a_planted_collision_and_ignores_scoped_and_auto_names():
    log_group = "aws:cloudwatch/logGroup:LogGroup"
    dev = [_resource(log_group, "network-flow-logs", name="/aws/vpc/network/flow-logs"),
           _resource("aws:iam/rolePolicy:RolePolicy", "write", name="write"),
           _resource("aws:iam/role:Role", "auto"),
           _resource("aws:ecr/registryScanningConfiguration:RegistryScanningConfiguration", "scanning")]
    prod = [_resource(log_group, "network-flow-logs", name="/aws/vpc/network/flow-logs"),
            _resource("aws:iam/rolePolicy:RolePolicy", "write", name="write"),
            _resource("aws:iam/role:Role", "auto"),
            _resource("aws:ecr/registryScanningConfiguration:RegistryScanningConfiguration", "scanning")]
    assert collisions(dev, prod) == [
        "aws:cloudwatch/logGroup:LogGroup '/aws/vpc/network/flow-logs' (logical 'network-flow-logs' and 'network-flow-logs')",
        "aws:ecr/registryScanningConfiguration:RegistryScanningConfiguration '<account singleton>' (logical 'scanning' and 'scanning')",
    ]
