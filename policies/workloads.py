"""Kubernetes workload rules: resources, probes, Pod Security Standards "restricted", images, namespaces,
and serving Deployments that scale and survive node drains."""

from __future__ import annotations

from collections.abc import Mapping

from components import serving_contract
from policies.rules import as_list, get, resource_rule, setting, stack_rule

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
"""KEDA's ScaledObject: it makes and owns the HPA of its target (https://keda.sh/docs/2.20/concepts/scaling-deployments/)."""
AUTOSCALERS = (HPA, SCALED_OBJECT)
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
# Where each workload kind keeps its pod spec.
POD_SPEC_PATHS = {
    DEPLOYMENT: "spec.template.spec",
    "kubernetes:apps/v1:StatefulSet": "spec.template.spec",
    "kubernetes:apps/v1:DaemonSet": "spec.template.spec",
    "kubernetes:apps/v1:ReplicaSet": "spec.template.spec",
    "kubernetes:batch/v1:Job": "spec.template.spec",
    "kubernetes:batch/v1:CronJob": "spec.jobTemplate.spec.template.spec",
    "kubernetes:core/v1:Pod": "spec",
}
WORKLOADS = list(POD_SPEC_PATHS)
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
# Namespaced kinds that must not land in "default" besides workloads (Checkov CKV_K8S_21's list).
NAMESPACED = [*WORKLOADS, "kubernetes:core/v1:Service", SERVICE_ACCOUNT, "kubernetes:core/v1:ConfigMap",
              "kubernetes:core/v1:Secret", "kubernetes:rbac.authorization.k8s.io/v1:Role",
              "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "kubernetes:networking.k8s.io/v1:Ingress",
              "kubernetes:networking.k8s.io/v1:NetworkPolicy", "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
              "kubernetes:policy/v1:PodDisruptionBudget"]
# UIDs below 10000 may collide with a host user's (Checkov CKV_K8S_40).
MIN_UID = 10000
# Pod Security Standards, restricted profile: https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted
PSS_ALLOWED_ADDED_CAPABILITIES = {"NET_BIND_SERVICE"}


def pod_spec(resource_type: str, props) -> Mapping:
    return get(props, POD_SPEC_PATHS[resource_type], {}) or {}


def _containers(resource_type, props, *, with_init: bool = True):
    spec = pod_spec(resource_type, props)
    kinds = ("containers", "initContainers") if with_init else ("containers",)
    for kind in kinds:
        for container in as_list(spec.get(kind)):
            yield container


def _per_container(check, *, with_init: bool = True):
    def run(props, args):
        for container in _containers(args.resource_type, props, with_init=with_init):
            for message in check(container, pod_spec(args.resource_type, props)):
                yield f"container {container.get('name')!r}: {message}"
    return run


def _resources(container, _pod):
    missing = [path for path in ("requests.cpu", "requests.memory", "limits.memory")
               if get(container.get("resources") or {}, path) in (None, "")]
    if missing:
        # No CPU limit required: CPU limits throttle a busy server; memory limits stop a leak taking
        # the node (EKS best practices guide, reliability: "configure and size resource requests and limits").
        yield f"set resources.{', resources.'.join(missing)}"


def _probes(container, _pod):
    missing = [p for p in ("livenessProbe", "readinessProbe") if not container.get(p)]
    if missing:
        yield f"add {' and '.join(missing)} (the server's /ping answers both)"


def _context(container, pod, key):
    """A security setting from the container's securityContext, else the pod's (PSS reads both)."""
    value = get(container, f"securityContext.{key}")
    return value if value is not None else get(pod, f"securityContext.{key}")


def _non_root(container, pod):
    if _context(container, pod, "runAsNonRoot") is not True:
        yield "set securityContext.runAsNonRoot = true (pod or container)"
    user = _context(container, pod, "runAsUser")
    if user is not None and float(user) == 0:
        yield "runAsUser is 0: run as a non-zero UID"
    elif user is not None and float(user) < MIN_UID:
        yield f"runAsUser is {int(float(user))}: use a UID of at least {MIN_UID} so it matches no host user"


def _read_only_root(container, _pod):
    if get(container, "securityContext.readOnlyRootFilesystem") is not True:
        yield "set securityContext.readOnlyRootFilesystem = true (mount an emptyDir where the process writes)"


def _no_escalation(container, _pod):
    if get(container, "securityContext.allowPrivilegeEscalation") is not False:
        yield "set securityContext.allowPrivilegeEscalation = false"
    if get(container, "securityContext.privileged") is True:
        yield "remove securityContext.privileged"


def _capabilities(container, _pod):
    if "ALL" not in as_list(get(container, "securityContext.capabilities.drop")):
        yield "set securityContext.capabilities.drop = [ALL]"
    added = set(as_list(get(container, "securityContext.capabilities.add"))) - PSS_ALLOWED_ADDED_CAPABILITIES
    if added:
        yield f"remove capabilities.add {sorted(added)} (restricted allows only NET_BIND_SERVICE)"


def _seccomp(container, pod):
    if _context(container, pod, "seccompProfile.type") not in ("RuntimeDefault", "Localhost"):
        yield "set securityContext.seccompProfile.type = RuntimeDefault (pod or container)"


def _digest(container, _pod):
    if "@sha256:" not in str(container.get("image", "")):
        yield f"image {container.get('image')!r} is not pinned by digest: use <repository>@sha256:<digest>"


def _host_namespaces(props, args):
    spec = pod_spec(args.resource_type, props)
    shared = [key for key in ("hostNetwork", "hostPID", "hostIPC") if spec.get(key) is True]
    if shared:
        yield f"remove {shared} from the pod spec"


def _host_paths_and_ports(props, args):
    spec = pod_spec(args.resource_type, props)
    paths = [get(v, "hostPath.path") for v in as_list(spec.get("volumes")) if get(v, "hostPath")]
    if paths:
        yield f"remove the hostPath volumes {paths}: use emptyDir, a ConfigMap or a PersistentVolumeClaim"
    for container in _containers(args.resource_type, props):
        ports = [get(p, "hostPort") for p in as_list(container.get("ports")) if get(p, "hostPort")]
        if ports:
            yield f"container {container.get('name')!r}: remove hostPort {[int(float(p)) for p in ports]} (reach it through a Service)"


def _secrets_not_in_env(container, _pod):
    names = [get(e, "name") for e in as_list(container.get("env")) if get(e, "valueFrom.secretKeyRef")]
    names += [get(e, "secretRef.name") for e in as_list(container.get("envFrom")) if get(e, "secretRef")]
    if names:
        yield f"secrets {names} reach the environment (logged by crash dumps, inherited by children): mount them as files"


TOKEN_CONFIG = {"exemptions": {
    "type": "object", "additionalProperties": {"type": "string", "minLength": 10}, "default": {},
    "description": "'<namespace>/<name>' of a workload or ServiceAccount -> why its pods call the Kubernetes API"}}


def _no_token(props, args):
    """Pods get no Kubernetes API token unless they call the API. IRSA and the Istio sidecar are unaffected:
    EKS's pod identity webhook adds its own projected `aws-iam-token` volume and the sidecar injector its
    `istio-token` volume (https://docs.aws.amazon.com/eks/latest/userguide/pod-configuration.html,
    https://istio.io/latest/docs/ops/best-practices/security/#configure-third-party-service-account-tokens)."""
    provider_props = args.provider.props if args.provider is not None else None
    who = f"{namespace_of(props, provider_props)}/{get(props, 'metadata.name')}"
    if who in setting(args, TOKEN_CONFIG, "exemptions"):
        return
    if args.resource_type == SERVICE_ACCOUNT:
        if props.get("automountServiceAccountToken") is not False:
            yield ("set automountServiceAccountToken = false on the ServiceAccount (a pod that calls the API opts in "
                   "with a projected token, exempted by name in the policy config)")
    elif pod_spec(args.resource_type, props).get("automountServiceAccountToken") is not False:
        yield "set the pod spec's automountServiceAccountToken = false: the pods never call the Kubernetes API"


def namespace_of(props, provider_props) -> str:
    """The namespace an object lands in: its own, else its provider's default, else "default"."""
    return str(get(props, "metadata.namespace") or get(provider_props or {}, "namespace") or "default")


def _not_default(props, args):
    provider_props = args.provider.props if args.provider is not None else None
    if namespace_of(props, provider_props) == "default":
        yield "set metadata.namespace to the workload's own namespace (not default)"


def _is_serving(resource) -> bool:
    return get(resource.props, "metadata.namespace") == serving_contract.SERVING_NAMESPACE


def _autoscaler_and_pdb(args):
    """Each serving Deployment has an autoscaler (an HPA, or a KEDA ScaledObject that makes one) targeting
    it and a PDB selecting its pods."""
    resources = args.resources
    for deployment in (r for r in resources if r.resource_type == DEPLOYMENT and _is_serving(r)):
        name = get(deployment.props, "metadata.name")
        pod_labels = get(deployment.props, "spec.template.metadata.labels", {}) or {}
        scaled = any(r.resource_type in AUTOSCALERS and _is_serving(r)
                     and (get(r.props, "spec.scaleTargetRef.kind") or "Deployment") == "Deployment"
                     and get(r.props, "spec.scaleTargetRef.name") == name for r in resources)
        protected = any(
            r.resource_type == PDB and _is_serving(r) and (selector := get(r.props, "spec.selector.matchLabels"))
            and all(pod_labels.get(k) == v for k, v in selector.items()) for r in resources)
        if not scaled:
            yield (f"serving Deployment {name} has no HorizontalPodAutoscaler or KEDA ScaledObject: add one with "
                   f"scaleTargetRef {name}"), deployment.urn
        if not protected:
            yield (f"serving Deployment {name} has no PodDisruptionBudget selecting its pods: add one "
                   "(maxUnavailable: 1) so node drains keep it serving"), deployment.urn


RULES = [
    resource_rule("k8s-requests-and-limits",
                  "Containers set CPU and memory requests and a memory limit (Checkov CKV_K8S_10, CKV_K8S_12, CKV_K8S_13).",
                  WORKLOADS, _per_container(_resources)),
    resource_rule("k8s-liveness-readiness-probes", "Containers have liveness and readiness probes (Checkov CKV_K8S_8, CKV_K8S_9).",
                  WORKLOADS, _per_container(_probes, with_init=False)),
    resource_rule("pss-run-as-non-root",
                  "Containers run as non-root with a UID of 10000 or more (Pod Security Standards restricted: "
                  "runAsNonRoot; Checkov CKV_K8S_40).",
                  WORKLOADS, _per_container(_non_root)),
    resource_rule("k8s-read-only-root-filesystem", "Containers have a read-only root filesystem (Checkov CKV_K8S_22).",
                  WORKLOADS, _per_container(_read_only_root)),
    resource_rule("pss-no-privilege-escalation",
                  "Containers are unprivileged and cannot escalate (Pod Security Standards restricted: allowPrivilegeEscalation).",
                  WORKLOADS, _per_container(_no_escalation)),
    resource_rule("pss-capabilities-dropped",
                  "Containers drop ALL capabilities (Pod Security Standards restricted: capabilities).",
                  WORKLOADS, _per_container(_capabilities)),
    resource_rule("pss-seccomp-runtime-default",
                  "Pods use the RuntimeDefault seccomp profile (Pod Security Standards restricted: seccomp).",
                  WORKLOADS, _per_container(_seccomp)),
    resource_rule("pss-no-host-namespaces",
                  "Pods share no host network, PID or IPC namespace (Pod Security Standards baseline: host namespaces).",
                  WORKLOADS, _host_namespaces),
    resource_rule("pss-no-host-path-or-port",
                  "Pods mount no hostPath volume and bind no host port (Pod Security Standards baseline: "
                  "HostPath volumes, host ports; Checkov CKV_K8S_26, CKV_K8S_27).",
                  WORKLOADS, _host_paths_and_ports),
    resource_rule("k8s-no-service-account-token",
                  "Pods and ServiceAccounts do not mount a Kubernetes API token unless exempted by name "
                  "(Checkov CKV_K8S_38, CKV_K8S_41).",
                  [*WORKLOADS, SERVICE_ACCOUNT], _no_token, config=TOKEN_CONFIG),
    resource_rule("k8s-secrets-not-in-env", "Secrets reach containers as files, not environment variables (Checkov CKV_K8S_35).",
                  WORKLOADS, _per_container(_secrets_not_in_env)),
    resource_rule("k8s-image-by-digest", "Container images are pinned by digest (Checkov CKV_K8S_43).",
                  WORKLOADS, _per_container(_digest)),
    resource_rule("k8s-not-default-namespace",
                  "Workloads and the objects beside them do not live in the default namespace (Checkov CKV_K8S_21).",
                  NAMESPACED, _not_default),
    stack_rule("serving-autoscaler-and-pdb",
               "Serving Deployments have an autoscaler (HPA or KEDA ScaledObject) and a PodDisruptionBudget "
               "(EKS best practices, reliability: applications).",
               _autoscaler_and_pdb),
]
