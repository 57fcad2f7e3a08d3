"""The model store in the whole program: dev serves the demo model it uploads itself, prod a
published version; the buckets of two stacks never share a name; bad settings fail first."""

from __future__ import annotations

import copy

import pytest

from mlserve.offline import engine
from mlserve.offline import plan as plan_cli
from mlserve.stack.args.model_store import track_model
from mlserve.stack.settings import SettingsError, parse
from mlserve.stack.settings.models import parse_model_ref
from tests.stack.test_settings import as_config, problems_for, stack_values


def test_dev_uploads_the_demo_model_and_exports_its_uris(built_plan):
    dev = built_plan("dev")
    uri = dev.exports["model_uris"]["stable"]
    assert uri.startswith("s3://mlserve-dev-models-123456789012-us-west-2/models/demo-rf/local-")
    assert dev.exports["model_archive_uris"]["stable"] == uri + "model.tar.gz"
    keys = {o.inputs["key"] for o in dev.of_type("aws:s3/bucketObjectv2:BucketObjectv2")}
    assert uri.split("/", 3)[3] + "metadata.json" in keys
    assert dev.one("aws:s3/bucket:Bucket", "model-store-bucket").inputs["forceDestroy"] is True


def test_prod_resolves_a_published_version_and_protects_the_store(built_plan):
    prod = built_plan("prod")
    assert prod.exports["model_uris"] == {"stable": "s3://mlserve-prod-models-123456789012-us-west-2/models/fraud-model/4/"}
    assert prod.of_type("aws:s3/bucketObjectv2:BucketObjectv2") == []
    for name in ("model-store-bucket", "model-store-logs"):
        bucket = prod.one("aws:s3/bucket:Bucket", name)
        assert bucket.protect and bucket.inputs["forceDestroy"] is False
    assert prod.one("aws:cloudtrail/trail:Trail").inputs["name"] == "mlserve-prod-model-store"


def test_dev_and_prod_buckets_differ(built_plan):
    names = {stack: {b.inputs["bucket"] for b in built_plan(stack).of_type("aws:s3/bucket:Bucket")} for stack in ("dev", "prod")}
    assert names["dev"] and names["prod"] and not names["dev"] & names["prod"]


def test_force_destroy_with_deletion_protection_is_refused():
    problems = problems_for(lambda v: v["mlserve:modelStore"].update(forceDestroy=True), stack="prod")
    assert problems == ["mlserve:modelStore.forceDestroy = true: contradicts cluster.deletionProtection = true "
                        "(a protected stack keeps its model versions); set one of them to false"]


def test_unknown_access_logging_is_refused_naming_the_key():
    problems = problems_for(lambda v: v["mlserve:modelStore"].update(accessLogging="off"))
    assert len(problems) == 1 and problems[0].startswith("mlserve:modelStore.accessLogging")


def test_a_missing_demo_model_fails_naming_the_key_and_the_command(tmp_path):
    with pytest.raises(ValueError) as caught:
        track_model("stable", parse_model_ref("./build/demo-model"), root=tmp_path, staging_dir=tmp_path / "s")
    assert str(caught.value).startswith("mlserve:models.stable = './build/demo-model': no such directory")
    assert "python -m serving_app.demo_model --out build/demo-model" in str(caught.value)


def test_a_local_directory_that_is_no_artifact_fails_before_anything_is_declared(tmp_path, monkeypatch):
    (tmp_path / "build" / "junk").mkdir(parents=True)
    monkeypatch.setattr("mlserve.stack.args.model_store.ROOT", tmp_path)
    values = copy.deepcopy(stack_values("dev"))
    values["mlserve:models"] = {"stable": "./build/junk"}
    plan = engine.Plan(stack="dev")
    with pytest.raises(SettingsError, match="models.stable = './build/junk': not a servable artifact"):
        engine.run_program(plan_cli.ROOT / "__main__.py", stack="dev", config=as_config(values), plan=plan)
    assert [r for r in plan.resources if r.custom] == []


def test_the_same_local_directory_stages_to_the_same_version(tmp_path, demo_model_in_repo):
    first = track_model("stable", parse_model_ref("./build/demo-model"), staging_dir=tmp_path / "a")
    second = track_model("stable", parse_model_ref("./build/demo-model"), staging_dir=tmp_path / "b")
    assert first.version == second.version
    assert (tmp_path / "a" / "demo-rf" / first.version / "model.tar.gz").read_bytes() == (
        tmp_path / "b" / "demo-rf" / second.version / "model.tar.gz").read_bytes()
    parse(as_config(stack_values("dev")), stack_file="Pulumi.dev.yaml")


def test_the_physical_name_check_sees_the_buckets_and_the_trail(built_plan):
    from tests.stack.physical_names import physical_names

    names = {(kind, name) for kind, name, _ in physical_names(built_plan("prod").resources)}
    assert {("aws:s3/bucket:Bucket", "mlserve-prod-models-123456789012-us-west-2"),
            ("aws:s3/bucket:Bucket", "mlserve-prod-models-logs-123456789012-us-west-2"),
            ("aws:cloudtrail/trail:Trail", "mlserve-prod-model-store")} <= names
