"""ModelStore under the mock engine: the bucket's encryption, public access, policy, lifecycle,
access record, and the uploads and URIs of a local artifact (dev)."""

from __future__ import annotations

import json

import pytest

from components.model_store import ModelStore, ModelStoreArgs, TrackModel
from mlserve.models.staging import stage_local

BUCKET = "mlserve-dev-models-123456789012-us-west-2"


def build(run_pulumi, **overrides):
    values = dict(stack="dev", region="us-west-2", tracks={"stable": TrackModel(name="fraud-model", version="3")})
    values.update(overrides)
    outputs = {}

    def program():
        store = ModelStore("model-store", ModelStoreArgs(**values))
        outputs.update(uris=store.model_uris, archives=store.archive_uris, reads=store.read_arns)

    plan = run_pulumi(program)
    return plan, outputs


def resolved(output):
    from pulumi.runtime.sync_await import _sync_await

    return _sync_await(output.future())


@pytest.fixture
def plan(run_pulumi):
    return build(run_pulumi)[0]


def statements(plan, name):
    return {s["Sid"]: s for s in json.loads(plan.one("aws:s3/bucketPolicy:BucketPolicy", name).inputs["policy"])["Statement"]}


def test_the_bucket_is_named_from_stack_account_and_region_and_encrypted_with_its_own_key(plan):
    bucket = plan.one("aws:s3/bucket:Bucket", "model-store-bucket")
    assert bucket.inputs["bucket"] == BUCKET
    key = plan.one("aws:kms/key:Key", "model-store-key")
    assert key.inputs["enableKeyRotation"] is True
    [rule] = plan.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                      "model-store-bucket-encryption").inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key.outputs["arn"]}
    assert rule["bucketKeyEnabled"] is True
    uses = [s["Sid"] for s in json.loads(key.inputs["policy"])["Statement"]]
    assert uses == ["KeyAdministration", "UseThroughS3"]


def test_public_access_is_blocked_ownership_enforced_and_versioning_on(plan):
    for bucket in ("model-store-bucket", "model-store-logs"):
        block = plan.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", f"{bucket}-public-access-block")
        assert all(block.inputs[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                                     "restrictPublicBuckets"))
        ownership = plan.one("aws:s3/bucketOwnershipControls:BucketOwnershipControls", f"{bucket}-ownership")
        assert ownership.inputs["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
        versioning = plan.one("aws:s3/bucketVersioning:BucketVersioning", f"{bucket}-versioning")
        assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"


def test_the_policy_denies_plain_http_and_puts_not_encrypted_with_the_store_key(plan):
    policy = statements(plan, "model-store-bucket-policy")
    tls = policy["DenyInsecureTransport"]
    assert (tls["Effect"], tls["Principal"], tls["Action"]) == ("Deny", "*", "s3:*")
    assert tls["Resource"] == [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert policy["DenyPutsWithOtherEncryption"]["Condition"] == {
        "StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}}
    default = plan.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                       "model-store-bucket-encryption").inputs["rules"][0]["applyServerSideEncryptionByDefault"]
    assert default["sseAlgorithm"] == "aws:kms"  # what a put without headers gets
    key_arn = plan.one("aws:kms/key:Key", "model-store-key").outputs["arn"]
    assert policy["DenyPutsWithOtherKeys"]["Condition"] == {
        "StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption-aws-kms-key-id": key_arn}}
    assert all(s["Effect"] == "Deny" for s in policy.values())


def test_noncurrent_versions_expire_after_the_configured_days(run_pulumi):
    plan, _ = build(run_pulumi, noncurrent_version_expiry_days=30)
    [rule] = plan.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
                      "model-store-bucket-lifecycle").inputs["rules"]
    assert rule["status"] == "Enabled"
    assert rule["noncurrentVersionExpiration"] == {"noncurrentDays": 30}
    assert rule["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 7}


def test_access_logs_go_to_the_log_bucket_which_only_the_logging_service_may_write(plan):
    logging = plan.one("aws:s3/bucketLogging:BucketLogging")
    assert logging.inputs["bucket"] == BUCKET
    assert logging.inputs["targetBucket"] == "mlserve-dev-models-logs-123456789012-us-west-2"
    delivery = statements(plan, "model-store-logs-policy")["S3ServerAccessLogsDelivery"]
    assert delivery["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert delivery["Condition"]["ArnLike"] == {"aws:SourceArn": f"arn:aws:s3:::{BUCKET}"}
    assert plan.of_type("aws:cloudtrail/trail:Trail") == []
    # S3 delivers access logs only to an SSE-S3 target.
    [rule] = plan.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                      "model-store-logs-encryption").inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}


def test_cloudtrail_mode_records_object_events_of_the_store_only(run_pulumi):
    plan, _ = build(run_pulumi, access_logging="cloudtrail", protect=True)
    trail = plan.one("aws:cloudtrail/trail:Trail")
    assert trail.inputs["name"] == "mlserve-dev-model-store" and trail.protect
    assert trail.inputs["enableLogFileValidation"] is True and trail.inputs["includeGlobalServiceEvents"] is False
    selectors = {s["field"]: s for s in trail.inputs["advancedEventSelectors"][0]["fieldSelectors"]}
    assert selectors["eventCategory"]["equals"] == ["Data"]
    assert selectors["resources.ARN"]["startsWiths"] == [f"arn:aws:s3:::{BUCKET}/"]
    key = plan.one("aws:kms/key:Key", "model-store-key")
    assert trail.inputs["kmsKeyId"] == key.outputs["arn"] and key.protect
    assert "CloudTrailEncryptsTrailFiles" in [s["Sid"] for s in json.loads(key.inputs["policy"])["Statement"]]
    write = statements(plan, "model-store-logs-policy")["CloudTrailWrite"]
    assert write["Condition"]["StringEquals"]["aws:SourceArn"] == (
        "arn:aws:cloudtrail:us-west-2:123456789012:trail/mlserve-dev-model-store")
    assert plan.of_type("aws:s3/bucketLogging:BucketLogging") == []
    assert plan.one("aws:s3/bucket:Bucket", "model-store-bucket").protect
    # The trail's bucket defaults to the key the trail encrypts with (no access logs to deliver there).
    [rule] = plan.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                      "model-store-logs-encryption").inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key.outputs["arn"]}


def test_a_store_version_resolves_to_uris_and_a_read_arn(run_pulumi):
    plan, outputs = build(run_pulumi)
    assert resolved(outputs["uris"]["stable"]) == f"s3://{BUCKET}/models/fraud-model/3/"
    assert resolved(outputs["archives"]["stable"]) == f"s3://{BUCKET}/models/fraud-model/3/model.tar.gz"
    assert resolved(outputs["reads"]["stable"]) == f"arn:aws:s3:::{BUCKET}/models/fraud-model/3/*"
    assert plan.of_type("aws:s3/bucketObjectv2:BucketObjectv2") == []


def test_a_local_artifact_is_uploaded_encrypted_metadata_last(run_pulumi, tmp_path):
    from serving_app.demo_model import build_demo_artifact

    staged = stage_local(build_demo_artifact(tmp_path / "demo"), tmp_path / "staging")
    assert staged.version.startswith("local-")
    track = TrackModel(name=staged.name, version=staged.version,
                       upload_files={k: str(p) for k, p in staged.files.items()})
    plan, outputs = build(run_pulumi, tracks={"stable": track, "canary": track})
    objects = {o.inputs["key"]: o for o in plan.of_type("aws:s3/bucketObjectv2:BucketObjectv2")}
    prefix = f"models/demo-rf/{staged.version}/"
    assert set(objects) == {prefix + k for k in ("model.joblib", "sample.json", "converted.onnx", "converted-check.json",
                                                 "model.tar.gz", "metadata.json")}
    key_arn = plan.one("aws:kms/key:Key", "model-store-key").outputs["arn"]
    for key, obj in objects.items():
        assert obj.inputs["source"] == {"fileAsset": str(staged.files[key.rsplit("/", 1)[1]])}
        assert (obj.inputs["serverSideEncryption"], obj.inputs["kmsKeyId"], obj.inputs["checksumAlgorithm"]) == (
            "aws:kms", key_arn, "SHA256")
        assert plan.one("aws:s3/bucketPolicy:BucketPolicy", "model-store-bucket-policy").urn in obj.dependencies
        assert obj.inputs["metadata"] == {"published-by": "pulumi stack dev"}
    metadata = objects[prefix + "metadata.json"]
    assert {o.urn for k, o in objects.items() if not k.endswith("metadata.json")} <= set(metadata.dependencies)
    assert resolved(outputs["uris"]["canary"]) == f"s3://{BUCKET}/{prefix}"
    assert json.loads((staged.files["metadata.json"]).read_text())["version"] == staged.version


@pytest.mark.parametrize("bad, message", [
    (dict(tracks={}), "stable"),
    (dict(tracks={"stable": TrackModel(name="a", version="1"), "shadow": TrackModel(name="a", version="2")}), "canary"),
    (dict(force_destroy=True, protect=True), "force_destroy"),
    (dict(access_logging="off"), "access_logging"),
    (dict(noncurrent_version_expiry_days=0), "noncurrent_version_expiry_days"),
    (dict(stack="Dev"), "stack"),
])
def test_bad_args_name_the_field(bad, message):
    values = dict(stack="dev", region="us-west-2", tracks={"stable": TrackModel(name="fraud-model", version="3")})
    with pytest.raises(ValueError, match=message):
        ModelStoreArgs(**{**values, **bad})


def test_a_track_model_names_its_bad_field():
    with pytest.raises(ValueError, match="TrackModel.name"):
        TrackModel(name="Fraud", version="1")
    with pytest.raises(ValueError, match="lacks"):
        TrackModel(name="fraud", version="1", upload_files={"model.joblib": "/x"})
