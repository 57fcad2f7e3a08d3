"""`serve(description, transform)`: the command line of the baselines built from mlserve's own
app (`mlserve_no_model`, `bare_batching`): load the model as the server does, build mlserve's
app, change it with `transform`, and serve the result on mlserve's uvicorn configuration.

    python -m bench.baselines.<name> --model DIR --host 127.0.0.1 --port 8000
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import uvicorn

from serving_app.app import ServingApp, create_app
from serving_app.server import default_load_model, load, uvicorn_config
from serving_app.settings import Settings


def serve(description: str, transform: Callable[[ServingApp], Any]) -> None:
    """Parse --model/--host/--port, then serve `transform(create_app(settings, model))` until stopped."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    settings = Settings(model_uri=args.model, host=args.host, port=args.port)
    model, _ = load(settings, default_load_model)
    uvicorn.Server(uvicorn_config(settings, transform(create_app(settings, model)))).run()
