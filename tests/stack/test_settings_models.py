"""The `models` and `rollout` sections: one meaning of a canary for both targets."""

from __future__ import annotations

import pytest

from mlserve.stack.settings.models import parse_model_ref
from tests.stack.test_settings import problems_for


def test_store_and_local_references_parse():
    store = parse_model_ref("fraud-model/3")
    assert (store.name, store.version, store.is_local) == ("fraud-model", "3", False)
    local = parse_model_ref("./build/demo-model/")
    assert (local.local_path, local.is_local, local.name) == ("build/demo-model", True, None)


@pytest.mark.parametrize("text", ["Fraud/3", "fraud-model", "fraud/3/x", "/abs/path", "./../outside"])
def test_bad_references_are_refused_naming_both_forms(text):
    with pytest.raises(ValueError, match="name/version|inside the repository"):
        parse_model_ref(text)


def test_bad_reference_names_the_key():
    problems = problems_for(lambda v: v.update({"mlserve:models": {"stable": "Fraud Model"}}))
    assert len(problems) == 1 and problems[0].startswith("mlserve:models.stable = ") and "name/version" in problems[0]


def test_canary_identical_to_stable_is_refused():
    problems = problems_for(lambda v: v.update({"mlserve:models": {"stable": "m/1", "canary": "m/1"}}))
    assert problems == ["mlserve:models.canary = 'm/1': identical to models.stable; name another version or remove the canary"]


@pytest.mark.parametrize("key,value", [("canaryWeight", 10), ("canaryHeaderRoute", True), ("mirrorPercent", 5)])
def test_rollout_without_a_canary_is_refused(key, value):
    def edit(values):
        values["mlserve:models"] = {"stable": "m/1"}
        values["mlserve:rollout"] = {key: value}

    problems = problems_for(edit)
    assert len(problems) == 1 and problems[0].startswith(f"mlserve:rollout.{key} = ") and "no models.canary" in problems[0]


@pytest.mark.parametrize("rollout,key", [({"canaryWeight": 101}, "canaryWeight"), ({"canaryWeight": -1}, "canaryWeight"),
                                         ({"mirrorPercent": 100.5}, "mirrorPercent")])
def test_weights_outside_0_to_100_are_refused(rollout, key):
    def edit(values):
        values["mlserve:models"] = {"stable": "m/1", "canary": "m/2"}
        values["mlserve:rollout"] = rollout

    problems = problems_for(edit)
    assert len(problems) == 1 and problems[0].startswith(f"mlserve:rollout.{key} = ")


def test_bad_sagemaker_and_alarm_settings_name_their_keys():
    def edit(values):
        values["mlserve:sagemaker"]["stable"] = {"instanceType": "ml.zz9.large"}
        values["mlserve:sagemaker"]["serverless"] = {"memoryMb": 1500}
        values["mlserve:alarms"]["subscriptions"] = [{"protocol": "email", "endpoint": "not-an-address"}]
        values["mlserve:alarms"]["p99LatencyMs"] = 0

    problems = problems_for(edit)
    assert any(p.startswith('mlserve:sagemaker.stable.instanceType = "ml.zz9.large"') for p in problems)
    assert any(p.startswith("mlserve:sagemaker.serverless.memoryMb = 1500") for p in problems)
    assert any(p.startswith('mlserve:alarms.subscriptions[0].endpoint = "not-an-address"') for p in problems)
    assert any(p.startswith("mlserve:alarms.p99LatencyMs = 0") for p in problems)


def test_sagemaker_without_models_is_refused():
    def edit(values):
        values["mlserve:targets"] = ["sagemaker"]
        del values["mlserve:models"]
        values["mlserve:rollout"] = {}

    assert "mlserve:models: targets has sagemaker but no models.stable to serve" in problems_for(edit)
