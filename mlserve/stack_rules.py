"""The net under the settings loader: every component's Args built once, before any resource.

Placeholders stand in for values that only exist after deployment (a VPC id, a role ARN), so a
rule only a component knows still fails as a settings error naming the stack file, and a stack is
never half-created. The loader (`mlserve/settings.py`) mirrors these rules with the stack file's
key names; this is what catches a rule added to a component and not to the loader.
"""

from __future__ import annotations

from mlserve import stack_args, stack_args_sagemaker, stack_args_serving
from mlserve.settings import NAMESPACE, Settings, SettingsError
from mlserve.stack_args_model_store import model_store_args


def check_component_rules(settings: Settings, stack: str, *, git=None) -> None:
    """Raise SettingsError if any component's Args refuse these settings. `git` is the serving
    image context's `components.image.GitState` (the image tag derives from it)."""
    placeholder_subnets = [f"subnet-{zone}" for zone in settings.network.availability_zones]
    try:
        stack_args.registry_args(settings, stack)
        stack_args.network_args(settings, stack)
        store = model_store_args(settings, stack) if settings.models is not None else None
        if "eks" in settings.targets:
            stack_args.cluster_args(settings, stack, vpc_id="vpc-placeholder", private_subnet_ids=placeholder_subnets)
        stack_args_serving.check_serving_rules(settings, git=git, store=store)
        stack_args_sagemaker.check_rules(settings, stack)
    except ValueError as error:
        problem = str(error) if str(error).startswith(f"{NAMESPACE}:") else f"{NAMESPACE}: {error}"
        raise SettingsError(f"Pulumi.{stack}.yaml", [problem]) from None
