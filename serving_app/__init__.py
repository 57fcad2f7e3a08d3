"""mlserve's model server: one process that serves a trained model over HTTP.

Layers, outermost first: `__main__` (CLI) and `server` (uvicorn, signals, workers) ->
`app` (`create_app(settings, model)`, an ASGI app: routing, limits, request ids, errors,
metrics) -> `protocols` (SageMaker, Open Inference Protocol V2, plain /predict) ->
`dataplane` (readiness, validation) -> `batching` (adaptive micro-batching, worker thread)
-> `models` (loading artifacts, the `Model` contract).
"""

__version__ = "0.1.0"
