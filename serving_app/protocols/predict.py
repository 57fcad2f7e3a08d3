"""POST /predict: `{"instances": [...]}` -> `{"predictions": [...], <other outputs>, "model": {...}}`.

The plain form for clients that speak neither SageMaker nor V2, shaped like KServe's V1
protocol: `predictions` holds the model's primary output (`metadata.outputs[0]`: the label of
a classifier, the prediction of a regressor), one entry per row, in row order. Every other
output follows under its own name (`probabilities` of a scikit-learn classifier: one list of
class probabilities per row); an output named `predictions` or `model` past the first is only
in the V2 answer. A row is a list of numbers in the model's feature order, or an object keyed
by feature name (the names: V2 model metadata, `inputs[0].parameters.feature_names`).
"""

from __future__ import annotations

from serving_app.dataplane import DataPlane
from serving_app.errors import InvalidInput
from serving_app.protocols.common import Request, Response, Route, json_response, parse_json, require_json

_RESERVED = ("predictions", "model")


class PredictProtocol:
    """The /predict route over a data plane."""

    def __init__(self, plane: DataPlane) -> None:
        self.plane = plane
        self._model = {"name": plane.metadata.name, "version": plane.metadata.version}
        self._others = tuple(name for name in plane.output_names[1:] if name not in _RESERVED)

    def routes(self) -> list[Route]:
        return [Route("POST", "/predict", self.predict, reads_body=True)]

    async def predict(self, request: Request) -> Response:
        require_json(request)
        payload = parse_json(request.body)
        if type(payload) is not dict or "instances" not in payload:
            raise InvalidInput('expected a JSON object {"instances": [[...], ...]}')
        outputs = await self.plane.predict(payload["instances"])
        body = {"predictions": outputs[self.plane.primary_output]}
        for name in self._others:
            body[name] = outputs[name]
        body["model"] = self._model
        return json_response(body)
