"""The route section of `make preview`: which version gets which share of requests, read from the
declared VirtualService (or, under `rollout: automatic`, Flagger's Canary) and Deployments (not from
the settings), so what is printed is what `pulumi up` would apply."""

from __future__ import annotations

from mlserve.offline import engine

VIRTUAL_SERVICE = "kubernetes:networking.istio.io/v1:VirtualService"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
CANARY = "kubernetes:flagger.app/v1beta1:Canary"
AUTOSCALERS = {"kubernetes:autoscaling/v2:HorizontalPodAutoscaler": ("minReplicas", "maxReplicas"),
               "kubernetes:keda.sh/v1alpha1:ScaledObject": ("minReplicaCount", "maxReplicaCount")}


def _versions(plan: engine.Plan) -> dict[str, str]:
    """Per track (or Deployment name, without tracks), "model/version (pool pool, min-max replicas)" of
    its Deployment and autoscaler."""
    scaling = {r.inputs["spec"]["scaleTargetRef"]["name"]: tuple(r.inputs["spec"].get(key) for key in keys)
               for kind, keys in AUTOSCALERS.items() for r in plan.of_type(kind)}
    versions = {}
    for deployment in plan.of_type(DEPLOYMENT):
        labels = deployment.inputs["spec"]["template"]["metadata"]["labels"]
        if "mlserve.io/model" not in labels:
            continue
        pool = next(iter(deployment.inputs["spec"]["template"]["spec"].get("nodeSelector", {}).values()), "?")
        low, high = scaling.get(deployment.inputs["metadata"]["name"], (None, None))
        replicas = f", {int(low)}-{int(high)} replicas" if high is not None else ""
        versions[labels.get("mlserve.io/track", deployment.inputs["metadata"]["name"])] = (
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
    for canary in plan.of_type(CANARY):
        spec = canary.inputs["spec"]
        analysis, target = spec["analysis"], spec["targetRef"]["name"]
        lines.append(f"Automatic rollout (Flagger Canary {canary.inputs['metadata']['name']} via "
                     f"{', '.join(spec['service']['gateways'])}):")
        lines.append(f"  target {target}: {versions.get(target, 'no Deployment')}, autoscaler {spec['autoscalerRef']['name']}")
        lines.append(f"  every {analysis['interval']}: +{analysis['stepWeight']:.0f}% up to {analysis['maxWeight']:.0f}%, "
                     f"rolled back after {analysis['threshold']:.0f} failed checks")
        for metric in analysis["metrics"]:
            bounds = ", ".join(f"{key} {value:g}" for key, value in metric["thresholdRange"].items())
            lines.append(f"  check {metric['name']} ({metric['templateRef']['name']}): {bounds}")
        for hook in analysis.get("webhooks", []):
            lines.append(f"  webhook {hook['name']} ({hook['type']}) via {hook['url']}")
    return lines


def metrics_lines(plan: engine.Plan) -> list[str]:
    """Prometheus and Grafana (from the kube-prometheus-stack release), Flagger, and each autoscaler's signals."""
    lines = []
    for release in plan.of_type("kubernetes:helm.sh/v3:Release"):
        values, chart = release.inputs.get("values", {}), release.inputs["chart"]
        if chart == "kube-prometheus-stack":
            spec = values["prometheus"]["prometheusSpec"]
            claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
            lines.append(f"Prometheus {spec['image']['tag']} ({chart} {release.inputs['version']}, namespace "
                         f"{release.inputs['namespace']}): {int(spec['replicas'])} x {claim['resources']['requests']['storage']} "
                         f"{claim['storageClassName']}, kept {spec['retention']}")
            lines.append(f"Grafana {values['grafana']['image']['tag']}: no anonymous access, no Ingress; "
                         f"kubectl -n {release.inputs['namespace']} port-forward svc/{release.inputs['name']}-grafana 3000:80")
        elif chart in ("flagger", "keda"):
            lines.append(f"{ {'flagger': 'Flagger', 'keda': 'KEDA'}[chart]} {release.inputs['version']} (namespace {release.inputs['namespace']})")
    for scaler in plan.of_type("kubernetes:keda.sh/v1alpha1:ScaledObject"):
        spec = scaler.inputs["spec"]
        signals = ", ".join(f"{t['name']} {t['metadata'].get('threshold') or t['metadata'].get('value')}"
                            + ("/pod" if t["type"] == "prometheus" else "%") for t in spec["triggers"])
        lines.append(f"Autoscaler {scaler.inputs['metadata']['name']}: {int(spec['minReplicaCount'])}-"
                     f"{int(spec['maxReplicaCount'])} replicas on {signals}")
    return lines
