"""`python -m tests.serving_app.fake_server [serve] [--model fake:<delay>] ...`: the real CLI
and server, with the fake model loader, for process-level tests (SIGTERM, workers)."""

from __future__ import annotations

import os
import sys

from serving_app.__main__ import parse_args, settings_for
from serving_app.server import run
from tests.serving_app.fakes import load_fake

if __name__ == "__main__":
    sys.exit(run(settings_for(parse_args(sys.argv[1:]), os.environ), load_model=load_fake))
