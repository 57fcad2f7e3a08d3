"""smoke: the model's sample rows through the deployed target; one prediction per row, from the
expected version, or a WRONG_ANSWER."""

from __future__ import annotations

import json
from typing import Any

import httpx

from mlserve.checks import CheckError, ExitCode
from mlserve.checks.aws import Clients, call

CANARY_HEADER = "x-mlserve-canary"  # components/serving_contract.py


def check_answer(predictions: Any, *, rows: int, version: str | None, expected_version: str | None, where: str) -> str:
    """The shape and version rules both targets share; returns the one-line success message."""
    if not isinstance(predictions, list) or len(predictions) != rows:
        got = len(predictions) if isinstance(predictions, list) else type(predictions).__name__
        raise CheckError(ExitCode.WRONG_ANSWER, f"{where}: expected {rows} predictions (one per sample row), got {got}")
    if expected_version is not None and version != expected_version:
        raise CheckError(ExitCode.WRONG_ANSWER, f"{where}: answered by model version {version!r}, expected {expected_version!r}")
    return f"{where}: {rows} predictions from model version {version}"


def _attributes(text: str) -> dict[str, str]:
    """"model_name=fraud-model,model_version=3" -> dict (serving_app/protocols/sagemaker.py)."""
    return dict(part.split("=", 1) for part in text.split(",") if "=" in part)


def smoke_sagemaker(clients: Clients, *, endpoint: str, variant: str, rows: list[list[float]],
                    expected_version: str | None) -> str:
    described = call(f"endpoint {endpoint}", clients.sagemaker.describe_endpoint, EndpointName=endpoint)
    if described["EndpointStatus"] != "InService":
        raise CheckError(ExitCode.NOT_READY, f"endpoint {endpoint} is {described['EndpointStatus']}, not InService")
    variants = [v["VariantName"] for v in described.get("ProductionVariants", [])]
    if variant not in variants:
        raise CheckError(ExitCode.NOT_FOUND, f"endpoint {endpoint} has no variant {variant!r} (variants: {variants})")
    where = f"endpoint {endpoint} variant {variant}"
    answer = call(where, clients.runtime.invoke_endpoint, EndpointName=endpoint, TargetVariant=variant,
                  ContentType="application/json", Accept="application/json",
                  Body=json.dumps({"instances": rows}).encode())
    if answer.get("InvokedProductionVariant") != variant:
        raise CheckError(ExitCode.WRONG_ANSWER, f"{where}: answered by variant {answer.get('InvokedProductionVariant')!r}")
    try:
        predictions = json.loads(answer["Body"].read())["predictions"]
    except (ValueError, KeyError, TypeError):
        raise CheckError(ExitCode.WRONG_ANSWER, f"{where}: the answer is not {{\"predictions\": [...]}}") from None
    version = _attributes(answer.get("CustomAttributes", "")).get("model_version")
    return check_answer(predictions, rows=len(rows), version=version, expected_version=expected_version, where=where)


def smoke_eks(url: str, *, track: str, rows: list[list[float]], expected_version: str | None,
              timeout_s: float = 10.0, verify: bool | str = True) -> str:
    """POST /predict through the ingress; the canary is reached with the mesh's QA header."""
    headers = {CANARY_HEADER: "always"} if track == "canary" else {}
    where = f"{url.rstrip('/')}/predict ({track})"
    try:
        response = httpx.post(f"{url.rstrip('/')}/predict", json={"instances": rows}, headers=headers,
                              timeout=timeout_s, verify=verify)
    except httpx.TransportError as error:
        raise CheckError(ExitCode.UNREACHABLE, f"{where}: no answer ({type(error).__name__}: {error})") from None
    if response.status_code != 200:
        raise CheckError(ExitCode.WRONG_ANSWER, f"{where}: HTTP {response.status_code}: {response.text[:200]}")
    try:
        body = response.json()
        predictions, version = body["predictions"], str(body["model"]["version"])
    except (ValueError, KeyError, TypeError):
        raise CheckError(ExitCode.WRONG_ANSWER, f"{where}: the answer is not {{\"predictions\": [...], \"model\": {{...}}}}") from None
    return check_answer(predictions, rows=len(rows), version=version, expected_version=expected_version, where=where)
