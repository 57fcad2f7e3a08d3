"""Settings -> serving Args, and the serving rules that run before anything is declared."""

from __future__ import annotations

import json

import pytest

from components.image import GitState
from mlserve import engine, stack_args
from mlserve import stack_args_serving as serving
from mlserve.settings import SettingsError, parse
from tests.stack.test_stack_args import ROOT, settings

DIRTY = GitState(commit="0123456789abcdef0123456789abcdef01234567", diff_hash="feedbeef0000")


def test_a_dirty_image_context_is_refused_in_prod_before_anything_is_declared():
    with pytest.raises(SettingsError, match=r"Pulumi.prod.yaml:\n  - mlserve: serving_app/ has uncommitted changes"):
        stack_args.check_component_rules(settings("prod"), "prod", git=DIRTY)


def test_the_program_declares_nothing_from_a_dirty_prod_tree(monkeypatch):
    """The real __main__.py reads the git state of serving_app/ and stops before any resource."""
    import components.image

    monkeypatch.setattr(components.image, "read_git_state", lambda context: DIRTY)
    recorded = engine.Plan(stack="prod")
    with pytest.raises(SettingsError, match="uncommitted changes"):
        engine.run_program(ROOT / "__main__.py", stack="prod", config=engine.stack_config(ROOT / "Pulumi.prod.yaml"),
                           plan=recorded)
    assert recorded.resources == []


def test_dev_allows_a_dirty_tree_and_says_so_in_the_tag():
    dev = settings("dev").model_copy(update={"models": parse(_with_model("dev"), stack_file="x").models})
    args = serving.image_args(dev, repository_url="123456789012.dkr.ecr.us-west-2.amazonaws.com/mlserve-dev/serving-app", git=DIRTY)
    assert args.tag == "git-0123456789ab-dirty-feedbeef0000"


def _with_model(stack, **models):
    config = engine.stack_config(ROOT / f"Pulumi.{stack}.yaml")
    config["mlserve:models"] = json.dumps(models or {"stable": "fraud-model/1"})
    return config


def test_the_gpu_variant_is_built_only_when_a_track_runs_on_a_gpu_pool():
    assert serving.image_variants(settings("prod")) == ("cpu", "gpu")
    dev = parse(_with_model("dev"), stack_file="Pulumi.dev.yaml")  # stable on the default cpu pool
    assert serving.image_variants(dev) == ("cpu",)
    assert serving.image_variants(settings("dev")) == ("cpu",)


def test_a_dev_store_model_just_works_without_a_canary():
    """When the model store helper sets dev's models, dev serves one track and routes 100% to it."""
    plan = engine.run_program(ROOT / "__main__.py", stack="dev", config=_with_model("dev"))
    [deployment] = plan.of_type("kubernetes:apps/v1:Deployment")
    assert deployment.inputs["spec"]["template"]["metadata"]["labels"]["mlserve.io/track"] == "stable"
    assert plan.exports["route_weights"] == {"stable": 100}
    assert set(plan.exports["image_refs"]) == {"cpu"}


def test_store_refs_follow_the_store_layout():
    refs = serving.store_refs_from_layout(settings("prod"), "prod", account_id="123456789012")
    bucket = "mlserve-prod-models-123456789012-us-west-2"
    assert refs.model_uris == {"stable": f"s3://{bucket}/models/fraud-model/3/", "canary": f"s3://{bucket}/models/fraud-model/4/"}
    assert refs.read_arns["canary"] == f"arn:aws:s3:::{bucket}/models/fraud-model/4/*"
    assert refs.bucket_arn == f"arn:aws:s3:::{bucket}"


def test_a_local_model_is_refused_until_the_store_uploads_it():
    config = _with_model("dev", stable="./build/demo-model")
    with pytest.raises(SettingsError, match="a local model needs the model store"):
        stack_args.check_component_rules(parse(config, stack_file="Pulumi.dev.yaml"), "dev",
                                         git=GitState(commit=DIRTY.commit))
