"""The route section of `make preview`: which version gets which share of requests, read from the
declared VirtualService and Deployments (not from the settings), so the printed split is the one
`pulumi up` would apply."""

from __future__ import annotations

from mlserve.offline import engine

VIRTUAL_SERVICE = "kubernetes:networking.istio.io/v1:VirtualService"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def _versions(plan: engine.Plan) -> dict[str, str]:
    """Per track, "model/version (pool pool, min-max replicas)" of its Deployment and HPA."""
    hpas = {r.inputs["spec"]["scaleTargetRef"]["name"]: r.inputs["spec"]
            for r in plan.of_type("kubernetes:autoscaling/v2:HorizontalPodAutoscaler")}
    versions = {}
    for deployment in plan.of_type(DEPLOYMENT):
        labels = deployment.inputs["spec"]["template"]["metadata"]["labels"]
        pool = next(iter(deployment.inputs["spec"]["template"]["spec"].get("nodeSelector", {}).values()), "?")
        hpa = hpas.get(deployment.inputs["metadata"]["name"], {})
        replicas = f", {int(hpa['minReplicas'])}-{int(hpa['maxReplicas'])} replicas" if hpa else ""
        versions[labels["mlserve.io/track"]] = (
            f"{labels['mlserve.io/model']}/{labels['mlserve.io/model-version']} on pool {pool}{replicas}")
    return versions


def route_lines(plan: engine.Plan) -> list[str]:
    """Readable lines for each VirtualService route; [] when the stack routes nothing."""
    versions = _versions(plan)
    lines = []
    for service in sorted(plan.of_type(VIRTUAL_SERVICE), key=lambda r: r.name):
        spec = service.inputs["spec"]
        lines.append(f"Routes ({service.inputs['metadata']['name']} via {', '.join(spec['gateways'])}):")
        for route in spec["http"]:
            targets = ", ".join(f"{d['destination']['subset']} {d['weight']:.0f}% "
                                f"({versions.get(d['destination']['subset'], 'no Deployment')})" for d in route["route"])
            match = route.get("match")
            if match:
                [(header, value)] = match[0]["headers"].items()
                lines.append(f"  header {header}: {value['exact']} -> {targets}")
            else:
                lines.append(f"  weighted -> {targets}")
            for mirror in route.get("mirrors", []):
                lines.append(f"  mirror {mirror['percentage']['value']:g}% of those requests -> "
                             f"{mirror['destination']['subset']} (answers discarded)")
    return lines
