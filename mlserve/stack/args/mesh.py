"""Settings -> `MeshArgs`: Istio, the ingress gateway and who may call it."""

from __future__ import annotations

from components.mesh import MeshArgs
from mlserve.stack.settings import Settings


def mesh_args(settings: Settings, *, cluster_name, vpc_id, oidc_provider_arn, oidc_issuer) -> MeshArgs:
    mesh = settings.mesh
    return MeshArgs(
        cluster_name=cluster_name, region=settings.region, vpc_id=vpc_id,
        oidc_provider_arn=oidc_provider_arn, oidc_issuer=oidc_issuer,
        ingress_scheme=mesh.ingress_scheme, certificate_arn=mesh.certificate_arn, hosts=tuple(mesh.hosts),
        jwt_issuer=mesh.jwt_issuer, jwks_uri=mesh.jwks_uri, metrics_scraper=mesh.metrics_scraper,
        replicas=mesh.replicas,
    )
