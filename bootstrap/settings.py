"""The bootstrap stack's settings (`mlserve-bootstrap:` keys), validated before anything is declared:
one SettingsError lists every bad key with its stack file, as the main program's loader does."""

from __future__ import annotations

import json
from typing import Any

import pulumi
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from components.ci_trust import CiEnvironment, CiTrustArgs, StateAccess
from mlserve.stack.args.naming import name_prefix
from mlserve.stack.settings.loader import SettingsError

NAMESPACE = "mlserve-bootstrap"


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, extra="forbid", frozen=True, populate_by_name=False)


class StateSettings(_Model):
    """A self-managed S3 state backend the preview roles may read (leave unset with Pulumi Cloud)."""

    bucket: str = Field(min_length=3, max_length=63)
    key_prefix: str = ".pulumi/"
    """Default ".pulumi/": where the backend keeps its files in the bucket."""
    project: str = "mlserve"
    """Default "mlserve": the project whose stacks are read."""
    secrets_key_arn: str | None = Field(default=None, pattern=r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/.+$")
    """Default none: the `awskms://` secrets provider's key, which a preview decrypts with."""


class BootstrapSettings(_Model):
    """What one account's trust admits."""

    repository: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")
    """Required, "<owner>/<repo>" as GitHub spells it."""
    region: str = Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
    """The provider's region (IAM is global; the provider still needs one)."""
    environments: tuple[str, ...] = Field(min_length=1)
    """The stacks of the main program deployed into this account ("dev", "prod")."""
    existing_oidc_provider_arn: str | None = Field(
        default=None, pattern=r"^arn:aws[a-z-]*:iam::\d{12}:oidc-provider/token\.actions\.githubusercontent\.com$")
    """Default none (created here). The account's GitHub OIDC provider where another project made it."""
    deploy_policies: tuple[str, ...] = ("AdministratorAccess",)
    """Default ["AdministratorAccess"]: managed-policy names or ARNs attached to the deploy roles."""
    permissions_boundary_arn: str | None = Field(default=None, pattern=r"^arn:aws[a-z-]*:iam::(\d{12}|aws):policy/.+$")
    """Default none: a permissions boundary on the deploy roles."""
    state: StateSettings | None = None
    """Default none (Pulumi Cloud)."""
    tags: dict[str, str] = Field(default_factory=dict)
    """Tags on every resource."""

    @field_validator("environments")
    @classmethod
    def _environments(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("each environment once")
        for name in value:
            if not name or not name[0].isalpha() or not all(c.islower() or c.isdigit() or c == "-" for c in name) or len(name) > 20:
                raise ValueError(f"{name!r}: lowercase letters, digits and '-', starting with a letter, at most 20")
        return value


def parse(raw: dict[str, str], *, stack_file: str) -> BootstrapSettings:
    """Validate the `mlserve-bootstrap:` keys of a config map (strings, structured values as JSON)."""
    values: dict[str, Any] = {}
    for full_key, text in raw.items():
        namespace, _, key = full_key.partition(":")
        if namespace == NAMESPACE:
            values[key] = json.loads(text) if isinstance(text, str) and text[:1] in "[{" else text
    try:
        return BootstrapSettings.model_validate(values)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            path = NAMESPACE + ":" + ".".join(str(p) for p in item["loc"])
            if item["type"] == "missing":
                problems.append(f"{path}: required, not set")
            elif item["type"] == "extra_forbidden":
                problems.append(f"{path}: unknown key (allowed: {sorted(f.alias for f in BootstrapSettings.model_fields.values())})")
            else:
                problems.append(f"{path} = {json.dumps(item.get('input'), default=str)[:120]}: {item['msg'].removeprefix('Value error, ')}")
        raise SettingsError(stack_file, problems) from None


def load() -> BootstrapSettings:
    """The running stack's settings (raises SettingsError before any resource is declared)."""
    from pulumi.runtime import config as runtime_config

    raw = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    return parse(raw, stack_file=f"Pulumi.{pulumi.get_stack()}.yaml")


def ci_trust_args(settings: BootstrapSettings) -> CiTrustArgs:
    """Settings -> the component's Args; role names derive from each environment's stack name."""
    state = settings.state
    return CiTrustArgs(
        repository=settings.repository,
        environments=tuple(CiEnvironment(name=env, preview_role_name=f"{name_prefix(env)}-github-preview",
                                         deploy_role_name=f"{name_prefix(env)}-github-deploy") for env in settings.environments),
        existing_provider_arn=settings.existing_oidc_provider_arn,
        deploy_policy_arns=settings.deploy_policies,
        permissions_boundary_arn=settings.permissions_boundary_arn,
        state=StateAccess(bucket=state.bucket, key_prefix=state.key_prefix, project=state.project,
                          secrets_key_arn=state.secrets_key_arn) if state else None,
        tags=dict(settings.tags),
    )
