"""Open Inference Protocol V2, REST: health, metadata and inference.

https://github.com/kserve/open-inference-protocol/blob/main/specification/protocol/inference_rest.md

Tensors are JSON with row-major `data`. The model has one input tensor of shape
[-1, n_features]; `data` may be flat (the spec's form) or nested rows (what many clients
send). `shape` x `datatype` must agree with `data`: as many values as the shape holds, each
of the declared type. Integer datatypes are accepted and converted to the model's float
type; BOOL and BYTES are refused. Errors are `{"error": "..."}` with a 4xx/5xx status.
"""

from __future__ import annotations

from math import prod
from typing import Any

import numpy as np

import serving_app
from serving_app.dataplane import DataPlane
from serving_app.errors import InvalidInput, NotReady
from serving_app.protocols.common import Request, Response, Route, json_response, parse_json, require_json

INPUT_NAME = "input"
_FLOAT_TYPES = frozenset(("FP16", "FP32", "FP64"))
_INT_TYPES = frozenset(("INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"))
_FLOAT_VALUES = frozenset((int, float))
_INT_VALUES = frozenset((int,))

# Every model route exists with and without /versions/{model_version}.
_MODEL = "/v2/models/{model_name}"
_VERSIONED = "/v2/models/{model_name}/versions/{model_version}"


class V2Protocol:
    """The V2 REST routes over a data plane."""

    def __init__(self, plane: DataPlane) -> None:
        self.plane = plane
        meta = plane.metadata
        self._server_metadata = {"name": "mlserve", "version": serving_app.__version__, "extensions": []}
        self._model_metadata = {
            "name": meta.name,
            "versions": [meta.version],
            "platform": meta.runtime or meta.framework,
            # The feature names, in the order of the tensor's columns: what /predict and
            # /invocations rows keyed by name use. (Parameters beyond the spec's scalars; clients
            # that do not know it ignore it.)
            "inputs": [{"name": INPUT_NAME, "datatype": meta.input_datatype, "shape": [-1, meta.n_features],
                        "parameters": {"feature_names": list(meta.feature_names)}}],
            "outputs": [{"name": output.name, "datatype": output.datatype, "shape": [-1, *output.shape]}
                        for output in meta.outputs],
        }
        self._outputs = {output.name: output for output in meta.outputs}

    def routes(self) -> list[Route]:
        routes = [
            Route("GET", "/v2", self.server_metadata),
            Route("GET", "/v2/health/live", self.live),
            Route("GET", "/v2/health/ready", self.ready),
        ]
        for prefix in (_MODEL, _VERSIONED):
            routes += [
                Route("GET", prefix, self.model_metadata),
                Route("GET", prefix + "/ready", self.model_ready),
                Route("POST", prefix + "/infer", self.infer, reads_body=True),
            ]
        return routes

    async def server_metadata(self, request: Request) -> Response:
        return json_response(self._server_metadata)

    async def live(self, request: Request) -> Response:
        return json_response({"live": True})

    async def ready(self, request: Request) -> Response:
        if not self.plane.ready:
            raise NotReady(self.plane.not_ready_reason())
        return json_response({"ready": True})

    async def model_metadata(self, request: Request) -> Response:
        self._check_model(request)
        return json_response(self._model_metadata)

    async def model_ready(self, request: Request) -> Response:
        self._check_model(request)
        if not self.plane.ready:
            raise NotReady(self.plane.not_ready_reason())
        return json_response({"name": self.plane.metadata.name, "ready": True})

    async def infer(self, request: Request) -> Response:
        self._check_model(request)
        require_json(request)
        payload = parse_json(request.body)
        if type(payload) is not dict:
            raise InvalidInput('expected an inference request object {"inputs": [...]}')
        rows = self._rows(payload.get("inputs"))
        requested = self._requested_outputs(payload.get("outputs"))
        outputs = await self.plane.predict(rows)
        n = len(rows)
        body: dict[str, Any] = {"model_name": self.plane.metadata.name, "model_version": self.plane.metadata.version}
        if "id" in payload:
            body["id"] = payload["id"]
        body["outputs"] = [self._tensor(name, outputs[name], n) for name in requested]
        return json_response(body)

    def _check_model(self, request: Request) -> None:
        params = request.params
        self.plane.check_model(params["model_name"], params.get("model_version"))

    def _rows(self, inputs: Any) -> list[list[Any]]:
        """The one input tensor as rows, after checking shape x datatype x data."""
        if type(inputs) is not list or len(inputs) != 1 or type(inputs[0]) is not dict:
            raise InvalidInput(f'"inputs" must be a list holding one tensor ("{INPUT_NAME}"); '
                               "this model has one input")
        tensor = inputs[0]
        name, shape, datatype, data = (tensor.get(key) for key in ("name", "shape", "datatype", "data"))
        if type(name) is not str:
            raise InvalidInput('input tensor needs a "name"')
        label = f"input {name!r}"
        if datatype not in _FLOAT_TYPES and datatype not in _INT_TYPES:
            raise InvalidInput(f"{label}: datatype {datatype!r} is not accepted; the model takes "
                               f"{self.plane.metadata.input_datatype} (any FP or INT datatype is converted)")
        n_features = self.plane.n_features
        if (type(shape) is not list or len(shape) != 2 or any(type(dim) is not int for dim in shape)
                or shape[0] < 1 or shape[1] != n_features):
            raise InvalidInput(f"{label}: shape {shape!r} does not fit the model; expected [n, {n_features}] "
                               "with n >= 1")
        if type(data) is not list:
            raise InvalidInput(f'{label}: "data" must be a list of values in row-major order')
        if data and type(data[0]) is list:  # nested rows: accepted, checked like flat data
            flat = [value for row in data for value in (row if type(row) is list else (row,))]
        else:
            flat = data
        expected = prod(shape)
        if len(flat) != expected:
            raise InvalidInput(f"{label}: shape {shape} holds {expected} values but data has {len(flat)}")
        allowed = _FLOAT_VALUES if datatype in _FLOAT_TYPES else _INT_VALUES
        if not allowed.issuperset(map(type, flat)):
            for index, value in enumerate(flat):
                if type(value) not in allowed:
                    raise InvalidInput(f"{label}: data[{index}] = {value!r} is not a {datatype} value")
        if datatype.startswith("UINT") and any(value < 0 for value in flat):
            raise InvalidInput(f"{label}: {datatype} data holds a negative value")
        return [flat[start:start + n_features] for start in range(0, expected, n_features)]

    def _requested_outputs(self, outputs: Any) -> list[str]:
        if outputs is None:
            return list(self._outputs)
        if type(outputs) is not list or not all(type(o) is dict and type(o.get("name")) is str for o in outputs):
            raise InvalidInput('"outputs" must be a list of {"name": ...} objects')
        names = [o["name"] for o in outputs]
        unknown = [name for name in names if name not in self._outputs]
        if unknown:
            raise InvalidInput(f"unknown output(s) {unknown}; the model has {list(self._outputs)}")
        return names

    def _tensor(self, name: str, values: Any, n: int) -> dict[str, Any]:
        spec = self._outputs[name]
        if isinstance(values, np.ndarray):
            data: Any = values.reshape(-1)
        else:  # BYTES and other non-numeric outputs come as Python lists
            data = values if not spec.shape else [v for row in values for v in row]
        return {"name": name, "datatype": spec.datatype, "shape": [n, *spec.shape], "data": data}
