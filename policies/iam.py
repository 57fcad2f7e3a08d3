"""IAM rules: least privilege in every policy the stack writes, IRSA trust scoped to one service account."""

from __future__ import annotations

import re
from collections.abc import Mapping
from fnmatch import fnmatchcase

from policies.documents import principal_is_open, restricts_resources, sid
from policies.rules import as_list, json_document, resource_rule, setting, statements

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
POLICY = "aws:iam/policy:Policy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
# Where identity policies live: a policy resource's `policy`, a role's `inlinePolicies[].policy`.
POLICY_TYPES = (ROLE_POLICY, POLICY, ROLE)

ADMIN_POLICIES = ("arn:aws:iam::aws:policy/AdministratorAccess", "arn:aws:iam::aws:policy/PowerUserAccess",
                  "arn:aws:iam::aws:policy/IAMFullAccess")
# Read-only verbs (IAM access levels List/Read): https://docs.aws.amazon.com/service-authorization/latest/reference/
_READ = re.compile(r"^[a-z0-9-]+:(Describe|Get|List|BatchGet|Search|Lookup|View)[A-Za-z0-9]*$|^[a-z0-9-]+:(Describe|Get|List)\*$")
# Reads that hand over data or secrets (cloudsplaining's data-exfiltration actions, which Checkov's
# CKV_AWS_288 uses): on Resource '*' they reach every object, parameter and secret in the account.
DATA_READS = ("s3:GetObject", "s3:GetObjectVersion", "ssm:GetParameter", "ssm:GetParameters",
              "ssm:GetParametersByPath", "secretsmanager:GetSecretValue")
# Actions that let a holder raise its own permissions (Rhino Security Labs' IAM privilege-escalation
# methods, the list behind Checkov's CKV_AWS_286/CKV_AWS_289 via cloudsplaining).
ESCALATION = ("iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion", "iam:AttachRolePolicy",
              "iam:AttachUserPolicy", "iam:AttachGroupPolicy", "iam:PutRolePolicy", "iam:PutUserPolicy",
              "iam:PutGroupPolicy", "iam:UpdateAssumeRolePolicy", "iam:CreateAccessKey", "iam:CreateLoginProfile",
              "iam:UpdateLoginProfile", "iam:AddUserToGroup", "iam:PutRolePermissionsBoundary",
              "iam:DeleteRolePermissionsBoundary", "iam:PutUserPermissionsBoundary", "iam:DeleteUserPermissionsBoundary")
# An account (or its root) as a trusted principal admits every role and user IAM lets assume it (CKV_AWS_61).
_ACCOUNT_PRINCIPAL = re.compile(r"^(\d{12}|arn:aws[a-z-]*:iam::\d{12}:root)$")


def _documents(props):
    """Every identity-policy document a resource carries: the policy input, or a role's inline policies."""
    if "policy" in props:
        yield json_document(props.get("policy"))
    for inline in as_list(props.get("inlinePolicies")):
        if isinstance(inline, Mapping):
            yield json_document(inline.get("policy"))


def _allows(props):
    for document in _documents(props):
        for statement in statements(document):
            if statement.get("Effect") == "Allow":
                yield statement


def _granted(patterns, actions) -> list[str]:
    """The `actions` any of the statement's action `patterns` grants (IAM matches case-insensitively, with * and ?)."""
    return [a for a in actions if any(fnmatchcase(a.lower(), str(p).lower()) for p in patterns)]


def _no_wildcard_action(props, _args):
    for statement in _allows(props):
        wild = [a for a in as_list(statement.get("Action")) if a == "*" or str(a).endswith(":*")]
        if wild:
            yield (f"statement {statement.get('Sid', '(no Sid)')!r} allows action {wild}: list the actions "
                   "the workload calls")
        if statement.get("NotAction"):
            yield f"statement {statement.get('Sid', '(no Sid)')!r} uses NotAction with Allow: list the allowed actions"


WILDCARD_WRITE_CONFIG = {"exemptions": {
    "type": "object", "additionalProperties": {"type": "string", "minLength": 10}, "default": {},
    "description": "Policy resource name -> why its '*' writes are accepted (a vendor's published policy); "
                   "reviewed in the config file, never silently"}}


def _on_any_resource(statement) -> bool:
    """A statement on Resource '*' whose condition (if any) narrows nothing (documents.restricts_resources)."""
    return "*" in as_list(statement.get("Resource")) and not restricts_resources(statement.get("Condition"))


def _no_wildcard_write(props, args):
    if args.name in setting(args, WILDCARD_WRITE_CONFIG, "exemptions"):
        return
    for statement in _allows(props):
        if not _on_any_resource(statement):
            continue  # named ARNs, or a condition (e.g. aws:ResourceTag) that scopes '*' to what the stack owns
        writes = [a for a in as_list(statement.get("Action")) if not _READ.match(str(a))]
        if writes:
            yield (f"statement {sid(statement)} allows {writes} on Resource '*': name the resource ARNs or add a "
                   "Condition on the resource (aws:ResourceTag/...) that scopes them (a caller, transport or "
                   "IfExists test scopes nothing)")


def _no_wildcard_data_read(props, _args):
    for statement in _allows(props):
        if _on_any_resource(statement):
            reads = _granted(as_list(statement.get("Action")), DATA_READS)
            if reads:
                yield (f"statement {sid(statement)} lets {reads} read every object, parameter or secret (Resource "
                       "'*'): name the bucket/prefix, parameter path or secret ARNs")


def _no_not_resource(props, _args):
    for statement in _allows(props):
        if statement.get("NotResource") is not None:
            yield (f"statement {sid(statement)} allows on NotResource (everything but the listed): name the "
                   "resources in Resource instead")


ESCALATION_CONFIG = {"exemptions": {
    "type": "object", "additionalProperties": {"type": "string", "minLength": 10}, "default": {},
    "description": "Policy resource name -> why it may manage IAM permissions (a deploy or bootstrap role); "
                   "reviewed in the config file"}}


def _no_escalation(props, args):
    if args.name in setting(args, ESCALATION_CONFIG, "exemptions"):
        return
    for statement in _allows(props):
        escalating = _granted(as_list(statement.get("Action")), ESCALATION)
        if escalating:
            yield (f"statement {sid(statement)} allows {escalating}, which let a holder grant itself more: "
                   "workload roles never manage IAM (a deploy role does, exempted by name in the policy config)")


def _no_admin(props, _args):
    if props.get("policyArn") in ADMIN_POLICIES:
        yield (f"{props.get('policyArn')} is attached to role {props.get('role')}: attach a policy with the "
               "actions this workload needs instead")


def _trust_named(props, _args):
    for statement in statements(json_document(props.get("assumeRolePolicy"))):
        if statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        if statement.get("NotPrincipal") is not None or principal_is_open(principal):
            yield (f"trust statement {sid(statement)} lets any AWS principal assume the role: name the service, "
                   "role ARNs or OIDC provider that may")
            continue
        accounts = [p for p in as_list(principal.get("AWS")) if _ACCOUNT_PRINCIPAL.match(str(p))] \
            if isinstance(principal, Mapping) else []
        if accounts:
            yield (f"trust statement {sid(statement)} trusts account(s) {accounts}, i.e. every role and user "
                   "there with sts:AssumeRole: name the role ARNs instead")


def _policies_as_resources(props, _args):
    owned = [key for key in ("inlinePolicies", "managedPolicyArns") if as_list(props.get(key))]
    if owned:
        yield (f"the role declares {owned}, which take exclusive ownership of its policies and fight any "
               "RolePolicy/RolePolicyAttachment: declare each grant as its own RolePolicy or RolePolicyAttachment")


def _no_static_keys(props, _args):
    static = [key for key in ("accessKey", "secretKey", "token") if props.get(key)]
    if static:
        yield (f"the AWS provider carries {static}: remove them; deploy with a role (OIDC in CI, SSO locally) so no "
               "long-lived key sits in the stack's config")


def _irsa_trust(props, _args):
    for statement in statements(json_document(props.get("assumeRolePolicy"))):
        principal = statement.get("Principal")
        federated = as_list(principal.get("Federated")) if isinstance(principal, Mapping) else []
        if statement.get("Effect") != "Allow" or not any(":oidc-provider/" in str(f) for f in federated):
            continue
        condition = statement.get("Condition") or {}
        equals = condition.get("StringEquals") or {}
        subjects = [v for k, v in equals.items() if str(k).endswith(":sub")]
        audiences = [v for k, v in equals.items() if str(k).endswith(":aud")]
        values = [s for v in subjects for s in as_list(v)]
        if len(values) != 1 or not str(values[0]).startswith("system:serviceaccount:") or "*" in str(values[0]):
            yield (f"the OIDC trust names subjects {values or 'none'} under StringEquals: name exactly one "
                   "'system:serviceaccount:<namespace>:<name>' in '<issuer>:sub'")
        if audiences != ["sts.amazonaws.com"]:
            yield "add StringEquals '<issuer>:aud' = 'sts.amazonaws.com' to the OIDC trust"
        if condition.get("StringLike"):
            yield "drop StringLike from the OIDC trust: a pattern admits more than one service account"


RULES = [
    resource_rule("iam-no-wildcard-action",
                  "IAM policies allow no '*' or 'service:*' action (Checkov CKV_AWS_63, CKV_AWS_289).",
                  list(POLICY_TYPES), _no_wildcard_action),
    resource_rule("iam-no-wildcard-resource-on-write",
                  "IAM policies allow write actions on Resource '*' only under a condition (Checkov CKV_AWS_290, CKV_AWS_355).",
                  list(POLICY_TYPES), _no_wildcard_write, config=WILDCARD_WRITE_CONFIG),
    resource_rule("iam-no-wildcard-resource-on-data-read",
                  "IAM policies read objects, parameters and secrets only on named resources (Checkov CKV_AWS_288).",
                  list(POLICY_TYPES), _no_wildcard_data_read),
    resource_rule("iam-no-allow-not-resource",
                  "IAM policies never Allow on NotResource (everything but the listed) (AWS IAM JSON reference: NotResource).",
                  list(POLICY_TYPES), _no_not_resource),
    resource_rule("iam-no-privilege-escalation",
                  "IAM policies grant no action that manages IAM permissions, except exempted deploy roles "
                  "(Checkov CKV_AWS_286, CKV_AWS_289).",
                  list(POLICY_TYPES), _no_escalation, config=ESCALATION_CONFIG),
    resource_rule("iam-role-trust-named-principals",
                  "Role trust policies name who may assume the role: never '*', NotPrincipal or a whole account "
                  "(Checkov CKV_AWS_60, CKV_AWS_61).",
                  [ROLE], _trust_named),
    resource_rule("iam-role-policies-as-resources",
                  "Roles hold no inlinePolicies or managedPolicyArns, so no two resources own one role's policies "
                  "(Pulumi AWSGuard iam-role-no-policy-management-conflicts).",
                  [ROLE], _policies_as_resources),
    resource_rule("aws-provider-no-static-keys",
                  "The AWS provider holds no access key, secret key or session token (Checkov CKV_AWS_41).",
                  ["pulumi:providers:aws"], _no_static_keys),
    resource_rule("iam-no-admin-on-workload-roles",
                  "No role of the stack has AdministratorAccess, PowerUserAccess or IAMFullAccess attached (Checkov CKV_AWS_274).",
                  [ATTACHMENT], _no_admin),
    resource_rule("iam-irsa-one-service-account",
                  "IRSA role trust is limited to one service account and the STS audience "
                  "(EKS best practices: scope the IAM role trust policy for IRSA to the service account name).",
                  [ROLE], _irsa_trust),
]
