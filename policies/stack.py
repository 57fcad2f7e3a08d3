"""Our own stack rules: tags, physical names per stack, prod guardrails, and the cost guard."""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Mapping
from functools import lru_cache

from components import serving_contract
from policies import cost, prices
from policies.names import ACCOUNT_SINGLETONS, physical_name
from policies.nodes import is_gpu_pool
from policies.rules import ADVISORY, as_list, get, resource_rule, setting, stack_of, stack_rule

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
ENDPOINT_CONFIGURATION = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
SCALABLE_TARGET = "aws:appautoscaling/target:Target"
ALARMS = ("aws:cloudwatch/metricAlarm:MetricAlarm", "aws:cloudwatch/compositeAlarm:CompositeAlarm")

TAG_CONFIG = {"requiredTagKeys": {"type": "array", "items": {"type": "string"},
                                  "default": ["environment", "owner", "cost-center"],
                                  "description": "Tag keys every taggable AWS resource carries (own tags or provider default tags)"}}
NAME_CONFIG = {"ownsAccountSingletons": {"type": "boolean", "default": False,
                                         "description": "Whether this stack may declare one-per-account resources"}}
SPOT_CONFIG = {"allowSpotGpu": {"type": "boolean", "default": True, "description": "Whether GPU pools may use spot"}}
REPLICA_CONFIG = {"minServingReplicas": {"type": "integer", "default": 1,
                                         "description": "Fewest replicas a serving Deployment (or its autoscaler) may run, "
                                                        "and fewest instances of a SageMaker variant"}}
ALARM_CONFIG = {"requireActions": {"type": "boolean", "default": False,
                                   "description": "Whether every alarm must notify (alarmActions)"}}
GPU_CONFIG = {"maxGpuNodes": {"type": "integer", "default": 4, "description": "Most GPU nodes all pools together may reach"}}
BUDGET_CONFIG = {"monthlyBudgetUsd": {"type": "number", "default": 2000,
                                      "description": "Most the estimated monthly cost (at maximum scale) may be"}}

@lru_cache(maxsize=None)
def is_taggable(resource_type: str) -> bool:
    """Whether pulumi-aws's resource class for `resource_type` takes `tags` (read from the installed SDK)."""
    package, rest = resource_type.split(":", 1)
    if package != "aws" or "/" not in rest:
        return False
    module, class_name = rest.split("/", 1)[0], rest.rsplit(":", 1)[-1]
    try:
        resource_class = getattr(importlib.import_module(f"pulumi_aws.{module}"), class_name)
    except (ImportError, AttributeError):
        return False
    return "tags" in inspect.signature(resource_class._internal_init).parameters


def _default_tags(provider_props) -> Mapping:
    tags = get(provider_props or {}, "defaultTags")
    if isinstance(tags, str):  # provider config reaches the engine as a JSON string
        tags = json.loads(tags) if tags else {}
    return get(tags or {}, "tags", {}) or {}


def _required_tags(props, args):
    if not is_taggable(args.resource_type):
        return
    provider_props = args.provider.props if args.provider is not None else None
    tags = {**_default_tags(provider_props), **(props.get("tags") or {})}
    missing = [k for k in setting(args, TAG_CONFIG, "requiredTagKeys") if not tags.get(k)]
    if missing:
        yield f"missing tags {missing}: set them in the stack file's mlserve:tags (the provider's default_tags)"


def _names_carry_stack(props, args):
    stack, project = stack_of(args.urn), args.urn.split("::")[1]
    if args.resource_type in ACCOUNT_SINGLETONS and not setting(args, NAME_CONFIG, "ownsAccountSingletons"):
        yield (f"{args.resource_type} is one per account and region: only the stack whose policy config sets "
               "ownsAccountSingletons may declare it (two stacks would overwrite each other)")
    name = physical_name(args.resource_type, props)
    if name is not None and f"{project}-{stack}" not in name:
        yield (f"physical name {name!r} does not carry the stack: derive it from stack_args.name_prefix "
               f"('{project}-{stack}') so dev and prod in one account cannot claim it both")


def _no_spot_gpu(props, args):
    if not setting(args, SPOT_CONFIG, "allowSpotGpu") and is_gpu_pool(props) and props.get("capacityType") == "SPOT":
        yield "GPU pool on spot capacity: set capacityType on-demand (spot GPUs are reclaimed under load)"


def _serving_replicas(props, args):
    minimum = setting(args, REPLICA_CONFIG, "minServingReplicas")
    if args.resource_type in (ENDPOINT_CONFIGURATION, SCALABLE_TARGET):
        yield from _sagemaker_instances(props, args.resource_type, minimum)
        return
    if get(props, "metadata.namespace") != serving_contract.SERVING_NAMESPACE:
        return
    path = {DEPLOYMENT: "spec.replicas", SCALED_OBJECT: "spec.minReplicaCount"}.get(args.resource_type, "spec.minReplicas")
    value = get(props, path)
    if value is None and args.resource_type == DEPLOYMENT:
        return  # left to its autoscaler (checked on the HPA's minReplicas)
    value = (0 if args.resource_type == SCALED_OBJECT else 1) if value is None else value  # KEDA's default 0, the HPA's 1
    if float(value) < minimum:
        yield f"{path} is {int(float(value))}: run at least {minimum} so one node's loss does not stop serving"


def _sagemaker_instances(props, resource_type, minimum):
    """SageMaker instance variants: what a configuration starts with and what autoscaling may go down to
    (AWS Config's sagemaker-endpoint-config-prod-instance-count asks the same of prod)."""
    if resource_type == SCALABLE_TARGET:
        if props.get("serviceNamespace") == "sagemaker" and float(props.get("minCapacity", 0)) < minimum:
            yield (f"minCapacity is {int(float(props.get('minCapacity', 0)))}: keep at least {minimum} instances per "
                   "SageMaker variant so one instance's loss does not stop serving")
        return
    for variant in as_list(props.get("productionVariants")):
        count = get(variant, "initialInstanceCount")
        if count is not None and not get(variant, "serverlessConfig") and float(count) < minimum:
            yield (f"productionVariants {get(variant, 'variantName')!r}: initialInstanceCount is {int(float(count))}: "
                   f"start at least {minimum} instances")


def _alarm_actions(props, args):
    if not setting(args, ALARM_CONFIG, "requireActions"):
        return
    if not as_list(props.get("alarmActions")) or props.get("actionsEnabled") is False:
        yield "set alarmActions to the stack's alarm topic (and keep actionsEnabled): an alarm nobody hears is no alarm"


def _resources(args) -> list[cost.Resource]:
    return [cost.Resource(type=r.resource_type, name=r.name, props=r.props, urn=r.urn,
                          dependencies=[d.urn for d in r.dependencies]) for r in args.resources]


def _gpu_nodes(args):
    limit = setting(args, GPU_CONFIG, "maxGpuNodes")
    pools = [r for r in args.resources if r.resource_type == NODE_GROUP and is_gpu_pool(r.props)]
    total = sum(float(get(p.props, "scalingConfig.maxSize", 0)) for p in pools)
    if total > limit:
        detail = ", ".join(f"{p.name}={int(float(get(p.props, 'scalingConfig.maxSize', 0)))}" for p in pools)
        yield f"GPU pools may reach {int(total)} nodes ({detail}), above maxGpuNodes {limit}: lower nodePools[].maxSize", None


def region_of(args) -> str:
    regions = [get(r.props, "region") for r in args.resources if r.resource_type == "pulumi:providers:aws"]
    return str(next((r for r in regions if r), "us-east-1"))


def _estimate(args) -> cost.Estimate:
    return cost.estimate(_resources(args), region_of(args))


def _budget(args):
    budget = float(setting(args, BUDGET_CONFIG, "monthlyBudgetUsd"))
    try:
        result = _estimate(args)
    except ValueError as error:  # a malformed cost_assumptions output
        yield f"cannot estimate the cost: {error}", None
        return
    if result.monthly_max > budget:
        least = "" if result.complete else " at least (parts of the plan are unpriced, see cost-estimate-complete)"
        yield (f"estimated monthly cost at maximum scale is{least} ${result.monthly_max:,.2f} (prices as of "
               f"{prices.PRICES_AS_OF}), above the budget ${budget:,.2f}: lower pool maxima or raise monthlyBudgetUsd "
               "in the policy config"), None


def _estimate_complete(args):
    try:
        result = _estimate(args)
    except ValueError:
        return  # cost-guard-monthly-budget reports it
    if not result.complete:
        yield (f"the cost estimate could not price {'; '.join(result.unpriced)}: cost-guard-monthly-budget checked only "
               f"the priced part (${result.monthly_max:,.2f} at maximum scale); add the missing prices to policies/prices.json"), None


RULES = [
    resource_rule("required-tags",
                  "Every taggable AWS resource carries the required cost-allocation tags (AWS Well-Architected COST03-BP02).",
                  None, _required_tags, config=TAG_CONFIG),
    resource_rule("physical-names-carry-stack",
                  "Account-unique physical names carry the stack, and one-per-account resources are declared by one stack "
                  "(mlserve: dev and prod may share one AWS account and region).",
                  None, _names_carry_stack, config=NAME_CONFIG),
    resource_rule("no-spot-gpu-pools",
                  "GPU node pools use on-demand capacity where the policy config forbids spot (EKS best practices: AI/ML, capacity).",
                  [NODE_GROUP], _no_spot_gpu, config=SPOT_CONFIG),
    resource_rule("serving-min-replicas",
                  "Serving Deployments, SageMaker variants and their autoscalers keep the configured minimum replicas "
                  "(EKS best practices, reliability; AWS Config sagemaker-endpoint-config-prod-instance-count).",
                  [DEPLOYMENT, HPA, SCALED_OBJECT, ENDPOINT_CONFIGURATION, SCALABLE_TARGET], _serving_replicas, config=REPLICA_CONFIG),
    resource_rule("alarm-has-action",
                  "CloudWatch alarms notify someone where the policy config asks for it (Checkov CKV_AWS_319).",
                  list(ALARMS), _alarm_actions, config=ALARM_CONFIG),
    stack_rule("cost-guard-gpu-nodes", "GPU pools together stay under the configured node maximum (mlserve cost guard).",
               _gpu_nodes, config=GPU_CONFIG),
    stack_rule("cost-guard-monthly-budget",
               "The estimated monthly cost at maximum scale stays under the configured budget (mlserve cost guard, policies/cost/).",
               _budget, config=BUDGET_CONFIG),
    # Advisory by default: a region or instance type the price table lacks is a valid choice (the table lags
    # AWS, not the stack), so it must not block a deploy; the budget rule still refuses a priced part that is
    # over budget. A policy config can make this mandatory for a stack that must be fully priced.
    stack_rule("cost-estimate-complete",
               "Every resource the cost estimate models has a price, so the budget check saw the whole plan (mlserve cost guard).",
               _estimate_complete, enforcement=ADVISORY),
]
