"""SageMaker rules: encrypted endpoints and data capture, isolated model containers, guarded rollouts."""

from __future__ import annotations

from policies.rules import as_list, get, resource_rule, stack_rule

MODEL = "aws:sagemaker/model:Model"
ENDPOINT_CONFIGURATION = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
ENDPOINT = "aws:sagemaker/endpoint:Endpoint"
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
COMPOSITE_ALARM = "aws:cloudwatch/compositeAlarm:CompositeAlarm"


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


def _watches(alarm, endpoint_name: str, alarms) -> bool:
    """A metric alarm on the endpoint (dimension EndpointName, directly or in a metric query), or a
    composite alarm whose rule names one."""
    if alarm.resource_type == COMPOSITE_ALARM:
        rule = str(get(alarm.props, "alarmRule", ""))
        return any(_watches(other, endpoint_name, alarms) for name, other in alarms.items()
                   if other.resource_type == METRIC_ALARM and f'"{name}"' in rule)
    dimensions = [get(alarm.props, "dimensions") or {}] + [
        get(q, "metric.dimensions") or {} for q in as_list(get(alarm.props, "metricQueries"))]
    return any(get(d, "EndpointName") == endpoint_name for d in dimensions)


def _rollback_alarms(args):
    """Each endpoint rolls back on alarms this stack declares, at least one of them on that endpoint:
    SageMaker accepts any alarm name, and one that does not exist never fires."""
    alarms = {get(r.props, "name") if r.resource_type == METRIC_ALARM else get(r.props, "alarmName"): r
              for r in args.resources if r.resource_type in (METRIC_ALARM, COMPOSITE_ALARM)}
    for endpoint in (r for r in args.resources if r.resource_type == ENDPOINT):
        names = [get(a, "alarmName") for a in as_list(get(endpoint.props, "deploymentConfig.autoRollbackConfiguration.alarms"))]
        names = [n for n in names if n]
        if not names:
            yield ("set deploymentConfig.autoRollbackConfiguration.alarms to the endpoint's error and latency alarms "
                   "so a bad blue/green or canary deployment rolls back by itself"), endpoint.urn
            continue
        unknown = [n for n in names if n not in alarms]
        if unknown:
            yield (f"rollback alarms {unknown} are not alarms of this stack: name the stack's own alarms "
                   "(an alarm that does not exist never fires)"), endpoint.urn
        endpoint_name = get(endpoint.props, "name")
        if endpoint_name and not any(_watches(alarms[n], endpoint_name, alarms) for n in names if n in alarms):
            yield (f"no rollback alarm watches endpoint {endpoint_name} (dimension EndpointName): add its error "
                   "and latency alarms"), endpoint.urn


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
    stack_rule("sagemaker-endpoint-rollback-alarms",
               "SageMaker endpoints deploy with auto-rollback on alarms this stack declares on them "
               "(SageMaker deployment guardrails docs).",
               _rollback_alarms),
]
