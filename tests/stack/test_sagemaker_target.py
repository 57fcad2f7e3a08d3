"""The SageMaker target in the whole program: weights, guardrails, autoscaling, least privilege,
serverless in dev only, and an in-place endpoint update when the model version changes."""

from __future__ import annotations

import json

import pytest

from mlserve.offline import engine
from mlserve.offline.aws_reads import OfflineSageMaker, running_endpoint
from mlserve.stack.settings import SettingsError
from tests.stack.conftest import MANUAL_PROD
from tests.stack.test_settings import ROOT, as_config, problems_for, stack_values

ENDPOINT = "aws:sagemaker/endpoint:Endpoint"
CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
MODEL = "aws:sagemaker/model:Model"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


def build(stack: str, edit=None, sagemaker: OfflineSageMaker | None = None) -> engine.Plan:
    values = stack_values(stack)
    if edit is not None:
        edit(values)
    return engine.run_program(ROOT / "__main__.py", stack="prod" if stack == MANUAL_PROD else stack,
                              config=as_config(values), sagemaker=sagemaker)


def test_variant_weights_follow_the_canary_settings_and_sum_to_100(built_plan):
    config = built_plan(MANUAL_PROD).one(CONFIG)
    weights = {v["variantName"]: v["initialVariantWeight"] for v in config.inputs["productionVariants"]}
    assert weights == {"stable": 90, "canary": 10}  # rollout.canaryWeight: 10 in Pulumi.prod.yaml
    assert sum(weights.values()) == 100


def test_each_variant_serves_its_own_version_from_the_model_store(built_plan):
    plan = built_plan(MANUAL_PROD)
    models = {m.name: m for m in plan.of_type(MODEL)}
    urls = {name: m.inputs["primaryContainer"]["modelDataUrl"] for name, m in models.items()}
    assert urls["sagemaker-model-stable"].endswith("/models/fraud-model/3/model.tar.gz")
    assert urls["sagemaker-model-canary"].endswith("/models/fraud-model/4/model.tar.gz")
    assert all(m.inputs["enableNetworkIsolation"] is True for m in models.values())
    assert all("@sha256:" in m.inputs["primaryContainer"]["image"] for m in models.values())
    by_variant = {v["variantName"]: v["modelName"] for v in plan.one(CONFIG).inputs["productionVariants"]}
    assert by_variant == {"stable": models["sagemaker-model-stable"].outputs["name"],
                          "canary": models["sagemaker-model-canary"].outputs["name"]}


def test_the_rollback_names_alarms_this_stack_creates(built_plan):
    plan = built_plan(MANUAL_PROD)
    endpoint = plan.one(ENDPOINT)
    rollback = [a["alarmName"] for a in endpoint.inputs["deploymentConfig"]["autoRollbackConfiguration"]["alarms"]]
    declared = {a.inputs["name"]: a for a in plan.of_type(ALARM)}
    assert rollback and set(rollback) <= set(declared)
    # The rollback watches the model: latency and 5XX of both variants, on this endpoint.
    assert {(declared[n].inputs["metricName"], declared[n].inputs["dimensions"]["VariantName"]) for n in rollback} == {
        ("ModelLatency", "stable"), ("ModelLatency", "canary"),
        ("Invocation5XXErrors", "stable"), ("Invocation5XXErrors", "canary")}
    assert all(declared[n].inputs["dimensions"]["EndpointName"] == endpoint.inputs["name"] for n in rollback)


def test_blue_green_shifts_traffic_in_a_canary_step_and_bakes(built_plan):
    policy = built_plan(MANUAL_PROD).one(ENDPOINT).inputs["deploymentConfig"]["blueGreenUpdatePolicy"]
    routing = policy["trafficRoutingConfiguration"]
    assert routing["type"] == "CANARY" and routing["canarySize"] == {"type": "CAPACITY_PERCENT", "value": 10}
    assert routing["waitIntervalInSeconds"] == 10 * 60  # guardrails.bakeMinutes: 10
    assert policy["terminationWaitInSeconds"] == 10 * 60
    # The whole rollout (15 min to start the new fleet + 3 bakes) ends inside pulumi-aws's 60-minute
    # wait, leaving room for its polling; within the provider's (600-14400) and SageMaker's ranges.
    assert policy["maximumExecutionTimeoutInSeconds"] == 45 * 60 <= 55 * 60


def test_the_endpoint_waits_for_its_log_group(built_plan):
    # Without it SageMaker creates the group on first write: unencrypted, never expiring, and the
    # stack's own create then fails on "already exists".
    plan = built_plan("prod")
    logs = plan.one("aws:cloudwatch/logGroup:LogGroup", "sagemaker-logs")
    assert logs.inputs["name"] == "/aws/sagemaker/Endpoints/mlserve-prod" and logs.inputs["kmsKeyId"]
    assert logs.urn in plan.one(ENDPOINT).dependencies


def test_autoscaling_targets_the_endpoint_and_each_variant(built_plan):
    plan = built_plan(MANUAL_PROD)
    endpoint_name = plan.one(ENDPOINT).inputs["name"]
    targets = {t.name: t for t in plan.of_type("aws:appautoscaling/target:Target")}
    assert {t.inputs["resourceId"] for t in targets.values()} == {
        f"endpoint/{endpoint_name}/variant/stable", f"endpoint/{endpoint_name}/variant/canary"}
    assert all(t.inputs["scalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
               and (t.inputs["minCapacity"], t.inputs["maxCapacity"]) == (2, 8) for t in targets.values())
    for policy in plan.of_type("aws:appautoscaling/policy:Policy"):
        tracking = policy.inputs["targetTrackingScalingPolicyConfiguration"]
        assert tracking["predefinedMetricSpecification"]["predefinedMetricType"] == "SageMakerVariantInvocationsPerInstance"
        assert (tracking["targetValue"], tracking["scaleInCooldown"], tracking["scaleOutCooldown"]) == (600, 300, 60)
        assert policy.inputs["resourceId"] in {t.inputs["resourceId"] for t in targets.values()}


def test_the_execution_role_grants_only_its_repository_model_prefixes_logs_and_keys(built_plan):
    plan = built_plan(MANUAL_PROD)
    policy = json.loads(plan.one("aws:iam/rolePolicy:RolePolicy", "sagemaker-execution-policy").inputs["policy"])
    resources = {s["Sid"]: s["Resource"] for s in policy["Statement"]}
    repository = plan.one("aws:ecr/repository:Repository").outputs["arn"]
    assert resources["PullImage"] == repository
    assert resources["EcrToken"] == "*"  # no resource-level permissions exist for it
    assert sorted(resources["ReadModelVersions"]) == sorted(
        f"arn:aws:s3:::mlserve-prod-models-{engine.FAKE_ACCOUNT_ID}-us-west-2/models/fraud-model/{v}/*" for v in (3, 4))
    assert resources["WriteDataCapture"].endswith("/data-capture/mlserve-prod/*")
    assert all(r.startswith("arn:aws:logs:us-west-2:") and "/aws/sagemaker/Endpoints/mlserve-prod" in r
               for r in resources["WriteLogs"])
    assert all(r.startswith("arn:aws:kms:") for r in resources["UseKeys"]) and len(resources["UseKeys"]) == 3
    wildcard = [s["Sid"] for s in policy["Statement"] if s["Resource"] == "*"]
    # PutMetricData is scoped by its namespace condition; EC2's Describe calls have no resource-level permissions.
    assert wildcard == ["EcrToken", "WriteMetrics", "DescribeNetwork"]
    assert all("*" not in a for s in policy["Statement"] for a in s["Action"])


def test_data_capture_is_enabled_encrypted_and_sampled_from_the_settings(built_plan):
    capture = built_plan(MANUAL_PROD).one(CONFIG).inputs["dataCaptureConfig"]
    # pulumi-aws sends EnableCapture=false when the block leaves it out: the value must be there.
    assert capture["enableCapture"] is True
    assert capture["initialSamplingPercentage"] == 10
    assert capture["destinationS3Uri"].endswith("/data-capture/mlserve-prod")
    assert capture["kmsKeyId"].startswith("arn:aws:kms:")


def test_a_deploy_at_peak_starts_the_new_fleet_at_the_running_capacity(built_plan):
    # The endpoint runs stable at 8 (autoscaled from its configuration's 2) and canary at 3.
    endpoint, config = running_endpoint({"stable": (8, 2), "canary": (3, 2)}, config_name="mlserve-prod-live")
    account = OfflineSageMaker(account=engine.FAKE_ACCOUNT_ID, region="us-west-2",
                               endpoints={"mlserve-prod": endpoint}, endpoint_configs={"mlserve-prod-live": config})
    plan = build(MANUAL_PROD, lambda v: v["mlserve:models"].update(canary="fraud-model/5"), sagemaker=account)
    counts = {v["variantName"]: v["initialInstanceCount"] for v in plan.one(CONFIG).inputs["productionVariants"]}
    assert counts == {"stable": 8, "canary": 3}
    # A new endpoint (the offline account's default: "Could not find endpoint") starts at the stack file's.
    fresh = {v["variantName"]: v["initialInstanceCount"] for v in built_plan(MANUAL_PROD).one(CONFIG).inputs["productionVariants"]}
    assert fresh == {"stable": 2, "canary": 2}


def test_changing_the_model_version_makes_a_new_configuration_and_updates_the_endpoint_in_place(built_plan):
    before = built_plan(MANUAL_PROD)
    after = build(MANUAL_PROD, lambda v: v["mlserve:models"].update(canary="fraud-model/5"))
    old_config, new_config = before.one(CONFIG), after.one(CONFIG)
    # A configuration is immutable (every pulumi-aws input replaces it); auto-named from a prefix and
    # replaced create-before-delete, so the new one never collides with the one serving.
    assert old_config.outputs["name"] != new_config.outputs["name"]
    assert "name" not in new_config.inputs and new_config.inputs["namePrefix"] == "mlserve-prod-"
    assert not new_config.delete_before_replace and not after.one(MODEL, "sagemaker-model-canary").delete_before_replace
    old_endpoint, new_endpoint = before.one(ENDPOINT), after.one(ENDPOINT)
    changed = {k for k in old_endpoint.inputs.keys() | new_endpoint.inputs.keys()
               if old_endpoint.inputs.get(k) != new_endpoint.inputs.get(k)}
    # Only endpointConfigName changes: UpdateEndpoint (blue/green), same endpoint, same name.
    assert changed == {"endpointConfigName"}
    assert new_endpoint.inputs["endpointConfigName"] == new_config.outputs["name"]
    assert not new_endpoint.delete_before_replace


def _dev_with_sagemaker(values):
    values["mlserve:targets"] = ["eks", "sagemaker"]


def test_dev_may_serve_from_a_serverless_variant():
    plan = build("dev", _dev_with_sagemaker)
    [variant] = plan.one(CONFIG).inputs["productionVariants"]
    assert variant["serverlessConfig"] == {"memorySizeInMb": 2048, "maxConcurrency": 5}
    assert "instanceType" not in variant and "dataCaptureConfig" not in plan.one(CONFIG).inputs
    assert "vpcConfig" not in plan.one(MODEL).inputs  # serverless endpoints cannot join a VPC
    assert plan.of_type("aws:appautoscaling/target:Target") == []  # serverless scales itself
    assert "kmsKeyArn" not in plan.one(CONFIG).inputs  # serverless variants take no volume key
    sagemaker_alarms = {a.inputs["name"]: a for a in plan.of_type(ALARM) if "-sagemaker-" in a.inputs["name"]}
    assert set(sagemaker_alarms) == {f"mlserve-dev-sagemaker-stable-{kind}" for kind in ("p99-latency", "5xx", "4xx", "overhead-latency")}
    assert all(a.inputs["actionsEnabled"] is False for a in sagemaker_alarms.values())  # dev records only


def test_prod_may_not_use_serverless():
    problems = problems_for(lambda v: v["mlserve:sagemaker"].update(serverless={"memoryMb": 2048}), stack="prod")
    assert any(p.startswith("mlserve:sagemaker.serverless: not allowed where tags.environment is 'prod'") for p in problems)


def test_serverless_with_a_canary_or_data_capture_is_refused_naming_the_key():
    def edit(values):
        _dev_with_sagemaker(values)
        values["mlserve:models"]["canary"] = "fraud-model/4"
        values["mlserve:sagemaker"]["dataCapturePercent"] = 5

    problems = problems_for(edit)
    assert any(p.startswith("mlserve:sagemaker.serverless: a serverless endpoint has one variant") for p in problems)
    assert any(p.startswith("mlserve:sagemaker.dataCapturePercent = 5") for p in problems)


def test_instance_count_outside_the_autoscaling_bounds_is_refused():
    problems = problems_for(lambda v: v["mlserve:sagemaker"]["stable"].update(instanceCount=9), stack="prod")
    assert problems == ["mlserve:sagemaker.stable.instanceCount = 9: outside autoscaling.minInstances..maxInstances (2..8)"]


def test_a_bad_sagemaker_setting_declares_nothing():
    values = stack_values("prod")
    values["mlserve:sagemaker"]["guardrails"]["mode"] = "all-at-once"
    recorded = engine.Plan(stack="prod")
    with pytest.raises(Exception) as caught:
        engine.run_program(ROOT / "__main__.py", stack="prod", config=as_config(values), plan=recorded)
    assert "mlserve:sagemaker.guardrails.mode" in str(caught.value)
    assert isinstance(caught.value, SettingsError) or "SettingsError" in repr(caught.value)
    assert recorded.resources == []


def test_sagemaker_alone_declares_no_cluster_and_only_sagemaker_alarms():
    plan = build(MANUAL_PROD, lambda v: v.update({"mlserve:targets": ["sagemaker"]}))
    assert plan.of_type("aws:eks/cluster:Cluster") == [] and plan.of_type("aws:eks/addon:Addon") == []
    names = [a.inputs["name"] for a in plan.of_type(ALARM)]
    assert names and all(name.startswith("mlserve-prod-sagemaker-") for name in names)
    assert plan.one(ENDPOINT).inputs["name"] == "mlserve-prod"


def test_a_rollout_longer_than_pulumi_waits_is_refused_naming_the_keys_and_minutes():
    problems = problems_for(lambda v: v["mlserve:sagemaker"].update(
        guardrails={"mode": "linear", "stepPercent": 10, "bakeMinutes": 10}), stack="prod")
    assert problems == ["mlserve:sagemaker.guardrails = {mode: linear, stepPercent: 10, bakeMinutes: 10}: a linear "
                        "deployment takes up to 125 min (11 bakes of 10 min after 15 min to start the new fleet), but "
                        "pulumi up waits 60 min for the endpoint (at most 55 min leave room for its polling); use fewer "
                        "steps (a larger stepPercent, or canary) or a shorter bakeMinutes"]


def test_steps_outside_sagemakers_ranges_for_the_fleet_are_refused():
    problems = problems_for(lambda v: v["mlserve:sagemaker"].update(
        guardrails={"mode": "linear", "stepPercent": 5, "bakeMinutes": 1}), stack="prod")
    assert any(p.startswith("mlserve:sagemaker.guardrails.stepPercent = 5 (linear, variant stable") and
               "a linear step must be 10-50% of the fleet, got 5%" in p for p in problems)
    odd = problems_for(lambda v: v["mlserve:sagemaker"].update(
        guardrails={"mode": "canary", "stepPercent": 50, "bakeMinutes": 10}), stack="prod")
    assert any("50% of 3 instance(s) is 2 instance(s), over half the variant" in p for p in odd)


def test_prod_variants_never_run_on_one_instance():
    problems = problems_for(lambda v: (v["mlserve:sagemaker"]["canary"].update(instanceCount=1),
                                       v["mlserve:sagemaker"]["autoscaling"].update(minInstances=1)), stack=MANUAL_PROD)
    assert "mlserve:sagemaker.canary.instanceCount = 1: prod variants keep at least 2 instances (one instance's " \
           "loss must not stop serving)" in problems
    assert any(p.startswith("mlserve:sagemaker.autoscaling.minInstances = 1: prod variants keep at least 2") for p in problems)


def test_prod_variants_are_declared_with_two_or_more_instances(built_plan):
    plan = built_plan("prod")
    assert all(v["initialInstanceCount"] >= 2 for v in plan.one(CONFIG).inputs["productionVariants"])
    assert all(t.inputs["minCapacity"] >= 2 for t in plan.of_type("aws:appautoscaling/target:Target"))


def test_the_models_run_in_the_private_subnets_behind_their_own_group(built_plan):
    plan = built_plan("prod")
    private = sorted(s.id for s in plan.of_type("aws:ec2/subnet:Subnet") if "-private-" in s.name)
    group = plan.one("aws:ec2/securityGroup:SecurityGroup", "sagemaker-models")
    for model in plan.of_type(MODEL):
        vpc = model.inputs["vpcConfig"]
        assert sorted(vpc["subnets"]) == private and vpc["securityGroupIds"] == [group.id]
    assert "ingress" not in group.inputs or group.inputs["ingress"] == []
    egress = group.inputs["egress"]
    assert {(e["fromPort"], e["toPort"]) for e in egress} == {(443, 443)}
    assert [e["cidrBlocks"] for e in egress if "cidrBlocks" in e] == [["10.30.0.0/16"]]
    s3 = plan.one("aws:ec2/vpcEndpoint:VpcEndpoint", "network-s3")
    assert [e["prefixListIds"] for e in egress if "prefixListIds" in e] == [[s3.outputs["prefixListId"]]]


def test_the_sagemaker_api_and_runtime_have_interface_endpoints_in_the_vpc(built_plan):
    for stack, expected in (("prod", True), ("dev", False)):
        services = {e.inputs["serviceName"] for e in built_plan(stack).of_type("aws:ec2/vpcEndpoint:VpcEndpoint")}
        present = {"com.amazonaws.us-west-2.sagemaker.runtime", "com.amazonaws.us-west-2.sagemaker.api"} <= services
        assert present is expected, stack  # dev's targets are [eks]


def test_each_variant_has_an_overhead_latency_alarm(built_plan):
    alarms = [a for a in built_plan(MANUAL_PROD).of_type(ALARM) if a.inputs.get("metricName") == "OverheadLatency"]
    assert sorted(a.inputs["dimensions"]["VariantName"] for a in alarms) == ["canary", "stable"]
    assert all(a.inputs["namespace"] == "AWS/SageMaker" and a.inputs["extendedStatistic"] == "p99" for a in alarms)


def test_a_hosting_type_typo_names_the_key_and_the_real_type():
    problems = problems_for(lambda v: v["mlserve:sagemaker"]["stable"].update(instanceType="ml.c5.xlarg"), stack="prod")
    [problem] = problems
    assert problem.startswith("mlserve:sagemaker.stable.instanceType = \"ml.c5.xlarg\": 'ml.c5.xlarg' is not a "
                              "SageMaker hosting instance type; did you mean 'ml.c5.xlarge' or")
