"""The names the mesh and the serving workloads must agree on, in one place.

`components/serving.py` creates the Deployments, the Service and the service accounts with these
names and labels; `components/mesh.py` routes to them (DestinationRule subsets select on
`TRACK_LABEL`, the VirtualService targets `SERVICE_NAME`) and admits callers by service account.
Tests assert the declared objects agree, not these constants.
"""

from __future__ import annotations

SERVING_NAMESPACE = "mlserve-serving"
"""The namespace the model server runs in (sidecar injection, PSS restricted, STRICT mTLS)."""

SERVICE_NAME = "model-server"
"""One Kubernetes Service across both versions; the mesh splits traffic by subset."""

SERVICE_PORT = 8080
"""The Service port and the server's container port (the SageMaker contract's 8080)."""

PORT_NAME = "http"
"""Istio picks the protocol from the port name: "http" makes the sidecar speak HTTP/1.1."""

APP_LABEL = "app.kubernetes.io/name"
APP_NAME = "model-server"
TRACK_LABEL = "mlserve.io/track"
"""Pod label carrying the version's track: "stable" or "canary"; the DestinationRule subsets."""

TRACKS = ("stable", "canary")

CANARY_HEADER = "x-mlserve-canary"
"""Requests with this header set to "always" go to the canary whatever the weight."""


def deployment_name(track: str) -> str:
    """"model-server-stable": one Deployment (and ServiceAccount) per track."""
    if track not in TRACKS:
        raise ValueError(f"track {track!r}: one of {TRACKS}")
    return f"{APP_NAME}-{track}"
