"""The trust between GitHub Actions and an AWS account: the GitHub OIDC provider and, per
environment, a preview role (read-only, for pull requests) and a deploy role (for the environment).

Each role trusts one GitHub OIDC subject of one repository, with the token's audience pinned to STS:
- preview: `repo:<owner>/<repo>:pull_request`, the subject GitHub gives a pull-request job that binds
  no environment (pulumi-preview.yml). Read-only: AWS's ReadOnlyAccess, minus the reads that return
  data rather than configuration (objects, secrets, parameters, log events, table items, image
  layers), plus read access to this environment's Pulumi state where the state lives in S3.
- deploy: `repo:<owner>/<repo>:environment:<env>`, the subject of a job bound to that GitHub
  environment (deploy.yml). The environment's deployment-branch rule (main only) and reviewers are
  what keep other refs out; without them any branch could claim the subject (docs/ci.md).
Trust policies are plain JSON built by pure functions (tested without Pulumi).
https://docs.github.com/en/actions/how-tos/secure-your-work/security-harden-deployments/oidc-in-aws
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.iam_roles import managed_policy_arn, partition_of

GITHUB_ISSUER = "token.actions.githubusercontent.com"
AUDIENCE = "sts.amazonaws.com"
"""The audience configure-aws-credentials requests: the one value the trust accepts."""
DEPLOY_SESSION_SECONDS = 7200
"""A deploy role's longest session: a `pulumi up` may take most of a 90-minute deploy job."""
PREVIEW_SESSION_SECONDS = 3600
_REPOSITORY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")
_ENVIRONMENT = re.compile(r"[a-z][a-z0-9-]{0,19}")
# Reads ReadOnlyAccess allows that return data, not configuration: a pull request's code has no use
# for them, and they are what a leaked preview session would be after.
DATA_READS = (
    "s3:GetObject", "s3:GetObjectVersion", "secretsmanager:GetSecretValue", "ssm:GetParameter", "ssm:GetParameters",
    "ssm:GetParametersByPath", "ssm:GetParameterHistory", "logs:GetLogEvents", "logs:FilterLogEvents", "logs:StartQuery",
    "logs:GetQueryResults", "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan",
    "sqs:ReceiveMessage", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage", "lambda:GetFunction",
    "athena:GetQueryResults", "kinesis:GetRecords", "glue:GetTable",
)


def pull_request_subject(repository: str) -> str:
    """The `sub` of a pull-request job that binds no environment."""
    return f"repo:{repository}:pull_request"


def environment_subject(repository: str, environment: str) -> str:
    """The `sub` of a job bound to a GitHub environment."""
    return f"repo:{repository}:environment:{environment}"


def github_trust_policy(provider_arn: str, subject: str) -> dict[str, Any]:
    """Only a GitHub Actions token for exactly `subject`, minted for STS, may assume the role.
    StringEquals on both: no wildcard subject, no other audience."""
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "GitHubActionsOidc",
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {f"{GITHUB_ISSUER}:aud": AUDIENCE, f"{GITHUB_ISSUER}:sub": subject}},
        }],
    }


@dataclass(frozen=True, kw_only=True)
class StateAccess:
    """Where Pulumi keeps state when it is a self-managed S3 backend (`pulumi login s3://...`)."""

    bucket: str
    """The state bucket's name."""
    key_prefix: str = ".pulumi/"
    """Default ".pulumi/": the backend's root inside the bucket."""
    project: str = "mlserve"
    """Default "mlserve": the project whose stacks the roles may read (`stacks/<project>/<env>.json`)."""
    secrets_key_arn: str | None = None
    """Default none. The KMS key of the `awskms://` secrets provider, which the preview decrypts with."""

    def object_arns(self, partition: str, environment: str) -> list[str]:
        """What a preview of `environment` reads: the backend's metadata and that stack's checkpoint."""
        root = f"arn:{partition}:s3:::{self.bucket}/{self.key_prefix}"
        return [f"{root}meta.yaml", f"{root}stacks/{self.project}/{environment}.json*"]


def preview_permissions(partition: str, environment: str, state: StateAccess | None) -> dict[str, Any]:
    """The preview role's own policy: deny data reads (but this environment's state), and allow
    reading that state (list its prefix, decrypt its secrets) where it lives in S3."""
    keep = state.object_arns(partition, environment) if state else []
    statements: list[dict[str, Any]] = [
        {"Sid": "DenyDataReads", "Effect": "Deny", "Action": [a for a in DATA_READS if not a.startswith("s3:")], "Resource": "*"},
        {"Sid": "DenyObjectReadsButState", "Effect": "Deny", "Action": ["s3:GetObject", "s3:GetObjectVersion"],
         **({"NotResource": keep} if keep else {"Resource": "*"})},
    ]
    if state:
        statements.append({"Sid": "ReadState", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": keep})
        statements.append({"Sid": "ListState", "Effect": "Allow", "Action": ["s3:ListBucket"],
                           "Resource": f"arn:{partition}:s3:::{state.bucket}",
                           "Condition": {"StringLike": {"s3:prefix": [f"{state.key_prefix}*"]}}})
        if state.secrets_key_arn:
            statements.append({"Sid": "DecryptStateSecrets", "Effect": "Allow", "Action": ["kms:Decrypt"],
                               "Resource": state.secrets_key_arn})
    return {"Version": "2012-10-17", "Statement": statements}


@dataclass(frozen=True, kw_only=True)
class CiEnvironment:
    """One deployment environment (a stack of the main program) and its two roles' names."""

    name: str
    """The GitHub environment and Pulumi stack ("dev", "prod")."""
    preview_role_name: str
    """The preview role's name (derived from the stack: mlserve/stack/args/naming.py)."""
    deploy_role_name: str
    """The deploy role's name."""


@dataclass(frozen=True, kw_only=True)
class CiTrustArgs:
    """What the trust admits: one repository, its environments in this account."""

    repository: str
    """"<owner>/<repo>" exactly as GitHub spells it (the `sub` comparison is case-sensitive)."""
    environments: tuple[CiEnvironment, ...]
    """The environments deployed into this account; each gets a preview and a deploy role."""
    existing_provider_arn: str | None = None
    """Default none: create the account's GitHub OIDC provider. IAM allows one provider per URL per
    account: where one exists (another project made it), give its ARN and none is created."""
    deploy_policy_arns: tuple[str, ...] = ("AdministratorAccess",)
    """Default ("AdministratorAccess",): the stack creates IAM roles, a cluster, a VPC, keys and
    SageMaker endpoints, so its deployer is an administrator; narrow it with `permissions_boundary_arn`.
    Managed-policy names or full ARNs."""
    permissions_boundary_arn: str | None = None
    """Default none. A boundary on the deploy roles (what they can never do, whatever is attached)."""
    state: StateAccess | None = None
    """Default none (Pulumi Cloud holds the state; the preview reads it with a read-only token)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on every resource."""

    def __post_init__(self) -> None:
        if not _REPOSITORY.fullmatch(self.repository):
            raise ValueError(f"repository {self.repository!r}: '<owner>/<repo>' as GitHub spells it")
        names = [e.name for e in self.environments]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"environments {names}: at least one, each once")
        for environment in self.environments:
            if not _ENVIRONMENT.fullmatch(environment.name):
                raise ValueError(f"environment {environment.name!r}: lowercase letters, digits and '-', at most 20")
        roles = [n for e in self.environments for n in (e.preview_role_name, e.deploy_role_name)]
        if len(set(roles)) != len(roles) or any(len(n) > 64 for n in roles):
            raise ValueError(f"role names {roles}: unique, at most 64 characters")
        if not self.deploy_policy_arns:
            raise ValueError("deploy_policy_arns: at least one policy (the deploy role could do nothing)")


class CiTrust(pulumi.ComponentResource):
    """The GitHub OIDC provider and each environment's preview and deploy roles."""

    provider_arn: pulumi.Output[str]
    """The account's GitHub OIDC provider (created here, or the existing one)."""
    preview_role_arns: dict[str, pulumi.Output[str]]
    """Per environment, the role pull requests preview with (repository variable AWS_PREVIEW_ROLE_ARN_<ENV>)."""
    deploy_role_arns: dict[str, pulumi.Output[str]]
    """Per environment, the role its deploy job assumes (environment variable AWS_DEPLOY_ROLE_ARN)."""

    def __init__(self, name: str, args: CiTrustArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlserve:ci:CiTrust", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        if args.existing_provider_arn is None:
            # No thumbprint: IAM trusts GitHub's issuer through its own library of root CAs.
            # https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_create_oidc_verify-thumbprint.html
            provider = aws.iam.OpenIdConnectProvider(
                f"{name}-oidc", url=f"https://{GITHUB_ISSUER}", client_id_lists=[AUDIENCE], tags=dict(args.tags), opts=child)
            self.provider_arn = provider.arn
        else:
            self.provider_arn = pulumi.Output.from_input(args.existing_provider_arn)
        partition = partition_of(self.provider_arn)
        self.preview_role_arns, self.deploy_role_arns = {}, {}
        for environment in args.environments:
            self.preview_role_arns[environment.name] = self._preview_role(name, environment, args, partition, child)
            self.deploy_role_arns[environment.name] = self._deploy_role(name, environment, args, partition, child)
        self.register_outputs({"provider_arn": self.provider_arn, "preview_role_arns": self.preview_role_arns,
                               "deploy_role_arns": self.deploy_role_arns})

    def _preview_role(self, name: str, environment: CiEnvironment, args: CiTrustArgs, partition: pulumi.Output[str],
                      child: pulumi.ResourceOptions) -> pulumi.Output[str]:
        role = aws.iam.Role(
            f"{name}-{environment.name}-preview",
            name=environment.preview_role_name,
            description=f"Read-only pulumi preview of {environment.name} for pull requests of {args.repository}",
            assume_role_policy=self.provider_arn.apply(
                lambda arn: json.dumps(github_trust_policy(arn, pull_request_subject(args.repository)))),
            max_session_duration=PREVIEW_SESSION_SECONDS,
            tags=dict(args.tags),
            opts=child,
        )
        aws.iam.RolePolicyAttachment(f"{name}-{environment.name}-preview-read-only", role=role.name,
                                     policy_arn=managed_policy_arn(partition, "ReadOnlyAccess"), opts=child)
        aws.iam.RolePolicy(f"{name}-{environment.name}-preview-limits", role=role.name,
                           policy=partition.apply(lambda p: json.dumps(preview_permissions(p, environment.name, args.state))),
                           opts=child)
        return role.arn

    def _deploy_role(self, name: str, environment: CiEnvironment, args: CiTrustArgs, partition: pulumi.Output[str],
                     child: pulumi.ResourceOptions) -> pulumi.Output[str]:
        role = aws.iam.Role(
            f"{name}-{environment.name}-deploy",
            name=environment.deploy_role_name,
            description=f"pulumi up of {environment.name} from the {environment.name} environment of {args.repository}",
            assume_role_policy=self.provider_arn.apply(
                lambda arn: json.dumps(github_trust_policy(arn, environment_subject(args.repository, environment.name)))),
            max_session_duration=DEPLOY_SESSION_SECONDS,
            permissions_boundary=args.permissions_boundary_arn,
            tags=dict(args.tags),
            opts=child,
        )
        for policy in args.deploy_policy_arns:
            arn = policy if policy.startswith("arn:") else managed_policy_arn(partition, policy)
            aws.iam.RolePolicyAttachment(f"{name}-{environment.name}-deploy-{policy.rsplit('/', 1)[-1]}",
                                         role=role.name, policy_arn=arn, opts=child)
        return role.arn
