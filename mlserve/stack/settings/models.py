"""Which model versions serve, and how traffic is split between them: one meaning for both targets.

`models` names the versions (`stable`, optional `canary`); `rollout` holds the canary weight,
the QA header route and the mirror. EKS (`components/serving.py`, `components/mesh.py`) and
SageMaker (`components/sagemaker.py`) read the same two sections, so a canary at weight 10
means the same thing on both targets. What only one target has (replicas and pool on EKS,
instance types on SageMaker) lives in that target's own section.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from typing import Literal

from pydantic import Field, field_validator

from mlserve.stack.settings.base import NAMESPACE, _Model
from mlserve.stack.settings.delivery import Analysis

# "fraud-model/3": a version in the stack's model store (s3://<store>/models/<name>/<version>/).
_STORE_REF = re.compile(r"^(?P<name>[a-z0-9][a-z0-9-]{0,62})/(?P<version>[A-Za-z0-9][A-Za-z0-9._-]{0,63})$")
# "./build/demo-model": an artifact directory in this repository, uploaded by the stack (dev).
_LOCAL_PREFIX = "./"


@dataclass(frozen=True)
class ModelRef:
    """A parsed model reference: a store version (`name` and `version`) or a local directory."""

    text: str
    name: str | None = None
    version: str | None = None
    local_path: str | None = None

    @property
    def is_local(self) -> bool:
        return self.local_path is not None


def parse_model_ref(text: str) -> ModelRef:
    """"fraud-model/3" -> store version; "./build/demo-model" -> local artifact directory."""
    if text.startswith(_LOCAL_PREFIX):
        if ".." in text.split("/"):
            raise ValueError(f"{text!r}: a local model directory must stay inside the repository (no '..')")
        return ModelRef(text=text, local_path=text[len(_LOCAL_PREFIX):].rstrip("/") or ".")
    match = _STORE_REF.fullmatch(text)
    if match is None:
        raise ValueError(
            f"{text!r} is neither a store version 'name/version' (name: lower-case letters, digits, '-'; "
            "e.g. 'fraud-model/3') nor a local artifact directory starting with './'"
        )
    return ModelRef(text=text, name=match["name"], version=match["version"])


class Models(_Model):
    """The model versions that serve. `stable` takes the traffic the canary does not."""

    stable: str
    """The version that serves: `name/version` in the model store (`fraud-model/3`, published with
    `python -m mlserve.models publish`), or `./dir`, a local artifact directory the stack checks and
    uploads as version `local-<digest>` (dev: the demo model). Required with `sagemaker`."""
    canary: str | None = None
    """A second version, same forms, different from `stable`; `rollout` sends it traffic."""

    @field_validator("stable", "canary")
    @classmethod
    def _ref(cls, text: str | None) -> str | None:
        """`name/version` (name: lower-case letters, digits, `-`) or `./dir` inside the repository"""
        if text is not None:
            parse_model_ref(text)
        return text

    @property
    def stable_ref(self) -> ModelRef:
        return parse_model_ref(self.stable)

    @property
    def canary_ref(self) -> ModelRef | None:
        return parse_model_ref(self.canary) if self.canary else None

    def served(self) -> dict[str, ModelRef]:
        """The tracks that serve, stable first: {"stable": ref} or {"stable": ref, "canary": ref}.
        The one answer the model store and both serving targets read."""
        refs = {"stable": self.stable_ref}
        if self.canary_ref is not None:
            refs["canary"] = self.canary_ref
        return refs


class Rollout(_Model):
    """How a new version reaches traffic.

    `mode: manual` (the default): `models.canary` runs beside `models.stable` and gets `canaryWeight`
    percent of requests, on both targets, until someone edits the weight and runs `pulumi up`.
    `mode: automatic` (EKS): change `models.stable` (or the image) and Flagger shifts traffic to the new
    version step by step while `analysis` holds, promoting or rolling back by itself; there is no
    `models.canary` and no weight to set (Flagger owns both). SageMaker rolls every new version out
    through its deployment guardrails in either mode. docs/progressive-delivery.md says which to pick."""

    mode: Literal["manual", "automatic"] = "manual"
    """Default manual. automatic installs Flagger and declares a Canary instead of the weighted routes."""
    analysis: Analysis = Field(default_factory=Analysis)
    """What Flagger checks and how fast it moves (`mode: automatic` only)."""
    canary_weight: int = Field(default=0, ge=0, le=100)
    """Percent of requests routed to the canary; stable gets the rest. Above 0 needs `models.canary`."""
    canary_header_route: bool = False
    """Requests with header `x-mlserve-canary: always` go to the canary whatever the weight (QA).
    Needs `models.canary`."""
    mirror_percent: float = Field(default=0, ge=0, le=100)
    """Percent of stable's requests copied to the canary, answers discarded (shadow testing). Needs
    `models.canary`."""


def model_problems(models: Models | None, rollout: Rollout) -> list[str]:
    """Rules across `models` and `rollout`, each naming the stack-file key."""
    problems = []
    has_canary = models is not None and models.canary is not None
    if rollout.mode == "automatic":
        if has_canary:
            problems.append(f"{NAMESPACE}:models.canary = {models.canary!r}: rollout.mode automatic runs the canary itself "
                            "(Flagger); put the new version in models.stable and remove models.canary")
        problems += [f"{NAMESPACE}:rollout.{key} = {value!r}: rollout.mode automatic moves the weight itself "
                     "(rollout.analysis.stepWeight/maxWeight); remove this key" for key, value in _canary_keys_set(rollout)]
        return problems
    if rollout.analysis != Analysis():
        problems.append(f"{NAMESPACE}:rollout.analysis: used only with rollout.mode automatic; set mode: automatic "
                        "or remove rollout.analysis")
    if models is not None and models.canary is not None and models.canary == models.stable:
        problems.append(f"{NAMESPACE}:models.canary = {models.canary!r}: identical to models.stable; "
                        "name another version or remove the canary")
    if not has_canary:
        problems += [f"{NAMESPACE}:rollout.{key} = {value!r}: there is no models.canary to send it to; "
                     "set models.canary or remove this key" for key, value in _canary_keys_set(rollout)]
    return problems


def _canary_keys_set(rollout: Rollout) -> list[tuple[str, object]]:
    """The manual canary's keys (weight, header route, mirror) that `rollout` sets away from their defaults."""
    return [(key, value) for key, value, default in (("canaryWeight", rollout.canary_weight, 0),
                                                     ("canaryHeaderRoute", rollout.canary_header_route, False),
                                                     ("mirrorPercent", rollout.mirror_percent, 0))
            if value != default]
