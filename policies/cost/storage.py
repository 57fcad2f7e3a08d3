"""Storage and keys: S3 buckets and ECR repositories (assumed sizes), KMS keys and requests, and the EBS
volumes Kubernetes claims (PersistentVolumeClaims, StatefulSet claim templates, and the claims Helm
charts render from their values)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Iterable, Iterator

from policies.cost.model import Line, Pricing
from policies.props import as_list, get

EBS_CSI = "ebs.csi.aws.com"
_QUANTITY = re.compile(r"^\s*([0-9.]+)\s*([KMGTP]i?)?\s*$")
_GIB = {None: 2**-30, "K": 1e3 / 2**30, "Ki": 2**-20, "M": 1e6 / 2**30, "Mi": 2**-10, "G": 1e9 / 2**30, "Gi": 1.0,
        "T": 1e12 / 2**30, "Ti": 2**10, "P": 1e15 / 2**30, "Pi": 2**20}


def gib(quantity: Any) -> float | None:
    """A Kubernetes storage quantity ("50Gi", "10G", "1Ti") in whole GiB as the EBS CSI driver provisions
    it (rounded up); None when it is not a quantity."""
    match = _QUANTITY.match(str(quantity)) if quantity is not None else None
    return float(math.ceil(float(match.group(1)) * _GIB[match.group(2)])) if match else None


def buckets_registries_keys(ctx: Pricing) -> Iterable[Line]:
    """S3 buckets and ECR repositories at the assumed sizes; KMS keys per month and the assumed requests."""
    usage = ctx.usage
    buckets = len(ctx.of_type("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"))
    price = ctx.service("s3_standard_gb_month", "S3 buckets") if buckets else None
    if price is not None:
        cost = buckets * usage.bucket_gb * price
        yield Line("storage", "S3 buckets", f"{buckets} x {usage.bucket_gb:g} GB", cost, cost)
    repositories = len(ctx.of_type("aws:ecr/repository:Repository"))
    price = ctx.service("ecr_gb_month", "ECR repositories") if repositories else None
    if price is not None:
        cost = repositories * usage.repository_gb * price
        yield Line("storage", "ECR repositories", f"{repositories} x {usage.repository_gb:g} GB", cost, cost)
    keys = len(ctx.of_type("aws:kms/key:Key"))
    if not keys:
        return
    key_month, requests = ctx.service("kms_key_month", "KMS keys"), ctx.service("kms_requests_10k", "KMS requests")
    if key_month is not None:
        yield Line("storage", "KMS keys", f"{keys} keys", keys * key_month, keys * key_month)
    if requests is not None:
        cost = usage.kms_requests_per_month / 10_000 * requests
        yield Line("storage", "KMS requests", f"{usage.kms_requests_per_month:,.0f} requests a month", cost, cost)


def _chart_claims(values: Any, replicas: float = 1.0) -> Iterator[tuple[float, Any]]:
    """(GiB x replicas, storage class) of the claims a chart's values ask for: any `volumeClaimTemplate`
    (kube-prometheus-stack's storageSpec, Alertmanager's storage) counted `replicas` times when a sibling
    `replicas` says so, and any enabled `persistence: {size}` block (Grafana, Loki and most Bitnami charts)."""
    if isinstance(values, Mapping):
        here = float(values.get("replicas") or replicas) if isinstance(values.get("replicas"), (int, float)) else replicas
        template = values.get("volumeClaimTemplate")
        size = gib(get(template, "spec.resources.requests.storage")) if isinstance(template, Mapping) else None
        if size:
            yield size * here, get(template, "spec.storageClassName")
        persistence = values.get("persistence")
        if isinstance(persistence, Mapping) and persistence.get("enabled") is True and gib(persistence.get("size")):
            yield gib(persistence.get("size")) * here, persistence.get("storageClassName")  # type: ignore[operator]
        for key, child in values.items():
            if key not in ("volumeClaimTemplate", "persistence"):
                yield from _chart_claims(child, here)
    elif isinstance(values, (list, tuple)):
        for child in values:
            yield from _chart_claims(child, replicas)


def _claims(ctx: Pricing) -> Iterator[tuple[str, float, Any]]:
    """(source, GiB, storage class name) of every volume claim the plan shows."""
    for claim in ctx.of_type("kubernetes:core/v1:PersistentVolumeClaim"):
        size = gib(get(claim.props, "spec.resources.requests.storage"))
        if size:
            yield f"PVC {claim.name}", size, get(claim.props, "spec.storageClassName")
    for statefulset in ctx.of_type("kubernetes:apps/v1:StatefulSet"):
        replicas = float(get(statefulset.props, "spec.replicas", 1) or 1)
        for template in as_list(get(statefulset.props, "spec.volumeClaimTemplates")):
            size = gib(get(template, "spec.resources.requests.storage"))
            if size:
                yield f"StatefulSet {statefulset.name}", size * replicas, get(template, "spec.storageClassName")
    for release in ctx.of_type("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart"):
        for size, storage_class in _chart_claims(release.props.get("values")):
            yield f"Helm release {release.name}", size, storage_class


def _volume_type(ctx: Pricing, class_name: Any) -> tuple[str | None, str]:
    """(EBS volume type or None when not EBS, how it was decided) of a storage class name."""
    for storage_class in ctx.of_type("kubernetes:storage.k8s.io/v1:StorageClass"):
        if get(storage_class.props, "metadata.name") == class_name or (
                class_name is None and get(storage_class.props, "metadata.annotations", {}).get(
                    "storageclass.kubernetes.io/is-default-class") == "true"):
            if storage_class.props.get("provisioner") not in (EBS_CSI, "kubernetes.io/aws-ebs"):
                return None, f"class {class_name} is {storage_class.props.get('provisioner')}"
            return str(get(storage_class.props, "parameters.type") or "gp3"), "declared class"  # the EBS CSI driver's default type
    if class_name is not None and "gp2" in str(class_name):
        return "gp2", "class name"
    return "gp3", "assumed gp3 (class not in the plan)"


def kubernetes_volumes(ctx: Pricing) -> Iterable[Line]:
    """EBS volumes behind volume claims, by type (gp3 unless the plan's StorageClass or the class name says gp2)."""
    by_type: dict[str, list[float]] = {}
    sources: dict[str, set[str]] = {}
    for source, size, class_name in _claims(ctx):
        kind, why = _volume_type(ctx, class_name)
        if kind not in ("gp3", "gp2"):
            ctx.unpriced.append(f"volume claim of {source} ({why}, volume type {kind})")
            continue
        by_type.setdefault(kind, [0.0, 0.0])[0] += size
        by_type[kind][1] += 1
        sources.setdefault(kind, set()).add(why)
    for kind, (total, count) in sorted(by_type.items()):
        price = ctx.service(f"ebs_{kind}_gb_month", f"EBS {kind} volumes")
        if price is not None:
            yield Line("storage", f"EBS {kind} volumes (Kubernetes claims)",
                       f"{count:g} claim(s), {total:g} GiB ({', '.join(sorted(sources[kind]))})", total * price, total * price)
