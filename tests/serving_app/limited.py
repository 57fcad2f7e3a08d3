"""Load artifacts in a child process under a memory limit, for tests that load deliberately
corrupt artifacts: a corrupt file that claims a huge array then costs a MemoryError in the
child, never the memory of the machine (the suite runs beside other work).

    python -m tests.serving_app.limited ARTIFACT [ARTIFACT ...]

prints one JSON line per artifact: {"what", "where", "detail"} of the ModelLoadError, or
{"runtime", "fallback_reason"} of the loaded model. `run_limited` starts it with RLIMIT_AS set
before the interpreter starts (preexec_fn), so the child's own conversion process inherits it.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ADDRESS_SPACE_LIMIT = 2 << 30
"""2 GiB of address space: a server process with scikit-learn and ONNX Runtime peaks near 0.6 GiB."""


def run_limited(artifacts: list[Path], *, limit_bytes: int = ADDRESS_SPACE_LIMIT, timeout_s: float = 240) -> list[dict]:
    """Each artifact's load result (see the module docstring), loaded under `limit_bytes`."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))

    # One BLAS/OpenMP thread: every thread's stack and arena counts against the address space.
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONPATH": str(ROOT)}
    completed = subprocess.run([sys.executable, "-m", "tests.serving_app.limited", *map(str, artifacts)], cwd=ROOT,
                               env=env, preexec_fn=limit, capture_output=True, text=True, timeout=timeout_s)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return [json.loads(line) for line in completed.stdout.splitlines()]


def main(paths: list[str]) -> int:
    from serving_app.models import ModelLoadError, load_model

    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    for path in paths:
        try:
            model = load_model(path, cache_dir=str(Path(path).parent / "cache"))
        except ModelLoadError as error:
            result = {"what": error.what, "where": error.where, "detail": error.detail}
        else:
            result = {"runtime": model.metadata.runtime, "fallback_reason": getattr(model, "fallback_reason", "")}
        print(json.dumps({**result, "address_space_limit": soft}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
