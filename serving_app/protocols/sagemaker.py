"""The SageMaker hosting contract: GET /ping and POST /invocations on port 8080.

https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-inference-code.html
/ping must answer 200 only when the container can serve (SageMaker waits for it before
sending traffic, and stops sending to an instance that answers anything else).

/invocations reads application/json (`{"instances": [...]}` or a bare list of rows, each a list of
numbers or an object keyed by feature name), application/jsonlines (one row per line, see
jsonlines.py) or text/csv (one row per line, no header, as SageMaker Batch Transform splits files),
and answers in the Accept type: application/json (default) `{"predictions": [...]}`,
application/jsonlines or text/csv with one line per row. Every answer names the model in the
`X-Amzn-SageMaker-Custom-Attributes` header (`model_name=<name>,model_version=<version>`), which
InvokeEndpoint hands back as `CustomAttributes`: post-deploy checks read which version answered.
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html#API_runtime_InvokeEndpoint_ResponseSyntax
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from serving_app.dataplane import DataPlane
from serving_app.errors import InvalidInput, NotAcceptable, NotReady, UnsupportedMediaType
from serving_app.protocols import jsonlines
from serving_app.protocols.common import Request, Response, Route, json_response, parse_json

CSV = b"text/csv"
CUSTOM_ATTRIBUTES = b"x-amzn-sagemaker-custom-attributes"
_JSON_TYPES = ("", "application/json")
_ANY = ("", "*/*", "application/*")
_PRODUCED = {"application/json": "json", "text/csv": "csv", jsonlines.MEDIA_TYPE: "jsonlines"}


class SageMakerProtocol:
    """/ping and /invocations over a data plane."""

    def __init__(self, plane: DataPlane) -> None:
        self.plane = plane
        model = f"model_name={plane.metadata.name},model_version={plane.metadata.version}"
        self._headers = [(CUSTOM_ATTRIBUTES, model.encode())]

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/ping", self.ping),
            Route("POST", "/invocations", self.invocations, reads_body=True),
        ]

    async def ping(self, request: Request) -> Response:
        if not self.plane.ready:
            raise NotReady(self.plane.not_ready_reason())
        return Response(200, b"", b"text/plain")

    async def invocations(self, request: Request) -> Response:
        answer_as = self._answer_format(request.accept)
        content_type = request.content_type
        if content_type == "text/csv":
            rows = parse_csv(request.body, self.plane.n_features)
        elif content_type in _JSON_TYPES:
            payload = parse_json(request.body)
            rows = payload.get("instances") if type(payload) is dict else payload
            if rows is None:
                raise InvalidInput('expected {"instances": [[...], ...]} or a list of rows')
        elif content_type == jsonlines.MEDIA_TYPE:
            rows = jsonlines.parse_jsonlines(request.body)
        else:
            raise UnsupportedMediaType(f"Content-Type {content_type!r} is not supported; "
                                       "send application/json, application/jsonlines or text/csv")
        outputs = await self.plane.predict(rows)
        predictions = outputs[self.plane.primary_output]
        if answer_as == "csv":
            return Response(200, to_csv(predictions), CSV, self._headers)
        if answer_as == "jsonlines":
            return Response(200, jsonlines.to_jsonlines(predictions), jsonlines.MEDIA_TYPE_BYTES, self._headers)
        return json_response({"predictions": predictions}, headers=self._headers)

    @staticmethod
    def _answer_format(accept: str) -> str:
        """"json", "csv" or "jsonlines": the first type in Accept that this route produces."""
        if accept in _ANY:
            return "json"
        produced = _PRODUCED.get(accept)
        if produced is not None:
            return produced
        # A list such as "text/csv, application/json;q=0.5": take the first type we produce.
        for part in accept.split(","):
            media_type = part.split(";", 1)[0].strip()
            if media_type in _ANY:
                return "json"
            if media_type in _PRODUCED:
                return _PRODUCED[media_type]
        raise NotAcceptable(f"Accept {accept!r} is not produced here; ask for application/json, "
                            "application/jsonlines or text/csv")


def parse_csv(body: bytes, n_features: int) -> np.ndarray | list[list[float]]:
    """CSV rows (no header) as a float64 array, or as lists of floats when NumPy's reader
    refuses the body; InvalidInput names the first bad cell.

    NumPy's C reader takes a 6 MiB body (SageMaker's limit) in a tenth of the time and a
    seventh of the memory of Python floats in lists. Anything it refuses (a bad cell, rows of
    different lengths, a lone CR line end, `1_000`) goes through the Python reader, which
    names the bad cell or accepts what float() accepts; rows of the wrong length are then
    refused by the data plane, naming the row, whichever reader read them.
    """
    if not body.strip():
        raise InvalidInput(f"CSV body has no rows; expected lines of {n_features} comma-separated numbers")
    try:
        return np.loadtxt(io.BytesIO(body), delimiter=",", dtype=np.float64, ndmin=2, comments=None)
    except ValueError:
        return _parse_csv_cells(body, n_features)


def _parse_csv_cells(body: bytes, n_features: int) -> list[list[float]]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("CSV body is not UTF-8") from None
    rows = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        cells = line.split(",")
        try:
            rows.append([float(cell) for cell in cells])
        except ValueError:
            for column, cell in enumerate(cells):
                try:
                    float(cell)
                except ValueError:
                    raise InvalidInput(f"CSV line {line_number}, column {column}: {cell.strip()!r} "
                                       "is not a number") from None
    if not rows:
        raise InvalidInput(f"CSV body has no rows; expected lines of {n_features} comma-separated numbers")
    return rows


def to_csv(predictions: Any) -> bytes:
    """One line per row; a row with several values (class probabilities) is comma-joined."""
    if isinstance(predictions, np.ndarray):
        predictions = predictions.tolist()
    lines = [",".join(map(str, value)) if isinstance(value, list) else str(value) for value in predictions]
    return ("\n".join(lines) + "\n").encode()
