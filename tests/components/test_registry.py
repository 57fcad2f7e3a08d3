import json

import pulumi
import pulumi_aws as aws
import pytest

from components.registry import Registry, RegistryArgs, lifecycle_policy

REPOSITORY = "aws:ecr/repository:Repository"
KEY = "aws:kms/key:Key"


def _registry(run_pulumi, **overrides):
    args = RegistryArgs(**{"repository_name": "mlserve-dev/serving-app", **overrides})
    return run_pulumi(lambda: Registry("images", args))


def _rules_by_status(policy_json: str) -> dict[str, dict]:
    rules = json.loads(policy_json)["rules"]
    assert sorted(rule["rulePriority"] for rule in rules) == list(range(1, len(rules) + 1))
    return {rule["selection"]["tagStatus"]: rule for rule in rules}


# --- the lifecycle policy on its own -------------------------------------------------------

def test_lifecycle_expires_untagged_images_after_the_configured_days():
    rules = _rules_by_status(lifecycle_policy(untagged_expiry_days=5, keep_release_tags=20, release_tag_prefix="v"))
    untagged = rules["untagged"]
    assert untagged["selection"] == {
        "tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 5,
    }
    assert untagged["action"] == {"type": "expire"}


def test_lifecycle_keeps_the_last_n_release_tags():
    rules = _rules_by_status(lifecycle_policy(untagged_expiry_days=5, keep_release_tags=20, release_tag_prefix="rel-"))
    release = rules["tagged"]
    assert release["selection"] == {
        "tagStatus": "tagged", "tagPrefixList": ["rel-"], "countType": "imageCountMoreThan", "countNumber": 20,
    }
    assert release["action"] == {"type": "expire"}


# --- the component -------------------------------------------------------------------------

def test_images_are_scanned_on_push_and_tags_are_immutable(run_pulumi):
    repository = _registry(run_pulumi).one(REPOSITORY)
    assert repository.inputs["name"] == "mlserve-dev/serving-app"
    assert repository.inputs["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repository.inputs["imageTagMutability"] == "IMMUTABLE"


def test_images_are_encrypted_with_the_components_own_rotating_key(run_pulumi):
    plan = _registry(run_pulumi)
    key = plan.one(KEY)
    assert key.inputs["enableKeyRotation"] is True
    assert 7 <= key.inputs["deletionWindowInDays"] <= 30
    assert plan.one(REPOSITORY).inputs["encryptionConfigurations"] == [
        {"encryptionType": "KMS", "kmsKey": key.outputs["arn"]},
    ]
    alias = plan.one("aws:kms/alias:Alias")
    assert alias.inputs["targetKeyId"] == key.outputs["keyId"]
    assert alias.inputs["name"].startswith("alias/") and "." not in alias.inputs["name"]


def test_lifecycle_policy_is_attached_with_the_configured_numbers(run_pulumi):
    plan = _registry(run_pulumi, keep_release_tags=4, untagged_expiry_days=2)
    policy = plan.one("aws:ecr/lifecyclePolicy:LifecyclePolicy")
    assert policy.inputs["repository"] == plan.one(REPOSITORY).outputs["name"]
    rules = _rules_by_status(policy.inputs["policy"])
    assert rules["untagged"]["selection"]["countNumber"] == 2
    assert rules["tagged"]["selection"]["countNumber"] == 4
    assert rules["tagged"]["selection"]["tagPrefixList"] == ["v"]


@pytest.mark.parametrize("force_delete", [True, False])
def test_force_delete_follows_the_args(run_pulumi, force_delete):
    repository = _registry(run_pulumi, force_delete=force_delete).one(REPOSITORY)
    assert repository.inputs["forceDelete"] is force_delete


def test_children_are_parented_to_the_component_and_inherit_its_provider(run_pulumi):
    def program():
        provider = aws.Provider("aws-west", region="us-west-2")
        Registry("images", RegistryArgs(repository_name="mlserve/app"), pulumi.ResourceOptions(provider=provider))

    plan = run_pulumi(program)
    component = plan.one("mlserve:registry:Registry", "images")
    provider = plan.one("pulumi:providers:aws", "aws-west")
    children = [r for r in plan.resources if r.package == "aws"]
    assert {r.type for r in children} >= {KEY, REPOSITORY, "aws:ecr/lifecyclePolicy:LifecyclePolicy"}
    for child in children:
        assert child.parent == component.urn, child.name
        assert child.provider.startswith(provider.urn + "::"), child.name


def test_outputs_are_the_repository_values(run_pulumi):
    def program():
        registry = Registry("images", RegistryArgs(repository_name="mlserve/app"))
        pulumi.export("url", registry.repository_url)
        pulumi.export("arn", registry.repository_arn)
        pulumi.export("name", registry.repository_name)

    plan = run_pulumi(program)
    repository = plan.one(REPOSITORY)
    assert plan.exports == {
        "url": repository.outputs["repositoryUrl"],
        "arn": repository.outputs["arn"],
        "name": "mlserve/app",
    }
    assert plan.exports["url"].endswith(".amazonaws.com/mlserve/app")


# --- bad args ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"keep_release_tags": 0}, "keep_release_tags"),
        ({"untagged_expiry_days": 0}, "untagged_expiry_days"),
        ({"repository_name": "MLServe/App"}, "repository_name"),
        ({"repository_name": "mlserve//app"}, "repository_name"),
        ({"repository_name": "-app"}, "repository_name"),
        ({"repository_name": "a"}, "repository_name"),
        ({"release_tag_prefix": ""}, "release_tag_prefix"),
        ({"release_tag_prefix": "v/"}, "release_tag_prefix"),
    ],
)
def test_bad_args_are_rejected_naming_the_field(overrides, field):
    with pytest.raises(ValueError, match=field):
        RegistryArgs(**{"repository_name": "mlserve-dev/serving-app", **overrides})


def test_valid_names_are_accepted():
    RegistryArgs(repository_name="mlserve-dev/serving.app_v2", keep_release_tags=1, untagged_expiry_days=1)
