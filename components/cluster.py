"""The EKS cluster: control plane, managed add-ons, node pools and a Kubernetes provider.

The control plane sits in the private subnets with secrets envelope-encrypted by a key of
its own, logs to a log group with a retention, and authenticates through access entries
only (no aws-auth ConfigMap). Pods get AWS credentials through IRSA, never from the node
role. Node pools live in `components/node_pools.py`, IAM helpers in `components/iam_roles.py`.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.cluster_access import allow_private_access, create_admin_access
from components.cluster_args import CONTROL_PLANE_LOG_TYPES, PRINCIPAL_ARN, UPGRADE_SUPPORT_TYPES, ClusterArgs
from components.iam_roles import role_with_policies, service_trust_policy
from components.kms import cloudwatch_logs, encryption_key, role_use, via_service
from components.kubeconfig import kubeconfig
from components.managed_addons import (
    ADDONS_AFTER_NODES,
    ADDONS_BEFORE_NODES,
    DEFAULT_ADDON_VERSIONS,
    REQUIRED_ADDONS,
    create_addons,
    create_irsa_roles,
)
from components.node_pools import NodePoolArgs, Taint, create_node_pool

__all__ = [
    "CONTROL_PLANE_LOG_TYPES", "DEFAULT_ADDON_VERSIONS", "REQUIRED_ADDONS", "UPGRADE_SUPPORT_TYPES",
    "Cluster", "ClusterArgs", "NodePoolArgs", "Taint", "kubeconfig",
]

class Cluster(pulumi.ComponentResource):
    """An EKS cluster with encrypted secrets, retained logs, access entries, IRSA, pinned
    managed add-ons and one managed node group per node pool."""

    cluster_name: pulumi.Output[str]
    """The EKS cluster name."""

    endpoint: pulumi.Output[str]
    """The API server URL (https://...)."""

    region: pulumi.Output[str]
    """The region of the cluster (from the AWS provider passed in `opts`)."""

    vpc_id: pulumi.Output[str]
    """The VPC the cluster runs in (passed through from the args)."""

    kms_key_arn: pulumi.Output[str]
    """ARN of the KMS key that envelope-encrypts Kubernetes secrets."""

    oidc_provider_arn: pulumi.Output[str]
    """ARN of the IAM OIDC provider, the `Federated` principal of IRSA trust policies."""

    oidc_issuer: pulumi.Output[str]
    """The OIDC issuer without "https://", the prefix of IRSA condition keys ("<issuer>:sub")."""

    node_role_arn: pulumi.Output[str]
    """ARN of the IAM role every node runs as."""

    cluster_security_group_id: pulumi.Output[str]
    """The security group EKS created for the control plane and the nodes."""

    node_group_names: pulumi.Output[dict[str, str]]
    """Pool name -> EKS node group name."""

    kubeconfig: pulumi.Output[str]
    """A kubeconfig (JSON, secret) whose user runs `aws eks get-token` for this cluster."""

    provider: k8s.Provider
    """The Kubernetes provider for this cluster; pass it to components that deploy into it."""

    node_groups: dict[str, aws.eks.NodeGroup]
    """Pool name -> node group resource, for `depends_on` of workloads that need nodes."""

    system_addons: list[aws.eks.Addon]
    """The add-ons that need nodes (CoreDNS, EBS CSI driver), for `depends_on` of in-cluster
    workloads: a Helm release started before CoreDNS answers fails its hooks and image lookups."""

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlserve:cluster:Cluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        cluster_role, cluster_role_policies = role_with_policies(
            f"{name}-cluster-role",
            description=f"EKS control plane of {args.cluster_name}",
            assume_role_policy=service_trust_policy("eks.amazonaws.com"),
            managed_policies=["AmazonEKSClusterPolicy"],
            parent=self,
        )

        # Envelope encryption of Secrets with a key of our own: etcd holds only ciphertext whose
        # data key only this key unwraps, and revoking the key revokes every secret. EKS uses it
        # through a grant it creates at CreateCluster on the deployer's behalf (kms:ViaService eks),
        # and the cluster role uses it directly, as terraform-aws-modules/eks writes its key users.
        # https://docs.aws.amazon.com/eks/latest/userguide/enable-kms.html
        # The same key encrypts the control-plane log group (CloudWatch Logs, this group only).
        log_group_name = f"/aws/eks/{args.cluster_name}/cluster"
        key = encryption_key(
            f"{name}-secrets-key",
            description=f"Envelope encryption of Kubernetes secrets and control-plane logs of EKS cluster {args.cluster_name}",
            alias=f"alias/eks/{args.cluster_name}",
            name_tag=f"{args.cluster_name}-secrets",
            uses=[
                via_service("eks"),
                role_use("ClusterRole", cluster_role.arn, actions=("kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey")),
                cloudwatch_logs(log_group_names=[log_group_name]),
            ],
            parent=self,
            protect=args.deletion_protection,
        )

        # EKS writes to this exact name. Created first, with a retention; otherwise EKS creates
        # it itself, unmanaged and kept forever. https://docs.aws.amazon.com/eks/latest/userguide/control-plane-logs.html
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane-logs",
            name=log_group_name,
            retention_in_days=args.log_retention_days,
            kms_key_id=key.arn,
            # Fixed name: a replacement (e.g. a new log group class) must delete the old group first.
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True, protect=args.deletion_protection),
        )

        cluster = aws.eks.Cluster(
            f"{name}-eks",
            name=args.cluster_name,
            version=args.kubernetes_version,
            role_arn=cluster_role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=args.private_subnet_ids,
                endpoint_private_access=True,
                endpoint_public_access=args.endpoint_public_access,
                public_access_cidrs=list(args.public_access_cidrs) if args.endpoint_public_access else None,
            ),
            enabled_cluster_log_types=list(args.log_types),
            # Access entries only: who may do what is in the EKS API (and CloudTrail), not in a
            # ConfigMap anyone with kube-system access can edit. No hidden entry for the creator:
            # the bootstrap entry is invisible to Pulumi and collides (409) with an explicit one
            # for the same identity (terraform-aws-modules/eks #2968, #3293); the caller gets an
            # explicit entry below instead. https://docs.aws.amazon.com/eks/latest/userguide/access-entries.html
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API", bootstrap_cluster_creator_admin_permissions=False
            ),
            # Cannot be removed once set: https://docs.aws.amazon.com/eks/latest/userguide/enable-kms.html
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=key.arn), resources=["secrets"]
            ),
            deletion_protection=args.deletion_protection,
            # The add-ons come as managed add-ons below, pinned, instead of unmanaged copies.
            # https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateCluster.html#AmazonEKS-CreateCluster-request-bootstrapSelfManagedAddons
            bootstrap_self_managed_addons=False,
            # Chosen per stack (`cluster.upgradePolicy`): EXTENDED never upgrades the control plane
            # under Pulumi's feet (it costs extended-support fees past standard support); STANDARD
            # lets EKS upgrade it, after which a stack still naming the old version plans an
            # impossible downgrade. https://docs.aws.amazon.com/eks/latest/userguide/view-upgrade-policy.html
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type=args.upgrade_support_type),
            # ARC zonal shift: traffic can be moved away from an impaired AZ (terraform-aws-modules/eks
            # v21 exposes the same zonal_shift_config). https://docs.aws.amazon.com/eks/latest/userguide/zone-shift.html
            zonal_shift_config=aws.eks.ClusterZonalShiftConfigArgs(enabled=True),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[log_group, *cluster_role_policies],
                protect=args.deletion_protection,
                # The name is fixed, so a replacement (new KMS key, new role) must delete first or
                # fail with "already exists".
                delete_before_replace=True,
                # bootstrapClusterCreatorAdminPermissions is applied at creation only; changing it
                # replaces the cluster (the provider marks it force-new, as CloudFormation says
                # "Update requires: Replacement"), which deletion protection then refuses. So a stack
                # created with it true keeps it, and its creator's hidden entry: `pulumi import` that
                # entry as `cluster-deployer` before the first `up` with this code (docs/deploying.md),
                # or the explicit entry fails with 409.
                # https://www.pulumi.com/registry/packages/aws/api-docs/eks/cluster/#clusteraccessconfig
                # https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-eks-cluster-accessconfig.html
                ignore_changes=["accessConfig.bootstrapClusterCreatorAdminPermissions"],
            ),
        )

        # Region and partition read off the cluster ARN (arn:<partition>:eks:<region>:...): always
        # those of the AWS provider passed in `opts`, with no data-source call.
        self.region = cluster.arn.apply(lambda arn: arn.split(":")[3])
        api_access = create_admin_access(
            name, cluster=cluster, admin_role_arns=args.admin_role_arns, principal_pattern=PRINCIPAL_ARN, parent=self
        )
        api_access += allow_private_access(
            name,
            cluster=cluster,
            cidrs=args.private_access_cidrs,
            security_group_ids=args.private_access_security_group_ids,
            parent=self,
        )

        # IRSA: pods exchange their service account token for role credentials. No thumbprint:
        # IAM trusts the EKS issuer's certificate through its own CA library.
        # https://docs.aws.amazon.com/eks/latest/userguide/enable-iam-roles-for-service-accounts.html
        issuer_url = cluster.identities.apply(lambda identities: identities[0].oidcs[0].issuer)
        oidc_provider = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc", url=issuer_url, client_id_lists=["sts.amazonaws.com"], opts=child
        )
        self.oidc_provider_arn = oidc_provider.arn
        self.oidc_issuer = issuer_url.apply(lambda url: url.removeprefix("https://"))

        irsa_roles, irsa_policies = create_irsa_roles(
            name,
            cluster_name=args.cluster_name,
            oidc_provider_arn=self.oidc_provider_arn,
            oidc_issuer=self.oidc_issuer,
            parent=self,
        )
        # The add-ons wait for their roles' permissions, not just the roles: the VPC CNI without
        # AmazonEKS_CNI_Policy cannot attach ENIs and nodes never turn Ready.
        addons_before_nodes = create_addons(
            name, ADDONS_BEFORE_NODES, cluster=cluster, versions=args.addon_versions, irsa_roles=irsa_roles,
            parent=self, depends_on=irsa_policies,
        )

        # Pods get AWS permissions through IRSA, so the node role carries only what the kubelet
        # needs. Managed node groups create the node role's access entry themselves.
        # https://docs.aws.amazon.com/eks/latest/userguide/create-node-role.html
        node_role, node_role_policies = role_with_policies(
            f"{name}-node-role",
            description=f"Nodes of EKS cluster {args.cluster_name}",
            assume_role_policy=service_trust_policy("ec2.amazonaws.com"),
            # PullOnly, not ReadOnly: nodes pull images and need none of ReadOnly's listing and
            # describing. https://docs.aws.amazon.com/AmazonECR/latest/userguide/security-iam-awsmanpol.html
            managed_policies=["AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly", "AmazonSSMManagedInstanceCore"],
            parent=self,
        )
        self.node_groups = {
            pool.name: create_node_pool(
                name,
                pool,
                cluster=cluster,
                cluster_name=args.cluster_name,
                kubernetes_version=args.kubernetes_version,
                node_role_arn=node_role.arn,
                subnet_ids=args.private_subnet_ids,
                common_tags=args.tags,
                parent=self,
                depends_on=[*node_role_policies, *irsa_policies, *addons_before_nodes],
            )
            for pool in args.node_pools
        }
        self.system_addons = create_addons(
            name,
            ADDONS_AFTER_NODES,
            cluster=cluster,
            versions=args.addon_versions,
            irsa_roles=irsa_roles,
            parent=self,
            depends_on=[*self.node_groups.values(), *irsa_policies],
        )

        self.cluster_name = cluster.name
        self.endpoint = cluster.endpoint
        self.vpc_id = pulumi.Output.from_input(args.vpc_id)
        self.kms_key_arn = key.arn
        self.node_role_arn = node_role.arn
        self.cluster_security_group_id = cluster.vpc_config.apply(lambda vpc: vpc.cluster_security_group_id)
        self.node_group_names = pulumi.Output.all(
            **{pool: group.node_group_name for pool, group in self.node_groups.items()}
        )
        self.kubeconfig = pulumi.Output.secret(
            kubeconfig(
                cluster_name=cluster.name,
                endpoint=cluster.endpoint,
                certificate_authority=cluster.certificate_authority.apply(lambda ca: ca.data),
                region=self.region,
            )
        )
        # Server-side apply stays on (the provider default): field ownership is tracked per
        # manager, so Pulumi and controllers editing the same object do not clobber each other.
        # It waits for the deployer's access entry and the runner's way in: without them its first
        # call is refused (401) or times out.
        self.provider = k8s.Provider(
            f"{name}-k8s", kubeconfig=self.kubeconfig, opts=pulumi.ResourceOptions(parent=self, depends_on=api_access)
        )

        self.register_outputs({
            "cluster_name": self.cluster_name,
            "endpoint": self.endpoint,
            "region": self.region,
            "vpc_id": self.vpc_id,
            "kms_key_arn": self.kms_key_arn,
            "oidc_provider_arn": self.oidc_provider_arn,
            "oidc_issuer": self.oidc_issuer,
            "node_role_arn": self.node_role_arn,
            "cluster_security_group_id": self.cluster_security_group_id,
            "node_group_names": self.node_group_names,
            "kubeconfig": self.kubeconfig,
        })

