"""Strict checks of Istio objects against the pinned Istio version's CRD schemas (test helper).

The CRDs of the kinds mlserve declares are vendored unmodified under tests/data/istio-<version>/.
Kubernetes prunes unknown fields of a structural schema silently; here every object schema that
lists its properties (and does not preserve unknown fields) is closed, so a misspelled field
(`subset` as `subsets`, `weigth`) fails as it would in kubernetes-validate's strict mode.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from components.mesh_charts import ISTIO_VERSION

CRDS = Path(__file__).resolve().parent / "data" / f"istio-{ISTIO_VERSION}" / "crds.yaml"


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
def _schemas() -> dict[tuple[str, str], dict[str, Any]]:
    schemas = {}
    for crd in yaml.safe_load_all(CRDS.read_text()):
        if not crd:
            continue
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if version.get("served"):
                schemas[(f"{group}/{version['name']}", kind)] = _closed(version["schema"]["openAPIV3Schema"])
    return schemas


def validate_istio(manifest: dict[str, Any]) -> None:
    """Raise AssertionError naming the object and the field unless it matches its CRD schema."""
    key = (manifest.get("apiVersion", ""), manifest.get("kind", ""))
    what = f"{key[1]} {manifest.get('metadata', {}).get('name')!r}"
    if key not in _schemas():
        raise AssertionError(f"{what}: no Istio {ISTIO_VERSION} CRD serves {key[0]} {key[1]}")
    body = {k: v for k, v in manifest.items() if k not in ("apiVersion", "kind", "metadata")}
    try:
        jsonschema.validate(body, _schemas()[key])
    except jsonschema.ValidationError as error:
        path = ".".join(str(p) for p in error.absolute_path) or "<root>"
        raise AssertionError(f"{what} is not a valid Istio {ISTIO_VERSION} object: at {path}: {error.message}") from None
