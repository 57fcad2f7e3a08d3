"""Settings -> `NetworkArgs`: the VPC, named for the cluster it hosts."""

from __future__ import annotations

from components.network import NetworkArgs
from mlserve.stack.args.naming import cluster_name
from mlserve.stack.settings import Settings


def network_args(settings: Settings, stack: str) -> NetworkArgs:
    return NetworkArgs(
        region=settings.region,
        vpc_cidr=settings.network.vpc_cidr,
        availability_zones=tuple(settings.network.availability_zones),
        nat_gateways=settings.network.nat_gateways,
        cluster_name=cluster_name(stack),
        flow_logs_retention_days=settings.network.flow_logs_retention_days,
        sagemaker_endpoints="sagemaker" in settings.targets,
        protect=settings.cluster.deletion_protection,
    )
