"""The serving image: tag policy (pure), git state of a real repository, and the declared
build-and-push under the offline engine (digests, variants, registry auth)."""

from __future__ import annotations

import re
import subprocess

import pulumi
import pytest
from dockerfile_parse import DockerfileParser

from components.image import (
    GitState,
    ServingImage,
    ServingImageArgs,
    read_git_state,
    release_tag,
    variant_tag,
)
from tests.conftest import ROOT

REPOSITORY = "123456789012.dkr.ecr.us-west-2.amazonaws.com/mlserve-prod/serving-app"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def test_the_tag_is_the_configured_one_or_the_commit():
    assert release_tag("v1.4.0", None, allow_dirty=False) == "v1.4.0"
    assert release_tag(None, GitState(commit=COMMIT), allow_dirty=False) == "git-0123456789ab"
    assert variant_tag("git-0123456789ab", "gpu") == "git-0123456789ab-gpu"


def test_a_dirty_tree_is_refused_unless_allowed_and_then_the_tag_says_so():
    dirty = GitState(commit=COMMIT, diff_hash="feedbeef0000")
    with pytest.raises(ValueError, match="uncommitted changes.*serving.image.allowDirtyTree"):
        release_tag(None, dirty, allow_dirty=False)
    assert release_tag(None, dirty, allow_dirty=True) == "git-0123456789ab-dirty-feedbeef0000"
    with pytest.raises(ValueError, match="set serving.image.tag"):
        release_tag(None, None, allow_dirty=True)
    with pytest.raises(ValueError, match="not a Docker tag"):
        release_tag("bad tag", None, allow_dirty=False)


def test_git_state_of_a_real_repository(tmp_path):
    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "x.py").write_text("a = 1\n")
    (tmp_path / "other.txt").write_text("x")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "x")
    clean = read_git_state(tmp_path / "app")
    assert clean is not None and re.fullmatch(r"[0-9a-f]{40}", clean.commit) and clean.diff_hash is None
    (tmp_path / "other.txt").write_text("changed outside the context")
    assert read_git_state(tmp_path / "app").diff_hash is None, "only the image context counts"
    (tmp_path / "app" / "x.py").write_text("a = 2\n")
    first = read_git_state(tmp_path / "app").diff_hash
    (tmp_path / "app" / "x.py").write_text("a = 3\n")
    assert first and read_git_state(tmp_path / "app").diff_hash not in (None, first), "a different diff, a different tag"
    assert read_git_state(tmp_path.parent / "definitely-not-a-repo-here") is None


def test_args_refuse_a_build_without_cpu_or_an_unknown_variant():
    for variants in ((), ("gpu",), ("cpu", "tpu"), ("cpu", "cpu")):
        with pytest.raises(ValueError, match="variants"):
            ServingImageArgs(repository_url=REPOSITORY, registry_id="123456789012", tag="v1", variants=variants)


def _build(run_pulumi, variants):
    def program():
        image = ServingImage("image", ServingImageArgs(
            repository_url=pulumi.Output.from_input(REPOSITORY), registry_id="123456789012", tag="git-0123456789ab",
            variants=variants))
        pulumi.export("refs", image.image_refs)

    return run_pulumi(program)


def test_each_variant_is_built_from_the_one_dockerfile_and_referenced_by_digest(run_pulumi):
    plan = _build(run_pulumi, ("cpu", "gpu"))
    images = {r.name: r for r in plan.of_type("docker:index/image:Image")}
    assert set(images) == {"image-cpu", "image-gpu"}
    for variant in ("cpu", "gpu"):
        inputs = images[f"image-{variant}"].inputs
        assert inputs["imageName"] == f"{REPOSITORY}:git-0123456789ab-{variant}"
        assert inputs["build"]["args"] == {"VARIANT": variant}
        assert inputs["build"]["dockerfile"] == "serving_app/Dockerfile" and inputs["build"]["platform"] == "linux/amd64"
        # Pushed with the registry's own token, to the repository's registry.
        assert inputs["registry"]["username"] == "AWS"
        assert inputs["registry"]["server"] == "https://123456789012.dkr.ecr.us-west-2.amazonaws.com"
        assert re.fullmatch(re.escape(REPOSITORY) + r"@sha256:[0-9a-f]{64}", plan.exports["refs"][variant])
    assert plan.exports["refs"]["cpu"] != plan.exports["refs"]["gpu"]


def test_cpu_only_builds_no_gpu_image(run_pulumi):
    plan = _build(run_pulumi, ("cpu",))
    assert [r.name for r in plan.of_type("docker:index/image:Image")] == ["image-cpu"]


def test_the_dockerfile_takes_the_variant_and_the_gpu_pins():
    dockerfile = DockerfileParser(str(ROOT / "serving_app" / "Dockerfile"))
    assert "VARIANT=cpu" in [i["value"] for i in dockerfile.structure if i["instruction"] == "ARG"]
    run = " ".join(i["value"] for i in dockerfile.structure if i["instruction"] == "RUN")
    assert "gpu-requirements.txt" in run and "pip uninstall -y onnxruntime" in run
    pins = [line.strip() for line in (ROOT / "serving_app" / "gpu-requirements.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    assert pins and all(re.fullmatch(r"[A-Za-z0-9_.\[\],-]+==[\w.]+", pin) for pin in pins)
    assert any(pin.startswith("onnxruntime-gpu") for pin in pins)


def test_the_engines_ecr_token_is_shaped_like_aws_s():
    """GetAuthorizationToken: the token is base64("AWS:<password>"), the user "AWS", the endpoint
    the registry's https URL (what `docker login` takes)."""
    import base64

    from mlserve.offline.fakes import ecr_authorization_token

    token = ecr_authorization_token("123456789012", "us-west-2")
    assert base64.b64decode(token["authorizationToken"]).decode() == f"AWS:{token['password']}"
    assert token["userName"] == "AWS" and token["proxyEndpoint"] == "https://123456789012.dkr.ecr.us-west-2.amazonaws.com"
