"""Settings -> `MeshArgs`: Istio, the ingress gateway and who may call it."""

from __future__ import annotations

from components import flagger
from components.eks_monitoring import AGENT_NAMESPACE
from components.mesh import MeshArgs
from components.prometheus_values import NAMESPACE as PROMETHEUS_NAMESPACE
from mlserve.stack.settings import Settings

PROMETHEUS_POD_LABELS = (("app.kubernetes.io/name", "prometheus"),)
"""What the Prometheus Operator labels every Prometheus pod with."""


def metrics_scrapers(settings: Settings) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    """Who reads the serving pods' merged metrics: Prometheus (always on EKS) and the CloudWatch
    agent of the Observability add-on (its namespace; the add-on's pod labels are not a stable API)."""
    return ((PROMETHEUS_NAMESPACE, PROMETHEUS_POD_LABELS), (AGENT_NAMESPACE, ()))


def mesh_args(settings: Settings, *, cluster_name, vpc_id, oidc_provider_arn, oidc_issuer) -> MeshArgs:
    mesh = settings.mesh
    automatic = settings.rollout.mode == "automatic"
    return MeshArgs(
        cluster_name=cluster_name, region=settings.region, vpc_id=vpc_id,
        oidc_provider_arn=oidc_provider_arn, oidc_issuer=oidc_issuer,
        ingress_scheme=mesh.ingress_scheme, certificate_arn=mesh.certificate_arn, hosts=tuple(mesh.hosts),
        jwt_issuer=mesh.jwt_issuer, jwks_uri=mesh.jwks_uri, metrics_scrapers=metrics_scrapers(settings),
        loadtester=(flagger.LOADTESTER_NAMESPACE, flagger.LOADTESTER_SERVICE_ACCOUNT) if automatic else None,
        replicas=mesh.replicas,
    )
