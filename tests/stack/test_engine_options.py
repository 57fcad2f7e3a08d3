"""The offline engine records the resource options the real engine receives (protect,
delete-before-replace, ignore_changes, dependencies) and the plan JSON carries protect and
delete-before-replace."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from mlserve.offline import plan as plan_cli


def test_resource_options_are_recorded_as_declared(run_pulumi):
    def program():
        key = aws.kms.Key("key", opts=pulumi.ResourceOptions(protect=True))
        aws.ecr.Repository("repo", name="mlserve-dev/x", opts=pulumi.ResourceOptions(
            delete_before_replace=True, ignore_changes=["tags"], depends_on=[key]))
        aws.ecr.Repository("plain", name="mlserve-dev/y")

    plan = run_pulumi(program)
    key, repo, plain = plan.one("aws:kms/key:Key"), plan.one("aws:ecr/repository:Repository", "repo"), plan.one(
        "aws:ecr/repository:Repository", "plain")
    assert (key.protect, repo.protect, plain.protect) == (True, False, False)
    assert (repo.delete_before_replace, plain.delete_before_replace) == (True, False)
    assert repo.ignore_changes == ["tags"] and plain.ignore_changes == []
    assert key.urn in repo.dependencies and key.urn not in plain.dependencies
    resources = {r["name"]: r for r in plan_cli.to_json(plan)["resources"]}
    assert (resources["key"]["protect"], resources["repo"]["deleteBeforeReplace"], resources["plain"]["protect"]) == (True, True, False)
