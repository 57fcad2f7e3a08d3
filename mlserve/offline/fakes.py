"""What AWS and Kubernetes answer the offline engine (mlserve/offline/engine.py): the outputs of a new
resource as far as the program reads them (ARNs, endpoints, OIDC issuers, digests), and the data
sources the program calls. Each is what the real service returns for that call, no more: an output
the program never reads is not invented, and a call with no fake here is refused by the engine.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FAKE_ACCOUNT_ID = "123456789012"
# Who runs the offline `pulumi up`: a deploy role assumed through STS, as a CI runner or SSO
# user is. GetCallerIdentity reports the session ARN, never the role's IAM ARN.
FAKE_DEPLOY_ROLE = "mlserve-deployer"
FAKE_CALLER_ARN = f"arn:aws:sts::{FAKE_ACCOUNT_ID}:assumed-role/{FAKE_DEPLOY_ROLE}/offline"


def session_context(arn: str) -> dict[str, Any]:
    """What `aws.iam.getsession_context` returns: for an STS assumed-role ARN the IAM role it came
    from (the provider reads the role's path with iam:GetRole; the fake roles have none), for any
    other ARN the ARN itself with empty issuer fields.
    https://www.pulumi.com/registry/packages/aws/api-docs/iam/getsessioncontext/"""
    parts = arn.split(":", 5)
    resource = parts[5] if len(parts) == 6 else ""
    if parts[2:3] == ["sts"] and resource.startswith("assumed-role/"):
        _, role, session = resource.split("/", 2)
        return {"arn": arn, "id": arn, "issuerArn": f"arn:{parts[1]}:iam::{parts[4]}:role/{role}",
                "issuerId": "AROAOFFLINEDEPLOYER", "issuerName": role, "sessionName": session}
    return {"arn": arn, "id": arn, "issuerArn": arn, "issuerId": "", "issuerName": "", "sessionName": ""}


def ecr_authorization_token(registry_id: str, region: str) -> dict[str, Any]:
    """What `aws.ecr.get_authorization_token` returns: user "AWS", a password, and the token as
    base64("AWS:<password>"), valid 12 hours, for the registry's endpoint.
    https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_GetAuthorizationToken.html"""
    import base64

    password = "offline-ecr-password"
    return {"authorizationToken": base64.b64encode(f"AWS:{password}".encode()).decode(), "userName": "AWS",
            "password": password, "expiresAt": "2026-01-01T12:00:00Z", "registryId": registry_id,
            "proxyEndpoint": f"https://{registry_id}.dkr.ecr.{region}.amazonaws.com", "id": region, "region": region}


OFFLINE_PUBLISHED_MODEL = Path(__file__).resolve().parents[2] / "build" / "demo-model"
"""What every published model version of the offline account holds: the demo model (`make preview`
builds it), as `python -m mlserve.models publish` would have put it under each store version."""


def published_object(bucket: str, key: str) -> dict[str, Any]:
    """What `aws.s3.get_object` returns for a file of a published model version: its body (text objects
    only, which sample.json and metadata.json are), content type and length. The offline account's
    published versions are the demo model's files; any other key is refused, as S3 answers NoSuchKey.
    https://www.pulumi.com/registry/packages/aws/api-docs/s3/getobject/"""
    parts = key.split("/")
    if len(parts) != 4 or parts[0] != "models" or parts[3] not in ("sample.json", "metadata.json"):
        raise NotImplementedError(f"the offline engine holds no s3://{bucket}/{key} (only models/<name>/<version>/"
                                  "sample.json and metadata.json of published versions)")
    path = OFFLINE_PUBLISHED_MODEL / parts[3]
    if not path.is_file():
        raise NotImplementedError(f"s3://{bucket}/{key}: the offline account publishes {OFFLINE_PUBLISHED_MODEL}, "
                                  "which does not exist: run `make demo-model`")
    body = path.read_text()
    return {"bucket": bucket, "key": key, "body": body, "contentType": "application/json",
            "contentLength": len(body.encode()), "etag": f'"{__import__("hashlib").md5(body.encode()).hexdigest()}"',
            "id": f"{bucket}/{key}"}


def read_service(resource_id: str, region: str) -> dict[str, Any]:
    """A LoadBalancer Service read back once the AWS Load Balancer Controller provisioned its NLB:
    the NLB's DNS name in `status.loadBalancer.ingress[0].hostname` ("k8s-<ns>-<name>-<hash>.elb...").
    https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/service/nlb/"""
    import hashlib

    namespace, _, name = resource_id.rpartition("/")
    suffix = hashlib.sha256(resource_id.encode()).hexdigest()[:10]
    hostname = f"k8s-{namespace[:8]}-{name[:8]}-{suffix}.elb.{region}.amazonaws.com"
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace or "default"},
            "spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {"ingress": [{"hostname": hostname}]}}}


def docker_image(inputs: dict[str, Any]) -> dict[str, Any]:
    """What pulumi-docker reports for a pushed image: `repoDigest` is "<repository>@sha256:<64 hex>",
    the registry's manifest digest (here a hash of what was built, so a changed build changes it)."""
    import hashlib

    image_name = str(inputs.get("imageName", ""))
    repository = image_name.rsplit(":", 1)[0] if ":" in image_name.rsplit("/", 1)[-1] else image_name
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()
    return {**inputs, "baseImageName": image_name, "repoDigest": f"{repository}@sha256:{digest}",
            "registryServer": repository.split("/", 1)[0], "context": inputs.get("build", {}).get("context", ""),
            "dockerfile": inputs.get("build", {}).get("dockerfile", "")}


def fake_outputs(type_token: str, name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    """What AWS would report back for a new resource, as far as this program reads it."""
    state = dict(inputs)
    package, module_and_type = type_token.split(":", 1)[0], type_token.split(":", 1)[-1]
    if type_token == "docker:index/image:Image":
        return docker_image(inputs)
    if type_token == "kubernetes:helm.sh/v3:Release":
        # What the provider reports once installed (helm.v3.ReleaseStatus): the release's name and namespace.
        state["status"] = {"name": inputs.get("name", name), "namespace": inputs.get("namespace", "default"),
                           "chart": inputs.get("chart"), "version": inputs.get("version"), "revision": 1,
                           "status": "deployed"}
    if package != "aws":
        return state
    service = module_and_type.split("/", 1)[0]
    physical = inputs.get("name") or inputs.get("namePrefix") or name
    state.setdefault("arn", f"arn:aws:{service}:{region}:{FAKE_ACCOUNT_ID}:{physical}")
    state.setdefault("tagsAll", inputs.get("tags", {}))
    if type_token == "aws:eks/cluster:Cluster":
        state.setdefault("name", physical)
        state.update(
            endpoint=f"https://{physical}.gr7.{region}.eks.amazonaws.com",
            certificateAuthority={"data": "Y2VydGlmaWNhdGU="},
            identities=[{"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/OFFLINE{physical.upper()}"}]}],
            vpcConfig={**inputs.get("vpcConfig", {}), "clusterSecurityGroupId": f"sg-{physical}-cluster"},
            status="ACTIVE",
        )
    elif type_token == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
        state["arn"] = f"arn:aws:iam::{FAKE_ACCOUNT_ID}:oidc-provider/{str(inputs.get('url', '')).removeprefix('https://')}"
    elif type_token in ("aws:iam/role:Role", "aws:iam/policy:Policy"):
        kind = type_token.rsplit(":", 1)[-1].lower()
        state.setdefault("name", physical)
        state["arn"] = f"arn:aws:iam::{FAKE_ACCOUNT_ID}:{kind}/{physical}"
    elif type_token == "aws:kms/key:Key":
        state.update(keyId=f"{name}-key-id", arn=f"arn:aws:kms:{region}:{FAKE_ACCOUNT_ID}:key/{name}-key-id")
    elif type_token == "aws:ecr/repository:Repository":
        state.setdefault("name", physical)
        state["repositoryUrl"] = f"{FAKE_ACCOUNT_ID}.dkr.ecr.{region}.amazonaws.com/{physical}"
        state["registryId"] = FAKE_ACCOUNT_ID
    elif type_token == "aws:s3/bucket:Bucket":
        # S3 ARNs carry neither region nor account: https://docs.aws.amazon.com/AmazonS3/latest/userguide/s3-arn-format.html
        bucket = inputs.get("bucket") or name
        state.update(bucket=bucket, arn=f"arn:aws:s3:::{bucket}", bucketDomainName=f"{bucket}.s3.amazonaws.com",
                     bucketRegionalDomainName=f"{bucket}.s3.{region}.amazonaws.com", region=region)
    elif type_token == "aws:ec2/vpcEndpoint:VpcEndpoint" and inputs.get("vpcEndpointType") == "Gateway":
        # A gateway endpoint's AWS-managed prefix list ("pl-" and 8 hex digits), for security group rules.
        state.setdefault("prefixListId", f"pl-{_digest(inputs)[:8]}")
    elif type_token == "aws:ec2/vpc:Vpc":
        state.setdefault("defaultSecurityGroupId", f"sg-{name}-default")
        state.setdefault("mainRouteTableId", f"rtb-{name}-main")
    elif type_token == "aws:cloudwatch/logGroup:LogGroup":
        # CloudWatch Logs ARNs: service "logs", resource "log-group:<name>" (pulumi-aws drops the ":*").
        state.setdefault("name", physical)
        state["arn"] = f"arn:aws:logs:{region}:{FAKE_ACCOUNT_ID}:log-group:{state['name']}"
    elif type_token == "aws:sagemaker/model:Model":
        # Auto-named: Pulumi adds a random suffix, a fresh one on each replacement (here: from the inputs).
        state.setdefault("name", f"{name}-{_digest(inputs)[:7]}")
        state["arn"] = f"arn:aws:sagemaker:{region}:{FAKE_ACCOUNT_ID}:model/{state['name']}"
    elif type_token == "aws:sagemaker/endpointConfiguration:EndpointConfiguration":
        # name_prefix + a unique suffix (the provider's id.PrefixedUniqueId: a timestamp and counter).
        state.setdefault("name", f"{inputs.get('namePrefix', name)}{_digest(inputs)[:26]}")
        state["arn"] = f"arn:aws:sagemaker:{region}:{FAKE_ACCOUNT_ID}:endpoint-config/{state['name']}"
    elif type_token == "aws:sagemaker/endpoint:Endpoint":
        state["arn"] = f"arn:aws:sagemaker:{region}:{FAKE_ACCOUNT_ID}:endpoint/{physical}"
    elif type_token == "aws:sns/topic:Topic":
        state["arn"] = f"arn:aws:sns:{region}:{FAKE_ACCOUNT_ID}:{physical}"
    elif type_token == "aws:cloudwatch/metricAlarm:MetricAlarm":
        state["arn"] = f"arn:aws:cloudwatch:{region}:{FAKE_ACCOUNT_ID}:alarm:{physical}"
    elif type_token == "aws:eks/nodeGroup:NodeGroup":
        state.setdefault("nodeGroupName", inputs.get("nodeGroupNamePrefix", name) + "-offline")
        state.setdefault("resources", [{"autoscalingGroups": [{"name": f"eks-{name}-asg"}]}])
    elif type_token == "aws:ec2/launchTemplate:LaunchTemplate":
        state.setdefault("latestVersion", 1)
        state.setdefault("resources", [{"autoscalingGroups": [{"name": f"eks-{name}-asg"}]}])
    return state


def _digest(inputs: dict[str, Any]) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()
