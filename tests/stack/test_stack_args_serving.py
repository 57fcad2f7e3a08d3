"""Settings -> serving Args, and the serving rules that run before anything is declared."""

from __future__ import annotations

import json

import pytest

from components.image import GitState
from components.serving import SERVER_CONTAINER
from mlserve.offline import engine
from mlserve.stack import rules as stack_rules
from mlserve.stack.args.image import image_args, image_variants
from mlserve.stack.settings import SettingsError, parse
from tests.stack.test_settings import as_config, stack_values
from tests.stack.test_settings_serving import _gpu_tracks
from tests.stack.test_stack_args import ROOT, settings

DIRTY = GitState(commit="0123456789abcdef0123456789abcdef01234567", diff_hash="feedbeef0000")


def test_a_dirty_image_context_is_refused_in_prod_before_anything_is_declared():
    with pytest.raises(SettingsError, match=r"Pulumi.prod.yaml:\n  - mlserve: serving_app/ has uncommitted changes"):
        stack_rules.check_component_rules(settings("prod"), "prod", git=DIRTY)


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
    args = image_args(dev, repository_url="123456789012.dkr.ecr.us-west-2.amazonaws.com/mlserve-dev/serving-app", git=DIRTY)
    assert args.tag == "git-0123456789ab-dirty-feedbeef0000"


def _with_model(stack, **models):
    config = engine.stack_config(ROOT / f"Pulumi.{stack}.yaml")
    config["mlserve:models"] = json.dumps(models or {"stable": "fraud-model/1"})
    return config


def test_the_gpu_variant_is_built_only_when_a_track_runs_on_a_gpu_pool():
    assert image_variants(settings("prod")) == ("cpu",)  # prod's tree model runs on its CPU pool
    values = stack_values("prod")
    _gpu_tracks(values, 4)
    assert image_variants(parse(as_config(values), stack_file="Pulumi.prod.yaml")) == ("cpu", "gpu")
    dev = parse(_with_model("dev"), stack_file="Pulumi.dev.yaml")  # stable on the default cpu pool
    assert image_variants(dev) == ("cpu",)
    assert image_variants(settings("dev")) == ("cpu",)


def test_a_dev_store_model_just_works_without_a_canary():
    """When the model store helper sets dev's models, dev serves one track and routes 100% to it."""
    plan = engine.run_program(ROOT / "__main__.py", stack="dev", config=_with_model("dev"))
    [deployment] = plan.of_type("kubernetes:apps/v1:Deployment")
    assert deployment.inputs["spec"]["template"]["metadata"]["labels"]["mlserve.io/track"] == "stable"
    assert plan.exports["route_weights"] == {"stable": 100}
    assert set(plan.exports["image_refs"]) == {"cpu"}


def test_the_workloads_take_the_model_stores_outputs(built_plan):
    """Each track's pods load the URI the store resolved, carry the version it holds, and their role
    reads that version's prefix through the store's key: values from the ModelStore, never recomputed."""
    for stack in ("dev", "prod", "prod-manual"):
        plan = built_plan(stack)
        key = plan.one("aws:kms/key:Key", "model-store-key")
        deployments = [d for d in plan.of_type("kubernetes:apps/v1:Deployment")
                       if d.inputs["spec"]["template"]["metadata"]["labels"].get("mlserve.io/model")]
        assert len(deployments) == len(plan.exports["model_uris"]), stack
        for deployment in deployments:
            labels = deployment.inputs["spec"]["template"]["metadata"]["labels"]
            track = labels.get("mlserve.io/track", "stable")  # Flagger's target (prod) has no track label
            [container] = [c for c in deployment.inputs["spec"]["template"]["spec"]["containers"] if c["name"] == SERVER_CONTAINER]
            env = {e["name"]: e.get("value") for e in container["env"]}
            assert env["MLSERVE_MODEL_URI"] == plan.exports["model_uris"][track], (stack, track)
            assert env["MLSERVE_MODEL_URI"].endswith(f"/{labels['mlserve.io/model-version']}/")
        policies = [p for p in plan.of_type("aws:iam/rolePolicy:RolePolicy") if p.name.startswith("serving-")]
        assert len(policies) == len(deployments)
        for policy in policies:
            statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
            assert statements["DecryptModelVersion"]["Resource"] == key.outputs["arn"]
            assert statements["DecryptModelVersion"]["Condition"] == {"StringEquals": {"kms:ViaService": "s3.us-west-2.amazonaws.com"}}


def test_dev_serves_its_local_demo_model_as_the_version_the_store_uploaded(built_plan):
    plan = built_plan("dev")
    [deployment] = [d for d in plan.of_type("kubernetes:apps/v1:Deployment")
                    if d.inputs["spec"]["template"]["metadata"]["labels"].get("mlserve.io/track")]
    version = deployment.inputs["spec"]["template"]["metadata"]["labels"]["mlserve.io/model-version"]
    assert version.startswith("local-")
    uploaded = {o.inputs["key"] for o in plan.of_type("aws:s3/bucketObjectv2:BucketObjectv2")}
    assert f"models/demo-rf/{version}/metadata.json" in uploaded
