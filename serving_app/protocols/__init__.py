"""Protocol adapters over the data plane: each turns one wire format into rows for
`DataPlane.predict` and its result back into that format's response.

- `sagemaker`: GET /ping, POST /invocations (what a SageMaker endpoint calls)
- `v2`: the Open Inference Protocol V2 REST API (KServe, Triton, Seldon clients)
- `predict`: POST /predict, the plain {"instances": ...} form

Every adapter returns `Route`s; `app.py` routes to them and renders `ServingError`s.
"""

from serving_app.protocols.common import Request, Response, Route

__all__ = ["Request", "Response", "Route"]
