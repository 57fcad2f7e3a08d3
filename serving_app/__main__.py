"""`python -m serving_app [serve] [--model URI] [--host H] [--port P] [--workers N]`.

The image's ENTRYPOINT, so both container forms work:
- `docker run IMAGE` (Kubernetes): one worker; scale with pods.
- `docker run IMAGE serve` (SageMaker runs the image with the argument `serve`): one
  worker per CPU unless told otherwise, since a SageMaker instance hosts one container;
  the port is SAGEMAKER_BIND_TO_PORT when SageMaker sets it (multi-container endpoints).

Flags override MLSERVE_* variables, which override the defaults in `settings.py`.
A bad artifact exits 1 with the ModelLoadError (which problem, where) in the log.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence

from serving_app.server import cpu_count, run
from serving_app.settings import ENV_PREFIX, Settings, SettingsError


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m serving_app", description="Serve a model over HTTP.")
    parser.add_argument("command", nargs="?", choices=["serve"],
                        help="'serve': the SageMaker form (workers default to the CPU count)")
    parser.add_argument("--model", dest="model_uri", help="artifact directory or s3:// URI (MLSERVE_MODEL_URI)")
    parser.add_argument("--host", help="interface to bind (MLSERVE_HOST, default 0.0.0.0)")
    parser.add_argument("--port", type=int, help="port (MLSERVE_PORT, default 8080)")
    parser.add_argument("--workers", type=int, help="server processes (MLSERVE_WORKERS, default 1; CPUs for serve)")
    parser.add_argument("--log-level", dest="log_level", help="log level (MLSERVE_LOG_LEVEL, default INFO)")
    return parser.parse_args(argv)


def settings_for(args: argparse.Namespace, environ: Mapping[str, str]) -> Settings:
    """Settings from the environment and flags, with the SageMaker defaults for `serve`."""
    overrides = {"model_uri": args.model_uri, "host": args.host, "port": args.port, "workers": args.workers,
                 "log_level": args.log_level}
    if args.command == "serve":
        if args.workers is None and ENV_PREFIX + "WORKERS" not in environ:
            # SAGEMAKER_MODEL_SERVER_WORKERS is the variable SageMaker's own containers read.
            overrides["workers"] = int(environ.get("SAGEMAKER_MODEL_SERVER_WORKERS") or cpu_count())
        if args.port is None and "SAGEMAKER_BIND_TO_PORT" in environ:
            overrides["port"] = int(environ["SAGEMAKER_BIND_TO_PORT"])
    return Settings.from_env(environ, **overrides)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        settings = settings_for(args, os.environ)
    except (SettingsError, ValueError) as error:
        print(f"serving_app: {error}", file=sys.stderr)
        return 2
    return run(settings)


if __name__ == "__main__":
    sys.exit(main())
