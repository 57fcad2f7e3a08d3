"""The ceiling: a hello-world ASGI app on exactly mlserve's server stack.

    python -m bench.baselines.hello_asgi --host 127.0.0.1 --port 8000

It reads the request body and answers a fixed 22-byte JSON body, served by uvicorn with the
configuration mlserve uses (`serving_app.server.uvicorn_config`: httptools, uvloop, no access
log, the same backlog). What it serves per second is what the stack costs with no
application at all; mlserve's single-row throughput over it is the share of the budget the
server's own work (parsing, validation, batching, the model, metrics) leaves.
"""

from __future__ import annotations

import argparse

import uvicorn

from serving_app.server import uvicorn_config
from serving_app.settings import Settings

BODY = b'{"predictions":[0]}\n'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(BODY))]


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    more_body = scope["method"] == "POST"
    while more_body:
        more_body = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    uvicorn.Server(uvicorn_config(Settings(host=args.host, port=args.port), app)).run()


if __name__ == "__main__":
    main()
