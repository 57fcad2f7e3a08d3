"""Where the checks find what to check: the stack outputs file (`pulumi stack output --json`),
or flags; and the model's sample rows (an artifact directory's sample.json, local or s3://)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlserve.checks import CheckError, ExitCode
from mlserve.checks.aws import call

SAMPLE_FILE = "sample.json"  # serving_app/models/artifact.py


def read_outputs(path: str | None) -> dict[str, Any]:
    """The stack's outputs as `pulumi stack output --json > outputs.json` writes them; {} without a path."""
    if path is None:
        return {}
    try:
        outputs = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise CheckError(ExitCode.USAGE, f"--stack-outputs {path}: not a readable JSON file ({error})") from None
    if not isinstance(outputs, dict):
        raise CheckError(ExitCode.USAGE, f"--stack-outputs {path}: expected a JSON object of outputs")
    return outputs


def pick(flag_value: Any, outputs: dict[str, Any], key: str, flag: str) -> Any:
    """A flag's value, else the stack output `key`; a clear error naming both when neither is there."""
    if flag_value is not None:
        return flag_value
    if key in outputs:
        return outputs[key]
    raise CheckError(ExitCode.USAGE, f"need {flag}, or --stack-outputs with the output {key!r}")


def sample_rows(source: str, *, s3_client_factory=None) -> list[list[float]]:
    """Rows from `sample.json` ({"rows": [[...]]}): a file, an artifact directory, or an s3:// artifact prefix."""
    if source.startswith("s3://"):
        bucket, _, prefix = source[len("s3://"):].partition("/")
        key = prefix if prefix.endswith(".json") else prefix.rstrip("/") + "/" + SAMPLE_FILE
        import boto3

        s3 = s3_client_factory() if s3_client_factory else boto3.client("s3")
        body = call(f"s3://{bucket}/{key}", s3.get_object, Bucket=bucket, Key=key)["Body"].read()
        text, where = body.decode(), f"s3://{bucket}/{key}"
    else:
        path = Path(source)
        path = path / SAMPLE_FILE if path.is_dir() else path
        try:
            text, where = path.read_text(), str(path)
        except OSError as error:
            raise CheckError(ExitCode.USAGE, f"--sample {source}: cannot read {path} ({error.strerror})") from None
    try:
        rows = json.loads(text)["rows"]
    except (ValueError, KeyError, TypeError):
        raise CheckError(ExitCode.USAGE, f"--sample {where}: expected {{\"rows\": [[numbers, ...], ...]}}") from None
    if not isinstance(rows, list) or not rows or not all(isinstance(r, list) and r for r in rows):
        raise CheckError(ExitCode.USAGE, f"--sample {where}: 'rows' must be a non-empty list of non-empty rows")
    return rows
