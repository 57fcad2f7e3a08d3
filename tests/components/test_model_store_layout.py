"""The store layout the model store, both serving targets and the CLI share."""

import pytest

from components import model_store_layout as layout


def test_bucket_name_carries_stack_account_and_region():
    assert layout.bucket_name("dev", "123456789012", "us-west-2") != layout.bucket_name("prod", "123456789012", "us-west-2")
    assert layout.bucket_name("dev", "123456789012", "us-west-2") != layout.bucket_name("dev", "210987654321", "us-west-2")
    assert layout.bucket_name("dev", "123456789012", "us-west-2") == "mlserve-dev-models-123456789012-us-west-2"


def test_a_bucket_name_over_63_characters_is_refused():
    with pytest.raises(ValueError, match="63"):
        layout.bucket_name("a-very-long-stack-name-for-testing", "123456789012", "ap-southeast-2")


def test_version_uris_share_one_prefix():
    assert layout.model_uri("b", "fraud", "3") == "s3://b/models/fraud/3/"
    assert layout.archive_uri("b", "fraud", "3") == "s3://b/models/fraud/3/model.tar.gz"
    assert layout.prefix_arn("arn:aws:s3:::b", "fraud", "3") == "arn:aws:s3:::b/models/fraud/3/*"
