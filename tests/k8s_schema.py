"""Strict schema checks for the Kubernetes objects the stack declares (test helper).

`validate_manifest` runs kubernetes-validate against the strict schemas of one exact
Kubernetes minor: strict means `additionalProperties: false`, so a misspelled field
(`spec.replica`, `metadata.label`) fails here instead of being dropped by the API server
(client-side apply prunes unknown fields; server-side apply only warns).
https://github.com/willthames/kubernetes-validate

kubernetes-validate itself silently falls back to an older schema when the requested
version is missing and only warns when a kind has no schema; both would turn a check into
a pass, so here both raise.
"""

from __future__ import annotations

import re
from typing import Any

import kubernetes_validate
from kubernetes_validate import utils as kv_utils


class ManifestInvalid(AssertionError):
    """A manifest failed its schema; the message names the object, field path and reason."""


def _schema_version(kubernetes_version: str) -> str:
    """"1.34" (or "v1.34", "1.34.2") -> "1.34.0", the one schema set that minor is checked against."""
    match = re.fullmatch(r"v?(\d+)\.(\d+)(?:\.\d+)?", kubernetes_version)
    if not match:
        raise ValueError(f"kubernetes_version {kubernetes_version!r} is not a version such as '1.34'")
    version = f"{match.group(1)}.{match.group(2)}.0"
    if version not in kv_utils.all_versions():
        raise ValueError(
            f"kubernetes-validate {kubernetes_validate.__version__} has no schemas for Kubernetes "
            f"{kubernetes_version}; it has {kv_utils.all_versions()[0]} .. {kv_utils.latest_version()}"
        )
    return version


def validate_manifest(manifest: dict[str, Any], kubernetes_version: str) -> None:
    """Validate one Kubernetes object strictly against the schemas of `kubernetes_version`.

    Raises ManifestInvalid (an AssertionError, so pytest shows it as a failed check) naming
    the object, the field path and the reason; ValueError for a version without schemas.
    """
    version = _schema_version(kubernetes_version)
    what = f"{manifest.get('kind', '<no kind>')} {manifest.get('metadata', {}).get('name', '<no name>')!r}"
    try:
        kubernetes_validate.validate(manifest, version, strict=True)
    except kv_utils.ValidationError as error:
        path = ".".join(str(part) for part in error.absolute_path) or "<root>"
        raise ManifestInvalid(
            f"{what} is not a valid object for Kubernetes {version} (strict): at {path}: {error.message}"
        ) from None
    except kv_utils.SchemaNotFoundError as error:
        raise ManifestInvalid(f"{what}: {error.message}") from None
    except KeyError as error:  # no apiVersion or kind at all
        raise ManifestInvalid(f"{what} has no {error.args[0]!r}: not a Kubernetes object") from None


def _integral(value: Any) -> Any:
    """The engine records every number as a float; Kubernetes integer fields want 2, not 2.0."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _integral(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral(item) for item in value]
    return value


def manifest_from_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    """The object a recorded pulumi-kubernetes resource will send: apiVersion, kind, metadata
    and whichever body fields the kind has (spec, data, rules, ...), numbers made integral."""
    manifest = {key: value for key, value in inputs.items() if not key.startswith("__")}
    return _integral(manifest)
