"""IAM rules: least privilege in every policy the stack writes, IRSA trust scoped to one service account."""

from __future__ import annotations

import re
from collections.abc import Mapping

from policies.rules import as_list, json_document, resource_rule, setting, statements

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
POLICY = "aws:iam/policy:Policy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
POLICY_TYPES = {ROLE_POLICY: "policy", POLICY: "policy", ROLE: "inlinePolicies"}

ADMIN_POLICIES = ("arn:aws:iam::aws:policy/AdministratorAccess", "arn:aws:iam::aws:policy/PowerUserAccess",
                  "arn:aws:iam::aws:policy/IAMFullAccess")
# Read-only verbs (IAM access levels List/Read): https://docs.aws.amazon.com/service-authorization/latest/reference/
_READ = re.compile(r"^[a-z0-9-]+:(Describe|Get|List|BatchGet|Search|Lookup|View)[A-Za-z0-9]*$|^[a-z0-9-]+:(Describe|Get|List)\*$")


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


def _no_wildcard_write(props, args):
    if args.name in setting(args, WILDCARD_WRITE_CONFIG, "exemptions"):
        return
    for statement in _allows(props):
        if "*" not in as_list(statement.get("Resource")) or statement.get("Condition"):
            continue  # a condition (e.g. aws:ResourceTag) scopes a "*" resource to what the stack owns
        writes = [a for a in as_list(statement.get("Action")) if not _READ.match(str(a))]
        if writes:
            yield (f"statement {statement.get('Sid', '(no Sid)')!r} allows {writes} on Resource '*': name the "
                   "resource ARNs or add a Condition (aws:ResourceTag/...) that scopes them")


def _no_admin(props, _args):
    if props.get("policyArn") in ADMIN_POLICIES:
        yield (f"{props.get('policyArn')} is attached to role {props.get('role')}: attach a policy with the "
               "actions this workload needs instead")


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
    resource_rule("iam-no-admin-on-workload-roles",
                  "No role of the stack has AdministratorAccess, PowerUserAccess or IAMFullAccess attached (Checkov CKV_AWS_274).",
                  [ATTACHMENT], _no_admin),
    resource_rule("iam-irsa-one-service-account",
                  "IRSA role trust is limited to one service account and the STS audience "
                  "(EKS best practices: scope the IAM role trust policy for IRSA to the service account name).",
                  [ROLE], _irsa_trust),
]
