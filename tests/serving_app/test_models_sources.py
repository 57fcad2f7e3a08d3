"""Where artifacts come from: /opt/ml/model with a model.tar.gz, local archives, S3 (moto, in process)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from serving_app.demo_model import build_demo_artifact
from serving_app.models import ModelLoadError, load_model
from serving_app.models.sources import parse_s3_uri, s3_error_kind

BUCKET = "mlserve-models"


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    return build_demo_artifact(tmp_path_factory.mktemp("demo"))


def make_archive(demo_dir: Path, archive: Path, *, folder: str = "") -> Path:
    """A model.tar.gz of the demo files, at the top or inside `folder`."""
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(demo_dir.iterdir()):
            tar.add(path, arcname=f"{folder}/{path.name}" if folder else path.name)
    return archive


@pytest.mark.parametrize("folder", ["", "demo-rf"], ids=["files-at-top", "files-in-a-folder"])
def test_a_model_tar_gz_in_opt_ml_model_is_unpacked(demo_dir, tmp_path, folder):
    sagemaker_dir = tmp_path / "opt" / "ml" / "model"
    sagemaker_dir.mkdir(parents=True)
    make_archive(demo_dir, sagemaker_dir / "model.tar.gz", folder=folder)

    model = load_model(str(sagemaker_dir), cache_dir=str(tmp_path / "cache"), optimize=False)

    assert model.metadata.name == "demo-rf"
    assert [p.name for p in sagemaker_dir.iterdir()] == ["model.tar.gz"]  # unpacked elsewhere, the model dir left alone
    assert list((tmp_path / "cache").rglob("model.joblib"))


def test_an_archive_escaping_its_directory_is_refused(tmp_path):
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        member = tarfile.TarInfo("../escaped.txt")
        member.size = 2
        tar.addfile(member, io.BytesIO(b"hi"))
    with pytest.raises(ModelLoadError) as error:
        load_model(str(archive), cache_dir=str(tmp_path / "cache"))
    assert error.value.what == "unsafe archive"
    assert not (tmp_path / "escaped.txt").exists()


def test_checksum_errors_in_an_unpacked_copy_say_where_it_came_from(demo_dir, tmp_path):
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in demo_dir.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    with (copy / "model.joblib").open("ab") as handle:
        handle.write(b"\0")
    archive = make_archive(copy, tmp_path / "model.tar.gz")
    with pytest.raises(ModelLoadError) as error:
        load_model(str(archive), cache_dir=str(tmp_path / "cache"))
    assert error.value.what == "checksum mismatch"
    assert error.value.where.endswith("model.joblib") and f"from {archive}" in error.value.detail


def test_an_unsupported_scheme(tmp_path):
    with pytest.raises(ModelLoadError) as error:
        load_model("gs://bucket/model")
    assert (error.value.what, error.value.where) == ("unsupported source", "gs://bucket/model")


# --- S3 ----------------------------------------------------------------------------------------


@pytest.fixture
def s3(monkeypatch, demo_dir, tmp_path):
    """A moto S3 holding the demo as a prefix of files, a decoy next to it, and as a .tar.gz."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        for path in demo_dir.iterdir():
            client.upload_file(str(path), BUCKET, f"models/demo/{path.name}")
        # "models/demo" must not pick up "models/demo-old/"
        client.put_object(Bucket=BUCKET, Key="models/demo-old/metadata.json", Body=b"{broken")
        client.upload_file(
            str(make_archive(demo_dir, tmp_path / "model.tar.gz")), BUCKET, "sagemaker/demo/model.tar.gz"
        )
        yield client


@pytest.mark.parametrize(
    "uri", [f"s3://{BUCKET}/models/demo", f"s3://{BUCKET}/models/demo/", f"s3://{BUCKET}/sagemaker/demo/model.tar.gz"]
)
def test_load_from_s3(s3, tmp_path, uri):
    model = load_model(uri, cache_dir=str(tmp_path / "cache"), optimize=False)
    assert model.metadata.name == "demo-rf"
    assert not list((tmp_path / "cache").rglob("demo-old"))


@pytest.mark.parametrize(
    ("uri", "what"),
    [
        (f"s3://{BUCKET}/models/missing.tar.gz", "S3 object missing"),
        (f"s3://{BUCKET}/models/missing", "S3 object missing"),
        ("s3://no-such-bucket/models/demo", "S3 bucket missing"),
    ],
)
def test_s3_failures(s3, tmp_path, uri, what):
    with pytest.raises(ModelLoadError) as error:
        load_model(uri, cache_dir=str(tmp_path / "cache"))
    assert (error.value.what, error.value.where) == (what, uri)


@pytest.mark.parametrize(
    ("code", "what"),
    [
        ("AccessDenied", "S3 access denied"),
        ("403", "S3 access denied"),
        ("404", "S3 object missing"),
        ("NoSuchKey", "S3 object missing"),
        ("SlowDown", "S3 download failed"),
    ],
)
def test_s3_error_codes(code, what):
    assert s3_error_kind(code) == what


def test_parse_s3_uri():
    assert parse_s3_uri("s3://bucket/a/b.tar.gz") == ("bucket", "a/b.tar.gz")
    assert parse_s3_uri("s3://bucket") == ("bucket", "")
    with pytest.raises(ModelLoadError, match="bad source"):
        parse_s3_uri("s3:///key")
