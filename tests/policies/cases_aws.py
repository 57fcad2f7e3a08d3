"""Boundary cases of the AWS rules on the compliant stack (tests/policies/compliant.py).

VIOLATIONS: (rule, resource, {dotted input path: new value or DELETE}, policy config or None, expected
message fragment[, the resource the violation is reported on]). Each changes one property the rule
reads, so a rule that stops reading it fails its case.
PASSES: (rule, resource, change, config): changes at the edge of what a rule accepts (a pinned '*', a
key KMS cannot rotate), so a rule that reads too much fails too.
"""

from __future__ import annotations

import json

from tests.policies.compliant import ACCOUNT, ISSUER, PREFIX
from tests.policies.conftest import DELETE

POLICY = '{"Version": "2012-10-17", "Statement": %s}'
SUB, AUD = f"{ISSUER}:sub", f"{ISSUER}:aud"
SERVICE_ACCOUNT = "system:serviceaccount:mlserve-serving:model-server"


def policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def trust(condition: dict | None = None, principal: object = None, **extra) -> str:
    statement = {"Effect": "Allow", "Principal": principal or {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{ISSUER}"},
                 "Action": "sts:AssumeRoleWithWebIdentity", **extra}
    if condition is not None:
        statement["Condition"] = condition
    return policy(statement)


def write_on_any(condition: dict | None = None, action: object = "autoscaling:SetDesiredCapacity") -> str:
    statement = {"Sid": "Scale", "Effect": "Allow", "Action": action, "Resource": "*"}
    if condition is not None:
        statement["Condition"] = condition
    return policy(statement)


def key_policy(condition: dict | None, principal: object = None) -> str:
    statement = {"Sid": "Use", "Effect": "Allow", "Principal": principal or {"AWS": "*"}, "Action": "kms:Decrypt", "Resource": "*"}
    if condition is not None:
        statement["Condition"] = condition
    return policy({"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                   "Action": "kms:Describe*", "Resource": "*"}, statement)


def public_read(condition: dict | None = None, principal: object = "*") -> str:
    statement = {"Sid": "Read", "Effect": "Allow", "Principal": principal, "Action": "s3:GetObject",
                 "Resource": f"arn:aws:s3:::{PREFIX}-models/*"}
    if condition is not None:
        statement["Condition"] = condition
    return policy(statement)


TRAIL_ARN = "advancedEventSelectors.0.fieldSelectors.2"
WORLD_EGRESS = [{"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "cidrBlocks": ["0.0.0.0/0"], "description": "all"}]

VIOLATIONS = [
    # --- registry
    ("ecr-scan-on-push", "repo", {"imageScanningConfiguration.scanOnPush": False}, None, "scanOnPush = true"),
    ("ecr-scan-on-push", "repo", {"imageScanningConfiguration": DELETE}, None, "scanOnPush = true"),
    ("ecr-immutable-tags", "repo", {"imageTagMutability": "MUTABLE"}, None, "imageTagMutability is MUTABLE: set IMMUTABLE"),
    ("ecr-immutable-tags", "repo", {"imageTagMutability": DELETE}, None, "MUTABLE (default)"),
    ("ecr-kms-encryption", "repo", {"encryptionConfigurations": [{"encryptionType": "AES256"}]}, None, "encryptionType: KMS"),
    ("ecr-kms-encryption", "repo", {"encryptionConfigurations.0.kmsKey": DELETE}, None, "encryptionType: KMS"),
    ("ecr-no-public-policy", "repo-policy",
     {"policy": POLICY % '[{"Sid": "Open", "Effect": "Allow", "Principal": "*", "Action": "ecr:*"}]'}, None, "'Open' allows Principal '*'"),
    ("ecr-no-public-policy", "repo-policy",
     {"policy": POLICY % '[{"Sid": "Open", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "ecr:BatchGetImage", '
                '"Condition": {"StringEqualsIfExists": {"aws:PrincipalOrgID": "o-abc"}}}]'}, None, "'Open' allows Principal '*'"),
    # --- cluster
    ("eks-control-plane-logging", "eks", {"enabledClusterLogTypes": ["api"]}, None, "lacks ['audit', 'authenticator']"),
    ("eks-control-plane-logging", "eks", {"enabledClusterLogTypes": ["audit", "authenticator"]}, None, "lacks ['api']"),
    ("eks-secrets-encryption", "eks", {"encryptionConfig": DELETE}, None, "resources: [secrets]"),
    ("eks-secrets-encryption", "eks", {"encryptionConfig.resources": ["configmaps"]}, None, "resources: [secrets]"),
    ("eks-secrets-encryption", "eks", {"encryptionConfig.provider.keyArn": DELETE}, None, "keyArn"),
    ("eks-public-endpoint-restricted", "eks", {"vpcConfig.publicAccessCidrs": ["0.0.0.0/0"]}, None, "open to 0.0.0.0/0"),
    ("eks-public-endpoint-restricted", "eks", {"vpcConfig.publicAccessCidrs": DELETE}, None, "0.0.0.0/0 (EKS default)"),
    ("eks-public-endpoint-restricted", "eks", {"vpcConfig.publicAccessCidrs": ["not-a-cidr"]}, None, "is not a CIDR"),
    ("eks-public-endpoint-restricted", "eks", {"vpcConfig.endpointPublicAccess": DELETE, "vpcConfig.publicAccessCidrs": DELETE},
     None, "0.0.0.0/0 (EKS default)"),
    ("eks-public-endpoint-restricted", "eks", {}, {"allowedPublicCidrs": ["203.0.113.0/24"]},
     "198.51.100.7/32 is not within the policy's allowedPublicCidrs"),
    ("eks-supported-version", "eks", {"version": "1.29"}, None, "'1.29' is not supported here"),
    ("eks-supported-version", "eks", {}, {"supportedVersions": ["1.35"]}, "'1.36' is not supported here"),
    ("eks-node-group-no-ssh", "gpu", {"remoteAccess": {"ec2SshKey": "ops"}}, None, "remove remoteAccess"),
    ("eks-admin-access-named-roles", "deployer-admin", {"principalArn": f"arn:aws:iam::{ACCOUNT}:root"}, None,
     "AmazonEKSClusterAdminPolicy is granted to 'arn:aws:iam::123456789012:root'"),
    ("eks-admin-access-named-roles", "deployer-admin", {"principalArn": f"arn:aws:iam::{ACCOUNT}:role/*"}, None, "never an account root"),
    ("eks-admin-access-named-roles", "deployer-admin", {"principalArn": f"arn:aws:iam::{ACCOUNT}:user/alice"}, None, "a user"),
    ("eks-admin-access-named-roles", "deployer-admin",
     {"policyArn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSAdminPolicy", "principalArn": "*"}, None, "AmazonEKSAdminPolicy"),
    ("eks-network-policy-enforced", "vpc-cni", {"configurationValues": '{"enableNetworkPolicy": "false"}'}, None, "enableNetworkPolicy"),
    ("eks-network-policy-enforced", "vpc-cni", {"configurationValues": DELETE}, None, "enforces no NetworkPolicy"),
    # --- nodes
    ("nodes-imdsv2-hop-limit-1", "gpu-lt", {"metadataOptions.httpTokens": "optional"}, None, "httpTokens = required"),
    ("nodes-imdsv2-hop-limit-1", "gpu-lt", {"metadataOptions.httpPutResponseHopLimit": 2.0}, None, "HopLimit is 2.0: set 1"),
    ("nodes-imdsv2-hop-limit-1", "gpu-lt", {"metadataOptions.httpPutResponseHopLimit": DELETE}, None, "HopLimit is None"),
    ("nodes-encrypted-root-volume", "gpu-lt", {"blockDeviceMappings.0.ebs.encrypted": "false"}, None, "ebs.encrypted = true on block device /dev/xvda"),
    ("nodes-encrypted-root-volume", "gpu-lt", {"blockDeviceMappings": []}, None, "declare blockDeviceMappings"),
    ("nodes-no-public-ip", "gpu-lt", {"networkInterfaces": [{"deviceIndex": 0.0, "associatePublicIpAddress": "true"}]}, None,
     "networkInterfaces [0.0] set associatePublicIpAddress"),
    ("gpu-pool-taint", "gpu", {"taints": []}, None, "GPU node group without the taint"),
    ("gpu-pool-taint", "gpu", {"taints.0.effect": "PREFER_NO_SCHEDULE"}, None, "GPU node group without the taint"),
    ("gpu-pool-taint", "gpu", {"taints.0.key": "gpu"}, None, "GPU node group without the taint"),
    ("gpu-pool-taint", "gpu", {"amiType": "AL2023_x86_64_STANDARD", "taints": []}, None, "GPU node group without the taint"),
    ("gpu-pool-taint", "gpu", {"instanceTypes": ["m7i.large"], "taints": []}, None, "GPU node group without the taint"),
    # --- network
    ("vpc-flow-logs-enabled", "flow-log", {"trafficType": "REJECT"}, None, "record only ['REJECT'] traffic", "vpc"),
    ("vpc-flow-logs-enabled", "flow-log", {"vpcId": "vpc-0another"}, None, "VPC vpc has no flow log", "vpc"),
    ("vpc-default-security-group-closed", "default-sg", {"ingress": [{"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "self": True}]},
     None, "has ['ingress'] rules"),
    ("vpc-default-security-group-closed", "default-sg", {"egress": WORLD_EGRESS}, None, "has ['egress'] rules"),
    ("vpc-default-security-group-closed", "default-sg", {"vpcId": "vpc-0another"}, None, "default security group is not managed", "vpc"),
    ("subnet-no-public-ip-on-launch", "private-a", {"mapPublicIpOnLaunch": True}, None, "mapPublicIpOnLaunch is true"),
    ("security-group-not-open-to-world", "endpoints", {"ingress.0.cidrBlocks": ["0.0.0.0/0"]}, None, "ingress from ['0.0.0.0/0'] (ports 443.0-443.0)"),
    ("security-group-not-open-to-world", "endpoints", {"ingress.0.ipv6CidrBlocks": ["::/0"]}, None, "ingress from ['::/0']"),
    ("security-group-not-open-to-world", "endpoints", {"egress": WORLD_EGRESS}, None, "egress to ['0.0.0.0/0'] on every port"),
    ("security-group-not-open-to-world", "api-from-vpc", {"cidrIpv4": "0.0.0.0/0"}, None, "ingress from ['0.0.0.0/0']"),
    ("security-group-not-open-to-world", "api-from-vpc", {"cidrIpv4": DELETE, "cidrIpv6": "::/0"}, None, "ingress from ['::/0']"),
    ("security-group-rules-described", "endpoints", {"description": "Managed by Pulumi"}, None, "set description"),
    ("security-group-rules-described", "endpoints", {"description": DELETE}, None, "set description"),
    ("security-group-rules-described", "endpoints", {"ingress.0.description": DELETE}, None, "an ingress rule (443.0-443.0) has no description"),
    ("security-group-rules-described", "api-from-vpc", {"description": ""}, None, "has no description"),
    # --- IAM
    ("iam-no-wildcard-action", "irsa-read-models",
     {"policy": POLICY % '[{"Sid": "All", "Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}]'}, None, "'All' allows action ['s3:*']"),
    ("iam-no-wildcard-action", "irsa-read-models",
     {"policy": POLICY % '[{"Sid": "All", "Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::b/*"}]'}, None, "allows action ['*']"),
    ("iam-no-wildcard-action", "irsa-read-models",
     {"policy": POLICY % '[{"Sid": "Not", "Effect": "Allow", "NotAction": "iam:*", "Resource": "arn:aws:s3:::b/*"}]'}, None, "uses NotAction"),
    ("iam-no-wildcard-action", "irsa", {"inlinePolicies": [{"name": "inline", "policy": POLICY % (
        '[{"Sid": "Inline", "Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::b/*"}]')}]}, None, "'Inline' allows action ['*']"),
    ("iam-no-wildcard-resource-on-write", "irsa-read-models",
     {"policy": POLICY % '[{"Sid": "Put", "Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"], "Resource": "*"}]'}, None,
     "'Put' allows ['s3:PutObject'] on Resource '*'"),
    ("iam-no-wildcard-resource-on-write", "irsa-read-models", {"policy": write_on_any({"Bool": {"aws:SecureTransport": "true"}})}, None,
     "'Scale' allows"),
    ("iam-no-wildcard-resource-on-write", "irsa-read-models",
     {"policy": write_on_any({"StringEqualsIfExists": {"aws:ResourceTag/owner": PREFIX}})}, None, "'Scale' allows"),
    ("iam-no-wildcard-resource-on-write", "irsa-read-models", {"policy": write_on_any({"StringLike": {"aws:ResourceTag/owner": "*"}})},
     None, "'Scale' allows"),
    ("iam-no-wildcard-resource-on-write", "irsa-read-models", {"policy": write_on_any({"Null": {"aws:ResourceTag/owner": "true"}})},
     None, "'Scale' allows"),
    ("iam-no-wildcard-resource-on-write", "irsa-read-models",
     {"policy": write_on_any({"ForAllValues:StringEquals": {"aws:TagKeys": ["owner"]}})}, None, "'Scale' allows"),
    ("iam-no-wildcard-resource-on-write", "irsa-read-models",
     {"policy": write_on_any({"StringEquals": {"aws:PrincipalAccount": ACCOUNT}})}, None, "'Scale' allows"),
    ("iam-no-wildcard-resource-on-write", "irsa-read-models", {"policy": write_on_any({"StringEquals": {"aws:ResourceTag/owner": []}})},
     None, "'Scale' allows"),
    ("iam-no-wildcard-resource-on-data-read", "irsa-read-models", {"policy": write_on_any(action="s3:GetObject")}, None,
     "'Scale' lets ['s3:GetObject'] read every object"),
    ("iam-no-wildcard-resource-on-data-read", "irsa-read-models", {"policy": write_on_any(action="s3:Get*")}, None,
     "['s3:GetObject', 's3:GetObjectVersion']"),
    ("iam-no-wildcard-resource-on-data-read", "irsa-read-models", {"policy": write_on_any(action="SecretsManager:getSecretValue")}, None,
     "['secretsmanager:GetSecretValue']"),
    ("iam-no-allow-not-resource", "irsa-read-models",
     {"policy": POLICY % '[{"Sid": "Most", "Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::secret/*"}]'}, None,
     "'Most' allows on NotResource"),
    ("iam-no-privilege-escalation", "irsa-read-models",
     {"policy": POLICY % f'[{{"Sid": "Self", "Effect": "Allow", "Action": "iam:PutRolePolicy", "Resource": "arn:aws:iam::{ACCOUNT}:role/irsa"}}]'},
     None, "'Self' allows ['iam:PutRolePolicy']"),
    ("iam-no-privilege-escalation", "irsa-read-models",
     {"policy": POLICY % '[{"Sid": "Keys", "Effect": "Allow", "Action": "iam:Create*", "Resource": "*"}]'}, None,
     "['iam:CreatePolicyVersion', 'iam:CreateAccessKey', 'iam:CreateLoginProfile']"),
    ("iam-role-trust-named-principals", "irsa", {"assumeRolePolicy": trust(principal={"AWS": "*"})}, None,
     "lets any AWS principal assume the role"),
    ("iam-role-trust-named-principals", "irsa", {"assumeRolePolicy": trust(principal="*")}, None, "lets any AWS principal"),
    ("iam-role-trust-named-principals", "irsa",
     {"assumeRolePolicy": policy({"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::1:root"}, "Action": "sts:AssumeRole"})},
     None, "lets any AWS principal"),
    ("iam-role-trust-named-principals", "irsa", {"assumeRolePolicy": trust(principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"})}, None,
     "trusts account(s) ['arn:aws:iam::123456789012:root']"),
    ("iam-role-trust-named-principals", "irsa", {"assumeRolePolicy": trust(principal={"AWS": [ACCOUNT]})}, None,
     "trusts account(s) ['123456789012']"),
    ("iam-role-policies-as-resources", "irsa", {"managedPolicyArns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"]}, None,
     "declares ['managedPolicyArns']"),
    ("iam-role-policies-as-resources", "irsa", {"inlinePolicies": [{"name": "x", "policy": "{}"}]}, None, "declares ['inlinePolicies']"),
    ("aws-provider-no-static-keys", "aws", {"accessKey": "AKIAEXAMPLE"}, None, "carries ['accessKey']"),
    ("aws-provider-no-static-keys", "aws", {"secretKey": "s", "token": "t"}, None, "carries ['secretKey', 'token']"),
    ("iam-no-admin-on-workload-roles", "irsa-ecr", {"policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}, None,
     "AdministratorAccess is attached"),
    ("iam-no-admin-on-workload-roles", "irsa-ecr", {"policyArn": "arn:aws:iam::aws:policy/PowerUserAccess"}, None, "PowerUserAccess"),
    ("iam-no-admin-on-workload-roles", "irsa-ecr", {"policyArn": "arn:aws:iam::aws:policy/IAMFullAccess"}, None, "IAMFullAccess"),
    ("iam-irsa-one-service-account", "irsa",
     {"assumeRolePolicy": trust({"StringEquals": {AUD: "sts.amazonaws.com"}, "StringLike": {SUB: "system:serviceaccount:mlserve-serving:*"}})},
     None, "names subjects none"),
    ("iam-irsa-one-service-account", "irsa",
     {"assumeRolePolicy": trust({"StringEquals": {SUB: SERVICE_ACCOUNT, AUD: "sts.amazonaws.com"}, "StringLike": {SUB: "system:*"}})},
     None, "drop StringLike"),
    ("iam-irsa-one-service-account", "irsa", {"assumeRolePolicy": trust({"StringEquals": {SUB: "system:serviceaccount:a:b"}})}, None,
     "'<issuer>:aud' = 'sts.amazonaws.com'"),
    ("iam-irsa-one-service-account", "irsa",
     {"assumeRolePolicy": trust({"StringEquals": {SUB: SERVICE_ACCOUNT, AUD: "sts.example.com"}})}, None, "'<issuer>:aud'"),
    ("iam-irsa-one-service-account", "irsa",
     {"assumeRolePolicy": trust({"StringEquals": {SUB: [SERVICE_ACCOUNT, "system:serviceaccount:x:y"], AUD: "sts.amazonaws.com"}})},
     None, "name exactly one"),
    ("iam-irsa-one-service-account", "irsa",
     {"assumeRolePolicy": trust({"StringEquals": {SUB: "system:serviceaccount:mlserve-serving:*", AUD: "sts.amazonaws.com"}})},
     None, "name exactly one"),
    ("iam-irsa-one-service-account", "irsa",
     {"assumeRolePolicy": trust({"StringEquals": {SUB: "repo:org/x:ref:refs/heads/main", AUD: "sts.amazonaws.com"}})},
     None, "name exactly one"),
    # --- KMS
    ("kms-key-enabled-and-rotated", "key", {"enableKeyRotation": False}, None, "enableKeyRotation = true"),
    ("kms-key-enabled-and-rotated", "key", {"enableKeyRotation": DELETE}, None, "enableKeyRotation = true"),
    ("kms-key-enabled-and-rotated", "key", {"isEnabled": False}, None, "isEnabled is false"),
    ("kms-key-enabled-and-rotated", "key", {"enableKeyRotation": False, "keySpec": "SYMMETRIC_DEFAULT"}, None, "enableKeyRotation = true"),
    ("kms-key-policy-scoped", "key", {"policy": DELETE}, None, "declare the key policy"),
    ("kms-key-policy-scoped", "key", {"policy": key_policy(None)}, None, "'Use' admits any principal"),
    ("kms-key-policy-scoped", "key", {"policy": key_policy(None, principal="*")}, None, "'Use' admits any principal"),
    ("kms-key-policy-scoped", "key", {"policy": key_policy({"StringEqualsIfExists": {"kms:CallerAccount": ACCOUNT}})}, None, "'Use'"),
    ("kms-key-policy-scoped", "key", {"policy": key_policy({"StringLike": {"kms:CallerAccount": "*"}})}, None, "'Use'"),
    ("kms-key-policy-scoped", "key", {"policy": key_policy({"StringEquals": {"kms:ViaService": "s3.us-west-2.amazonaws.com"}})},
     None, "'Use'"),
    ("kms-key-policy-scoped", "key", {"policy": key_policy({"ForAllValues:StringEquals": {"aws:PrincipalOrgID": "o-abc"}})},
     None, "'Use'"),
    ("kms-key-policy-scoped", "key", {"policy": key_policy({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/x"}})}, None, "'Use'"),
    ("kms-key-policy-scoped", "key",
     {"policy": policy({"Sid": "Not", "Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::1:root"}, "Action": "kms:*",
                        "Resource": "*"})}, None, "'Not' admits any principal"),
    # --- storage
    *[("s3-public-access-blocked", "models-pab", {flag: False}, None, f"set ['{flag}'] = true")
      for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")],
    ("s3-versioning", "models-versioning", {"versioningConfiguration.status": "Suspended"}, None, "status is 'Suspended'"),
    ("s3-kms-encryption", "models-sse", {"rules.0.applyServerSideEncryptionByDefault.sseAlgorithm": "AES256"}, None, "sseAlgorithm: aws:kms"),
    ("s3-kms-encryption", "models-sse", {"rules.0.applyServerSideEncryptionByDefault.kmsMasterKeyId": DELETE}, None, "kmsMasterKeyId"),
    ("s3-tls-only", "models-policy", {"policy": POLICY % '[]'}, None, "aws:SecureTransport: 'false'"),
    ("s3-tls-only", "models-policy", {"policy": policy({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*",
                                                        "Condition": {"Bool": {"aws:SecureTransport": "true"}}})}, None, "SecureTransport"),
    ("s3-tls-only", "models-policy", {"policy": policy({"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*",
                                                        "Condition": {"Bool": {"aws:SecureTransport": "false"}}})}, None, "SecureTransport"),
    ("s3-tls-only", "models-policy", {"policy": policy({"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": "*",
                                                        "Condition": {"Bool": {"aws:SecureTransport": "false"}}})}, None, "SecureTransport"),
    ("s3-bucket-policy-not-public", "models-policy", {"policy": public_read()}, None, "'Read' allows any principal"),
    ("s3-bucket-policy-not-public", "models-policy", {"policy": public_read({"ArnLike": {"aws:SourceArn": "arn:aws:cloudtrail:*:*:trail/x"}})},
     None, "'Read' allows any principal"),
    ("s3-bucket-policy-not-public", "models-policy",
     {"policy": public_read(principal={"CanonicalUser": "*"})}, None, "'Read'"),
    ("s3-bucket-policy-not-public", "models-policy", {"policy": public_read({"ArnLike": {"aws:SourceArn": "arn:aws:s3:::*"}})}, None,
     "'Read' allows any principal"),
    ("s3-bucket-policy-not-public", "models-policy",
     {"policy": public_read({"StringEquals": {"aws:userid": "AROA1"}}, principal={"AWS": ["arn:aws:iam::1:root", "*"]})}, None, "'Read'"),
    ("s3-acls-disabled", "models-ownership", {"rule.objectOwnership": "BucketOwnerPreferred"}, None, "objectOwnership is 'BucketOwnerPreferred'"),
    ("s3-acls-disabled", "models-ownership", {"rule": DELETE}, None, "objectOwnership is None"),
    ("s3-lifecycle-aborts-incomplete-uploads", "models-lifecycle", {"rules.0.abortIncompleteMultipartUpload": DELETE}, None,
     "abortIncompleteMultipartUpload.daysAfterInitiation"),
    ("s3-lifecycle-aborts-incomplete-uploads", "models-lifecycle", {"rules.0.status": "Disabled"}, None, "add an Enabled rule"),
    ("s3-access-logged", "trail", {f"{TRAIL_ARN}.startsWiths": ["arn:aws:s3:::someone-else/"]}, None, "bucket models records no access",
     "models"),
    ("s3-access-logged", "trail", {"advancedEventSelectors.0.fieldSelectors.0.equals": ["Management"]}, None, "models records no access",
     "models"),
    ("s3-access-logged", "trail", {"advancedEventSelectors.0.fieldSelectors.1.equals": ["AWS::S3::AccessPoint"]}, None,
     "models records no access", "models"),
    ("s3-access-logged", "trail", {"advancedEventSelectors.0.fieldSelectors.2": {"field": "readOnly", "equals": ["true"]}}, None,
     "models records no access", "models"),
    ("s3-access-logged", "trail", {"s3BucketName": f"{PREFIX}-models"}, None, "bucket audit records no access", "audit"),
    ("s3-access-logged", "trail", {"advancedEventSelectors": [], "eventSelectors": [{"readWriteType": "WriteOnly", "dataResources": [
        {"type": "AWS::S3::Object", "values": [f"arn:aws:s3:::{PREFIX}-models/"]}]}]}, None, "models records no access", "models"),
    ("s3-access-logged", "trail", {"advancedEventSelectors": [], "eventSelectors": [{"dataResources": [
        {"type": "AWS::S3::Object", "values": [f"arn:aws:s3:::{PREFIX}-other/"]}]}]}, None, "models records no access", "models"),
    # --- SageMaker
    ("sagemaker-endpoint-config-kms", "endpoint-config", {"kmsKeyArn": DELETE}, None, "set kmsKeyArn"),
    ("sagemaker-model-network-isolation", "model", {"enableNetworkIsolation": False}, None, "enableNetworkIsolation = true"),
    ("sagemaker-model-network-isolation", "model", {"enableNetworkIsolation": DELETE}, None, "enableNetworkIsolation = true"),
    ("sagemaker-data-capture-encrypted", "endpoint-config", {"dataCaptureConfig.kmsKeyId": DELETE}, None, "dataCaptureConfig.kmsKeyId"),
    ("sagemaker-data-capture-enabled", "endpoint-config", {"dataCaptureConfig.enableCapture": DELETE}, None,
     "set dataCaptureConfig.enableCapture = true (pulumi-aws defaults it to false"),
    ("sagemaker-data-capture-enabled", "endpoint-config", {"dataCaptureConfig.enableCapture": False}, None, "captures nothing"),
    ("serving-min-replicas", "endpoint-config", {"productionVariants.0.initialInstanceCount": 1.0}, {"minServingReplicas": 2},
     "productionVariants 'stable': initialInstanceCount is 1: start at least 2 instances"),
    ("serving-min-replicas", "endpoint-scaling", {"minCapacity": 1.0}, {"minServingReplicas": 2},
     "minCapacity is 1: keep at least 2 instances per SageMaker variant"),
    ("sagemaker-endpoint-rollback-alarms", "endpoint", {"deploymentConfig": DELETE}, None, "autoRollbackConfiguration.alarms"),
    ("sagemaker-endpoint-rollback-alarms", "endpoint",
     {"deploymentConfig.autoRollbackConfiguration.alarms.0.alarmName": "someone-elses-alarm"}, None,
     "rollback alarms ['someone-elses-alarm'] are not alarms of this stack"),
    ("sagemaker-endpoint-rollback-alarms", "errors", {"dimensions.EndpointName": "mlserve-dev-endpoint"}, None,
     "no rollback alarm watches endpoint mlserve-prod-endpoint", "endpoint"),
    ("sagemaker-endpoint-rollback-alarms", "errors", {"name": "mlserve-prod-5xx-renamed"}, None, "are not alarms of this stack", "endpoint"),
    # --- observability
    ("log-group-retention", "logs", {"retentionInDays": DELETE}, None, "set retentionInDays (at least 7)"),
    ("log-group-retention", "logs", {"retentionInDays": 3.0}, None, "retentionInDays is 3: keep logs at least 7 days"),
    ("log-group-retention", "logs", {}, {"minRetentionDays": 365}, "retentionInDays is 90: keep logs at least 365 days"),
    ("log-group-kms", "logs", {"kmsKeyId": DELETE}, None, "set kmsKeyId"),
    ("sns-topic-encrypted", "alarms", {"kmsMasterKeyId": DELETE}, None, "set kmsMasterKeyId"),
    ("sns-topic-policy-not-public", "alarms-policy",
     {"policy": policy({"Sid": "Anyone", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sns:Publish", "Resource": "*"})}, None,
     "'Anyone' admits any principal"),
    ("sns-topic-policy-not-public", "alarms-policy",
     {"policy": policy({"Sid": "Anyone", "Effect": "Allow", "Principal": "*", "Action": "sns:Publish", "Resource": "*",
                        "Condition": {"StringEquals": {"aws:SourceAccount": "*"}}})}, None, "'Anyone'"),
    ("cloudtrail-encrypted-and-validated", "trail", {"kmsKeyId": DELETE}, None, "set kmsKeyId"),
    ("cloudtrail-encrypted-and-validated", "trail", {"enableLogFileValidation": False}, None, "enableLogFileValidation = true"),
    ("cloudtrail-encrypted-and-validated", "trail", {"enableLogFileValidation": DELETE}, None, "enableLogFileValidation = true"),
    ("cloudtrail-encrypted-and-validated", "trail", {"enableLogging": False}, None, "enableLogging is false"),
    # --- stack
    ("required-tags", "repo", {"tags": {"owner": ""}}, None, "missing tags ['owner']"),
    ("required-tags", "repo", {}, {"requiredTagKeys": ["environment", "team"]}, "missing tags ['team']"),
    ("physical-names-carry-stack", "logs", {"name": "/aws/eks/shared/cluster"}, None, "'/aws/eks/shared/cluster' does not carry the stack"),
    ("no-spot-gpu-pools", "gpu", {"capacityType": "SPOT"}, {"allowSpotGpu": False}, "GPU pool on spot capacity"),
    ("alarm-has-action", "errors", {"alarmActions": []}, {"requireActions": True}, "set alarmActions"),
    ("alarm-has-action", "errors", {"actionsEnabled": False}, {"requireActions": True}, "keep actionsEnabled"),
]

PASSES = [
    ("ecr-immutable-tags", "repo", {"imageTagMutability": "IMMUTABLE_WITH_EXCLUSION"}, None),
    ("ecr-no-public-policy", "repo-policy",
     {"policy": POLICY % '[{"Sid": "Org", "Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage", '
                '"Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}}]'}, None),
    ("eks-public-endpoint-restricted", "eks", {"vpcConfig.endpointPublicAccess": False, "vpcConfig.publicAccessCidrs": ["0.0.0.0/0"]}, None),
    ("eks-public-endpoint-restricted", "eks", {}, {"allowedPublicCidrs": ["198.51.100.0/24"]}),
    # Host bits set: read as the network they fall in, not refused as malformed.
    ("eks-public-endpoint-restricted", "eks", {"vpcConfig.publicAccessCidrs": ["198.51.100.7/24"]}, None),
    ("eks-public-endpoint-restricted", "eks", {}, {"allowedPublicCidrs": ["198.51.100.9/24"]}),
    ("eks-public-endpoint-restricted", "eks", {}, {"allowedPublicCidrs": ["2001:db8::/32", "198.51.100.0/24"]}),
    ("eks-admin-access-named-roles", "deployer-admin",
     {"policyArn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy", "principalArn": f"arn:aws:iam::{ACCOUNT}:root"}, None),
    ("eks-network-policy-enforced", "vpc-cni", {"addonName": "coredns", "configurationValues": DELETE}, None),
    ("eks-network-policy-enforced", "vpc-cni", {"configurationValues": '{"enableNetworkPolicy": "True", "env": {}}'}, None),
    ("nodes-no-public-ip", "gpu-lt", {"networkInterfaces": [{"deviceIndex": 0.0, "associatePublicIpAddress": "false"}]}, None),
    ("gpu-pool-taint", "gpu", {"amiType": "AL2023_x86_64_STANDARD", "instanceTypes": ["m7i.large"], "taints": []}, None),
    ("security-group-not-open-to-world", "endpoints",
     {"egress": [{"protocol": "tcp", "fromPort": 443.0, "toPort": 443.0, "cidrBlocks": ["0.0.0.0/0"], "description": "HTTPS out"}]}, None),
    ("iam-no-wildcard-resource-on-write", "irsa-read-models", {"policy": write_on_any({"Null": {"aws:ResourceTag/owner": "false"}})}, None),
    ("iam-no-wildcard-resource-on-write", "irsa-read-models",
     {"policy": write_on_any({"ForAnyValue:StringEquals": {"autoscaling:ResourceTag/owner": [PREFIX]}})}, None),
    ("iam-no-wildcard-resource-on-write", "irsa-read-models",
     {"policy": write_on_any({"StringLike": {"cloudwatch:namespace": "AWS/SageMaker"}}, action="cloudwatch:PutMetricData")}, None),
    ("iam-no-wildcard-resource-on-write", "irsa-read-models", {"policy": write_on_any(action="ec2:DescribeInstances")}, None),
    ("iam-no-wildcard-resource-on-data-read", "irsa-read-models",
     {"policy": write_on_any({"StringEquals": {"aws:ResourceTag/owner": PREFIX}}, action="secretsmanager:GetSecretValue")}, None),
    ("iam-no-privilege-escalation", "irsa-read-models", {"policy": write_on_any(action="iam:PutRolePolicy")},
     {"exemptions": {"irsa-read-models": "the deploy role manages the stack's roles"}}),
    ("iam-no-privilege-escalation", "irsa-read-models",
     {"policy": policy({"Effect": "Allow", "Action": "iam:PassRole", "Resource": f"arn:aws:iam::{ACCOUNT}:role/sm"})}, None),
    ("iam-role-trust-named-principals", "irsa", {"assumeRolePolicy": trust(principal={"Service": "sagemaker.amazonaws.com"})}, None),
    ("iam-irsa-one-service-account", "irsa", {"assumeRolePolicy": trust(principal={"Service": "sagemaker.amazonaws.com"})}, None),
    ("iam-irsa-one-service-account", "irsa", {"assumeRolePolicy": policy({
        "Effect": "Deny", "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{ISSUER}"},
        "Action": "sts:AssumeRoleWithWebIdentity"})}, None),
    ("iam-role-trust-named-principals", "irsa",
     {"assumeRolePolicy": policy({"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole"},
                                 {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/ci"}, "Action": "sts:AssumeRole"})},
     None),
    ("kms-key-enabled-and-rotated", "key", {"enableKeyRotation": False, "customerMasterKeySpec": "RSA_2048", "keyUsage": "ENCRYPT_DECRYPT"},
     None),
    ("kms-key-enabled-and-rotated", "key", {"enableKeyRotation": False, "keySpec": "HMAC_256", "keyUsage": "GENERATE_VERIFY_MAC"}, None),
    ("kms-key-policy-scoped", "key", {"policy": key_policy({"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}})}, None),
    ("kms-key-policy-scoped", "key", {"policy": key_policy({"ForAnyValue:StringEquals": {"kms:callerAccount": [ACCOUNT]}})}, None),
    ("s3-kms-encryption", "models-sse", {"rules.0.applyServerSideEncryptionByDefault.sseAlgorithm": "aws:kms:dsse"}, None),
    ("s3-tls-only", "models-policy", {"policy": policy({"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*",
                                                        "Condition": {"Bool": {"aws:SecureTransport": False}}})}, None),
    ("s3-bucket-policy-not-public", "models-policy", {"policy": public_read({"StringEquals": {"aws:SourceVpce": "vpce-1a2b"}})}, None),
    ("s3-bucket-policy-not-public", "models-policy",
     {"policy": public_read({"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/*"}})}, None),
    ("s3-access-logged", "trail", {"advancedEventSelectors.0.fieldSelectors": [
        {"field": "eventCategory", "equals": ["Data"]}, {"field": "resources.type", "equals": ["AWS::S3::Object"]}]}, None),
    ("s3-access-logged", "trail", {"advancedEventSelectors": [], "eventSelectors": [
        {"readWriteType": "All", "dataResources": [{"type": "AWS::S3::Object", "values": [f"arn:aws:s3:::{PREFIX}-models/"]}]}]}, None),
    ("s3-access-logged", "trail", {"advancedEventSelectors": [], "eventSelectors": [
        {"dataResources": [{"type": "AWS::S3::Object", "values": ["arn:aws:s3"]}]}]}, None),
    ("s3-access-logged", "trail", {"advancedEventSelectors": [], "eventSelectors": [
        {"dataResources": [{"type": "AWS::S3::Object", "values": ["arn:aws:s3:::"]}]}]}, None),
    ("s3-access-logged", "trail", {f"{TRAIL_ARN}.startsWiths": DELETE, f"{TRAIL_ARN}.equals": [f"arn:aws:s3:::{PREFIX}-models"]}, None),
    ("sagemaker-endpoint-config-kms", "endpoint-config",
     {"kmsKeyArn": DELETE, "productionVariants": [{"variantName": "s", "modelName": "m", "serverlessConfig": {
         "memorySizeInMb": 2048.0, "maxConcurrency": 5.0}}]}, None),
    ("sagemaker-data-capture-encrypted", "endpoint-config", {"dataCaptureConfig.kmsKeyId": DELETE, "dataCaptureConfig.enableCapture": False},
     None),
    ("sagemaker-endpoint-rollback-alarms", "endpoint", {"name": DELETE}, None),
    # A metric-math alarm watches the endpoint through its queries' dimensions.
    ("sagemaker-endpoint-rollback-alarms", "errors", {"dimensions": DELETE, "metricName": DELETE, "namespace": DELETE, "metricQueries": [
        {"id": "errors", "returnData": True, "metric": {"metricName": "Invocation5XXErrors", "namespace": "AWS/SageMaker",
                                                        "dimensions": {"EndpointName": f"{PREFIX}-endpoint"}, "period": 60.0, "stat": "Sum"}}]},
     None),
    ("log-group-kms", "logs", {"kmsKeyId": DELETE}, {"required": False}),
    ("no-spot-gpu-pools", "gpu", {"capacityType": "SPOT"}, {"allowSpotGpu": True}),
    ("no-spot-gpu-pools", "gpu", {"capacityType": "SPOT", "amiType": "AL2023_x86_64_STANDARD", "instanceTypes": ["m7i.large"]},
     {"allowSpotGpu": False}),
    ("alarm-has-action", "errors", {"alarmActions": []}, {"requireActions": False}),
]
