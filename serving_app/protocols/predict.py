"""POST /predict: `{"instances": [[...], ...]}` -> `{"predictions": [...], "model": {...}}`.

The plain form for clients that speak neither SageMaker nor V2. `predictions` holds the
model's primary output (`metadata.outputs[0]`), one entry per row, in row order.
"""

from __future__ import annotations

from serving_app.dataplane import DataPlane
from serving_app.errors import InvalidInput
from serving_app.protocols.common import Request, Response, Route, json_response, parse_json, require_json


class PredictProtocol:
    """The /predict route over a data plane."""

    def __init__(self, plane: DataPlane) -> None:
        self.plane = plane
        self._model = {"name": plane.metadata.name, "version": plane.metadata.version}

    def routes(self) -> list[Route]:
        return [Route("POST", "/predict", self.predict, reads_body=True)]

    async def predict(self, request: Request) -> Response:
        require_json(request)
        payload = parse_json(request.body)
        if type(payload) is not dict or "instances" not in payload:
            raise InvalidInput('expected a JSON object {"instances": [[...], ...]}')
        outputs = await self.plane.predict(payload["instances"])
        return json_response({"predictions": outputs[self.plane.primary_output], "model": self._model})
