"""SageMaker rules: encrypted endpoints and data capture, isolated model containers, guarded rollouts."""

from __future__ import annotations

from policies.rules import as_list, get, resource_rule

MODEL = "aws:sagemaker/model:Model"
ENDPOINT_CONFIGURATION = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
ENDPOINT = "aws:sagemaker/endpoint:Endpoint"


def _endpoint_kms(props, _args):
    # kmsKeyArn encrypts the ML storage volumes of the endpoint's instances. Serverless variants
    # have no volume and AWS refuses the key for them:
    # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpointConfig.html#sagemaker-CreateEndpointConfig-request-KmsKeyId
    variants = as_list(props.get("productionVariants"))
    if variants and all(get(v, "serverlessConfig") for v in variants):
        return
    if not props.get("kmsKeyArn"):
        yield "set kmsKeyArn to the stack's SageMaker key so the endpoint's instance volumes are encrypted with it"


def _network_isolation(props, _args):
    if props.get("enableNetworkIsolation") is not True:
        yield ("set enableNetworkIsolation = true: the serving container then makes no network calls "
               "(SageMaker still downloads the model artifact for it)")


def _data_capture(props, _args):
    capture = props.get("dataCaptureConfig")
    if capture and get(capture, "enableCapture") is True and not get(capture, "kmsKeyId"):
        yield "set dataCaptureConfig.kmsKeyId: captured requests and responses hold user data"


def _capture_enabled(props, _args):
    # pulumi-aws sends EnableCapture=false when the block leaves it out (its documented default):
    # the configuration then looks captured and records nothing.
    capture = props.get("dataCaptureConfig")
    if capture and get(capture, "enableCapture") is not True:
        yield ("set dataCaptureConfig.enableCapture = true (pulumi-aws defaults it to false, so this block captures "
               "nothing), or remove dataCaptureConfig")


def _rollback_alarms(props, _args):
    alarms = as_list(get(props, "deploymentConfig.autoRollbackConfiguration.alarms"))
    if not any(get(a, "alarmName") for a in alarms):
        yield ("set deploymentConfig.autoRollbackConfiguration.alarms to the endpoint's error and latency alarms "
               "so a bad blue/green or canary deployment rolls back by itself")


RULES = [
    resource_rule("sagemaker-endpoint-config-kms",
                  "SageMaker endpoint configurations encrypt their volumes with a KMS key (Checkov CKV_AWS_98).",
                  [ENDPOINT_CONFIGURATION], _endpoint_kms),
    resource_rule("sagemaker-model-network-isolation",
                  "SageMaker models run with network isolation (Checkov CKV_AWS_370).",
                  [MODEL], _network_isolation),
    resource_rule("sagemaker-data-capture-encrypted",
                  "SageMaker data capture is encrypted with a KMS key (SageMaker Model Monitor docs: DataCaptureConfig.KmsKeyId).",
                  [ENDPOINT_CONFIGURATION], _data_capture),
    resource_rule("sagemaker-data-capture-enabled",
                  "A SageMaker data capture configuration is switched on (EnableCapture), not left at the provider's false.",
                  [ENDPOINT_CONFIGURATION], _capture_enabled),
    resource_rule("sagemaker-endpoint-rollback-alarms",
                  "SageMaker endpoints deploy with auto-rollback alarms (SageMaker deployment guardrails docs).",
                  [ENDPOINT], _rollback_alarms),
]
