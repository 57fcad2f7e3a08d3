"""Settings -> component Args, without Pulumi."""

from pathlib import Path

from mlserve import engine, stack_args, stack_rules
from mlserve.settings import parse

ROOT = Path(__file__).resolve().parents[2]


def settings(stack):
    return parse(engine.stack_config(ROOT / f"Pulumi.{stack}.yaml"), stack_file=f"Pulumi.{stack}.yaml")


def test_names_derive_from_the_stack():
    assert stack_args.registry_args(settings("dev"), "dev").repository_name == "mlserve-dev/serving-app"
    assert stack_args.network_args(settings("prod"), "prod").cluster_name == "mlserve-prod"


def test_taints_and_capacity_types_use_the_eks_api_spelling():
    pools = {p.name: p for p in stack_args.node_pool_args(settings("dev"))}
    assert pools["cpu"].capacity_type == "SPOT"
    assert pools["gpu"].capacity_type == "ON_DEMAND"
    assert [(t.key, t.effect) for t in pools["gpu"].taints] == [("nvidia.com/gpu", "NO_SCHEDULE")]


def test_addon_overrides_replace_single_entries():
    base = settings("dev")
    overridden = base.model_copy(update={"cluster": base.cluster.model_copy(update={"addon_versions": {"coredns": "v9.9.9-eksbuild.1"}})})
    versions = stack_args.addon_versions(overridden)
    assert versions["coredns"] == "v9.9.9-eksbuild.1"
    assert versions["vpc-cni"] == stack_args.addon_versions(base)["vpc-cni"]


def test_component_rules_run_before_anything_is_declared():
    """A value the loader let through (here forced past it) but a component rejects still
    surfaces as a settings error naming the stack file, before any resource exists."""
    import pytest

    from mlserve.settings import SettingsError

    from components.image import GitState

    base = settings("dev")
    git = GitState(commit="0" * 40)
    stack_rules.check_component_rules(base, "dev", git=git)
    sneaky = base.model_copy(update={"cluster": base.cluster.model_copy(update={"log_retention_days": 10})})
    with pytest.raises(SettingsError, match=r"in Pulumi.dev.yaml:\n  - mlserve: log_retention_days 10 is not a CloudWatch retention"):
        stack_rules.check_component_rules(sneaky, "dev", git=git)
