"""Strict checks of custom resources against the pinned CRD schemas of every operator the stack
installs (test helper): Istio, the Prometheus Operator (kube-prometheus-stack), Flagger and KEDA.

The CRDs are vendored unmodified under tests/data/ (each folder with its LICENSE), at the versions the
components pin. Kubernetes prunes unknown fields of a structural schema silently; here every object
schema that lists its properties (and does not preserve unknown fields) is closed, so a misspelled
field fails as it would in kubernetes-validate's strict mode. tests/istio_schema.py is the Istio view.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from components import flagger, keda, prometheus_values
from components.mesh_charts import ISTIO_VERSION

DATA = Path(__file__).resolve().parent / "data"
CRD_FILES = {
    f"Istio {ISTIO_VERSION}": [DATA / f"istio-{ISTIO_VERSION}" / "crds.yaml"],
    f"Prometheus Operator {prometheus_values.OPERATOR_VERSION}": sorted(
        (DATA / f"prometheus-operator-{prometheus_values.OPERATOR_VERSION.lstrip('v')}").glob("crd-*.yaml")),
    f"Flagger {flagger.CHART_VERSION}": [DATA / f"flagger-{flagger.CHART_VERSION}" / "crd.yaml"],
    f"KEDA {keda.CHART_VERSION}": sorted((DATA / f"keda-{keda.CHART_VERSION}").glob("keda.sh_*.yaml")),
}
"""Where each pinned operator's CRDs are (a test checks every file exists and holds CRDs)."""


def _closed(schema: Any) -> Any:
    if isinstance(schema, dict):
        schema = {key: _closed(value) for key, value in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema \
                and not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    return schema


@functools.cache
def schemas() -> dict[tuple[str, str], tuple[str, dict[str, Any]]]:
    """(apiVersion, kind) -> (which operator, closed schema) for every served version."""
    found = {}
    for operator, files in CRD_FILES.items():
        for path in files:
            for crd in yaml.safe_load_all(path.read_text()):
                if not crd or crd.get("kind") != "CustomResourceDefinition":
                    continue
                group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
                for version in crd["spec"]["versions"]:
                    if version.get("served"):
                        found[(f"{group}/{version['name']}", kind)] = (
                            operator, _closed(version["schema"]["openAPIV3Schema"]))
    return found


def is_custom(api_version: str, kind: str) -> bool:
    return (api_version, kind) in schemas()


def validate_custom(manifest: dict[str, Any]) -> None:
    """Raise AssertionError naming the object and the field unless it matches its pinned CRD schema."""
    key = (manifest.get("apiVersion", ""), manifest.get("kind", ""))
    what = f"{key[1]} {manifest.get('metadata', {}).get('name')!r}"
    if key not in schemas():
        raise AssertionError(f"{what}: no vendored CRD serves {key[0]} {key[1]} ({', '.join(CRD_FILES)})")
    operator, schema = schemas()[key]
    body = {k: v for k, v in manifest.items() if k not in ("apiVersion", "kind", "metadata")}
    try:
        jsonschema.validate(body, schema)
    except jsonschema.ValidationError as error:
        path = ".".join(str(p) for p in error.absolute_path) or "<root>"
        raise AssertionError(f"{what} is not a valid {operator} object: at {path}: {error.message}") from None
