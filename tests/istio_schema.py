"""Strict checks of Istio objects against the pinned Istio version's CRD schemas (test helper): the
Istio view of tests/crd_schema.py, which holds every vendored operator's CRDs (Istio's under
tests/data/istio-<version>/) and closes their object schemas, so a misspelled field (`subset` as
`subsets`, `weigth`) fails as it would in kubernetes-validate's strict mode.
"""

from __future__ import annotations

from typing import Any

from components.mesh_charts import ISTIO_VERSION
from tests.crd_schema import schemas, validate_custom


def validate_istio(manifest: dict[str, Any]) -> None:
    """Raise AssertionError naming the object and the field unless it matches its Istio CRD schema."""
    key = (manifest.get("apiVersion", ""), manifest.get("kind", ""))
    if key not in schemas() or not schemas()[key][0].startswith("Istio"):
        raise AssertionError(f"{key[1]} {manifest.get('metadata', {}).get('name')!r}: no Istio {ISTIO_VERSION} CRD "
                             f"serves {key[0]} {key[1]}")
    validate_custom(manifest)
