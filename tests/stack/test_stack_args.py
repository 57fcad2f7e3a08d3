"""Settings -> component Args, without Pulumi."""

from pathlib import Path

from mlserve.offline import engine
from mlserve.stack import rules as stack_rules
from mlserve.stack.args.cluster import addon_versions, node_pool_args
from mlserve.stack.args.network import network_args
from mlserve.stack.args.registry import registry_args
from mlserve.stack.settings import parse

ROOT = Path(__file__).resolve().parents[2]


def settings(stack):
    return parse(engine.stack_config(ROOT / f"Pulumi.{stack}.yaml"), stack_file=f"Pulumi.{stack}.yaml")


def test_names_derive_from_the_stack():
    assert registry_args(settings("dev"), "dev").repository_name == "mlserve-dev/serving-app"
    assert network_args(settings("prod"), "prod").cluster_name == "mlserve-prod"


def test_taints_and_capacity_types_use_the_eks_api_spelling():
    pools = {p.name: p for p in node_pool_args(settings("dev"))}
    assert pools["cpu"].capacity_type == "SPOT"
    assert pools["gpu"].capacity_type == "ON_DEMAND"
    assert [(t.key, t.effect) for t in pools["gpu"].taints] == [("nvidia.com/gpu", "NO_SCHEDULE")]


def test_addon_overrides_replace_single_entries():
    base = settings("dev")
    overridden = base.model_copy(update={"cluster": base.cluster.model_copy(update={"addon_versions": {"coredns": "v9.9.9-eksbuild.1"}})})
    versions = addon_versions(overridden)
    assert versions["coredns"] == "v9.9.9-eksbuild.1"
    assert versions["vpc-cni"] == addon_versions(base)["vpc-cni"]


def test_component_rules_run_before_anything_is_declared():
    """A value the loader let through (here forced past it) but a component rejects still
    surfaces as a settings error naming the stack file, before any resource exists."""
    import pytest

    from components.image import GitState
    from mlserve.stack.settings import SettingsError

    base = settings("dev")
    git = GitState(commit="0" * 40)
    stack_rules.check_component_rules(base, "dev", git=git)
    sneaky = base.model_copy(update={"cluster": base.cluster.model_copy(update={"log_retention_days": 10})})
    with pytest.raises(SettingsError, match=r"in Pulumi.dev.yaml:\n  - mlserve: log_retention_days 10 is not a CloudWatch retention"):
        stack_rules.check_component_rules(sneaky, "dev", git=git)
