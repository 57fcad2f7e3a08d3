"""`publish`, `list`, `show` against S3 in process (moto), and the docs/models.md walk-through end to end:
package -> publish -> list -> the server loads the published URI and answers like the model."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import boto3
import joblib
import numpy as np
import pytest
from moto import mock_aws

from mlserve.models import store
from mlserve.models.__main__ import main
from mlserve.models.errors import ChecksumMismatch, NoCredentials, NoSuchBucket, NotFound, VersionExists
from serving_app.models import load_model
from tests.conftest import ROOT
from tests.serving_app.conftest import serve

BUCKET = "mlserve-test-models-123456789012-us-west-2"
ARTIFACT_FILES = ("model.joblib", "sample.json", "converted.onnx", "converted-check.json", "metadata.json")


@pytest.fixture
def s3(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    with mock_aws():
        client = boto3.client("s3", region_name="us-west-2")
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
        key = boto3.client("kms", region_name="us-west-2").create_key()["KeyMetadata"]["Arn"]
        client.put_bucket_encryption(Bucket=BUCKET, ServerSideEncryptionConfiguration={"Rules": [
            {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}}]})
        client.kms_key = key
        yield client


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data, sample_csv):
    """A packaged forest: (artifact directory, estimator)."""
    from sklearn.ensemble import RandomForestClassifier

    from mlserve.models.package import package

    root = tmp_path_factory.mktemp("trained")
    forest = RandomForestClassifier(n_estimators=10, max_depth=5, random_state=0).fit(data[0], data[1])
    joblib.dump(forest, root / "model.joblib")
    package(root / "model.joblib", root / "fraud-model-3", name="fraud-model", version="3",
            sample_path=sample_csv, drop_columns=("label",))
    return root / "fraud-model-3", forest


def test_publish_uploads_every_file_encrypted_and_checksummed(s3, trained):
    published = store.publish(trained[0], bucket=BUCKET, s3=s3)
    assert published.model_uri == f"s3://{BUCKET}/models/fraud-model/3/"
    assert published.archive_uri == f"s3://{BUCKET}/models/fraud-model/3/model.tar.gz"
    assert published.keys[-1] == "models/fraud-model/3/metadata.json"  # last: marks the version complete
    keys = {item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert keys == {f"models/fraud-model/3/{f}" for f in ARTIFACT_FILES + ("model.tar.gz",)}
    head = s3.head_object(Bucket=BUCKET, Key="models/fraud-model/3/model.joblib", ChecksumMode="ENABLED")
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == s3.kms_key
    assert head["ChecksumSHA256"] and head["Metadata"]["published-by"].startswith("arn:aws:")


def test_a_version_is_never_overwritten(s3, trained, capsys):
    store.publish(trained[0], bucket=BUCKET, s3=s3)
    before = s3.head_object(Bucket=BUCKET, Key="models/fraud-model/3/metadata.json")["LastModified"]
    with pytest.raises(VersionExists, match="immutable"):
        store.publish(trained[0], bucket=BUCKET, s3=s3)
    assert s3.head_object(Bucket=BUCKET, Key="models/fraud-model/3/metadata.json")["LastModified"] == before
    assert main(["publish", str(trained[0]), "--bucket", BUCKET]) == VersionExists.exit_code
    assert "already in" in capsys.readouterr().err


def test_a_checksum_mismatch_after_upload_removes_the_version(s3, trained):
    """The store ends up holding other bytes than were sent (simulated by rewriting the object
    right after S3 accepted it): publish says so and leaves no half version behind."""

    uploads = []

    def corrupt(**_):
        uploads.append(1)
        if len(uploads) == 1:  # the first file: model.joblib
            boto3.client("s3", region_name="us-west-2").put_object(
                Bucket=BUCKET, Key="models/fraud-model/3/model.joblib", Body=b"not the model", ChecksumAlgorithm="SHA256")

    s3.meta.events.register("after-call.s3.PutObject", corrupt)
    with pytest.raises(ChecksumMismatch, match="model.joblib"):
        store.publish(trained[0], bucket=BUCKET, s3=s3)
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == 0


def test_list_and_show_report_framework_checksum_time_and_publisher(s3, trained, capsys):
    store.publish(trained[0], bucket=BUCKET, s3=s3)
    [version] = store.list_versions(bucket=BUCKET, s3=s3)
    metadata = json.loads((trained[0] / "metadata.json").read_text())
    assert (version.name, version.version, version.framework, version.sha256) == (
        "fraud-model", "3", "sklearn", metadata["sha256"])
    assert version.published_by.startswith("arn:aws:") and version.created.year >= 2024
    assert main(["list", "--bucket", BUCKET, "--json"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["sha256"] == metadata["sha256"] and line["framework"] == "sklearn"
    assert main(["show", "fraud-model/3", "--bucket", BUCKET]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert set(shown["files"]) == set(ARTIFACT_FILES) | {"model.tar.gz"}
    assert shown["outputs"][0]["name"] == "label"
    with pytest.raises(NotFound):
        store.show("fraud-model", "4", bucket=BUCKET, s3=s3)
    assert main(["show", "fraud-model/4", "--bucket", BUCKET]) == NotFound.exit_code


def test_no_such_bucket_is_named(s3, trained, capsys):
    assert main(["publish", str(trained[0]), "--bucket", "mlserve-nope-models"]) == NoSuchBucket.exit_code
    assert "does not exist" in capsys.readouterr().err


def test_no_credentials_is_one_line_and_its_own_exit_code(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
               AWS_EC2_METADATA_DISABLED="true", AWS_DEFAULT_REGION="us-west-2")
    result = subprocess.run([sys.executable, "-m", "mlserve.models", "list", "--bucket", BUCKET], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == NoCredentials.exit_code
    assert result.stderr.startswith("error: no AWS credentials") and result.stderr.count("\n") == 1


def readme_walk_through() -> list[str]:
    """The commands of docs/models.md, continuation lines joined."""
    text = (ROOT / "docs" / "models.md").read_text()
    section = text[text.index("# Bring your own model"):]
    block = section[section.index("```sh\n") + 6:]
    block = block[:block.index("```")].replace("\\\n", " ")
    lines = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    return [line for line in lines if line != ". .venv/bin/activate"]  # the test runs in the venv already


def test_the_readme_walk_through(s3, tmp_path, data, sample_csv, capsys, monkeypatch):
    """docs/models.md, command by command as written there: package, publish and
    list run here (the bucket's name in place of `pulumi stack output`), then the server loads
    the URI the stack resolves `models.stable: fraud-model/3` to and answers like the model.
    The last two commands need the Pulumi CLI; tests/stack/test_model_store.py covers what they do."""
    import shlex

    from sklearn.ensemble import RandomForestClassifier

    from components.model_store_layout import model_uri

    commands = readme_walk_through()
    assert len(commands) <= 5
    assert [c.split()[:4] for c in commands[3:]] == [["pulumi", "config", "set", "--path"], ["pulumi", "up", "-s", "prod"]]
    assert "'mlserve:models.stable' fraud-model/3" in commands[3]
    forest = RandomForestClassifier(n_estimators=10, random_state=1).fit(data[0], data[1])
    joblib.dump(forest, tmp_path / "model.joblib")
    (tmp_path / "rows.csv").write_bytes(sample_csv.read_bytes())
    monkeypatch.chdir(tmp_path)
    for command in commands[:3]:
        command = command.replace('"$(pulumi stack output model_bucket_name -s prod)"', BUCKET)
        argv = shlex.split(command)
        assert argv[:3] == ["python", "-m", "mlserve.models"]
        assert main(argv[3:]) == 0, command
    assert "fraud-model/3\tsklearn" in capsys.readouterr().out
    model = load_model(model_uri(BUCKET, "fraud-model", "3"), isolate_conversion=False)
    rows = np.random.default_rng(5).standard_normal((8, 5)).astype(np.float32)
    with serve(model) as server:
        answer = server.client.post("/predict", json={"instances": rows.tolist()}).json()
    assert answer["predictions"] == forest.predict(rows).tolist()
    assert answer["model"] == {"name": "fraud-model", "version": "3"}
    np.testing.assert_allclose(answer["probabilities"], forest.predict_proba(rows), atol=1e-5)


def test_the_server_downloads_the_files_of_a_version_not_its_archive_too(s3, trained, tmp_path):
    from serving_app.models.sources import resolve_source

    published = store.publish(trained[0], bucket=BUCKET, s3=s3)
    directory = resolve_source(published.model_uri, cache_dir=str(tmp_path)).directory
    assert sorted(p.name for p in directory.iterdir()) == sorted(ARTIFACT_FILES)
    archive = resolve_source(published.archive_uri, cache_dir=str(tmp_path)).directory  # SageMaker's form
    assert sorted(p.name for p in archive.iterdir()) == sorted(ARTIFACT_FILES)


def test_a_damaged_artifact_is_refused_before_anything_is_uploaded(s3, trained, tmp_path, capsys):
    import shutil

    damaged = tmp_path / "damaged"
    shutil.copytree(trained[0], damaged)
    (damaged / "model.joblib").write_bytes(b"truncated")
    assert main(["publish", str(damaged), "--bucket", BUCKET]) == 2
    assert "checksum mismatch" in capsys.readouterr().err
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == 0


def _flip_stored_byte(s3, key: str) -> None:
    """One byte of a stored object flipped, as bit rot or a hand edit would leave it."""
    data = bytearray(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    data[len(data) // 2] ^= 0x01
    s3.put_object(Bucket=BUCKET, Key=key, Body=bytes(data))


def test_show_verify_passes_an_intact_version_and_names_every_file_it_checked(s3, trained, capsys):
    store.publish(trained[0], bucket=BUCKET, s3=s3)
    assert main(["show", "fraud-model/3", "--bucket", BUCKET, "--verify"]) == 0
    verified = json.loads(capsys.readouterr().out)["verified"]
    assert sorted(verified["matched"]) == sorted(set(ARTIFACT_FILES) - {"metadata.json"} | {"model.tar.gz"})
    assert verified["problems"] == {}


@pytest.mark.parametrize("file", ["model.joblib", "sample.json", "converted.onnx", "model.tar.gz"])
def test_show_verify_fails_on_one_flipped_byte_naming_the_file(s3, trained, capsys, file):
    store.publish(trained[0], bucket=BUCKET, s3=s3)
    _flip_stored_byte(s3, f"models/fraud-model/3/{file}")
    assert main(["show", "fraud-model/3", "--bucket", BUCKET]) == 0  # without --verify: metadata only, as before
    capsys.readouterr()
    assert main(["show", "fraud-model/3", "--bucket", BUCKET, "--verify"]) == ChecksumMismatch.exit_code
    error = capsys.readouterr().err
    assert error.startswith(f"error: fraud-model/3: {file}") and error.count("\n") == 1


def test_a_flipped_byte_inside_the_sagemaker_archive_is_found_too(s3, trained, tmp_path):
    """model.tar.gz is checked member by member: an archive re-made around a changed sample.json
    fails although it is a valid .tar.gz."""
    from mlserve.models.staging import write_archive

    store.publish(trained[0], bucket=BUCKET, s3=s3)
    changed = tmp_path / "changed"
    changed.mkdir()
    for name in ARTIFACT_FILES:
        (changed / name).write_bytes((trained[0] / name).read_bytes())
    (changed / "sample.json").write_text('{"rows": [[0, 0, 0, 0, 0]]}\n')
    write_archive({name: changed / name for name in ARTIFACT_FILES}, tmp_path / "model.tar.gz")
    s3.put_object(Bucket=BUCKET, Key="models/fraud-model/3/model.tar.gz", Body=(tmp_path / "model.tar.gz").read_bytes())
    verified = store.verify("fraud-model", "3", bucket=BUCKET, s3=s3)
    assert [file for file, _ in verified.problems] == ["model.tar.gz:sample.json"]


def test_an_object_no_checksum_covers_fails_verification(s3, trained):
    store.publish(trained[0], bucket=BUCKET, s3=s3)
    s3.put_object(Bucket=BUCKET, Key="models/fraud-model/3/notes.txt", Body=b"added later")
    verified = store.verify("fraud-model", "3", bucket=BUCKET, s3=s3)
    assert verified.problems == (("notes.txt", "not covered by a checksum in metadata.json"),)


def test_list_verify_marks_each_version_and_exits_non_zero_naming_the_file(s3, trained, tmp_path, capsys):
    import shutil

    store.publish(trained[0], bucket=BUCKET, s3=s3)
    second = tmp_path / "v4"
    shutil.copytree(trained[0], second)
    metadata = json.loads((second / "metadata.json").read_text())
    metadata["version"] = "4"
    (second / "metadata.json").write_text(json.dumps(metadata))
    store.publish(second, bucket=BUCKET, s3=s3)
    assert main(["list", "--bucket", BUCKET, "--verify"]) == 0
    assert [line.rsplit("\t", 1)[1] for line in capsys.readouterr().out.splitlines()] == ["verified", "verified"]
    _flip_stored_byte(s3, "models/fraud-model/4/model.joblib")
    assert main(["list", "--bucket", BUCKET, "--verify"]) == ChecksumMismatch.exit_code
    captured = capsys.readouterr()
    assert [line.rsplit("\t", 1)[1] for line in captured.out.splitlines()] == ["verified", "MISMATCH model.joblib"]
    assert captured.err.startswith("error: 1 of 2 versions fail verification: fraud-model/4: model.joblib: the store "
                                   "holds sha256 ")
