"""Cold start: how long a new server process takes to answer its first prediction.

Measured from the moment the process is started (`python -m serving_app --model DIR`, pinned
to the server's core, as a new pod would run it) until a /predict of one sample row has been
answered with 200: interpreter start, imports, whatever the loader does with the artifact
(reading it, checking it, building the runtime session), the warm-up, the listener, the
first request. Two models: the demo forest (50 trees, 20 features) and a large forest (500
trees, 50 features), packaged by `python -m mlserve.models package` as a user would.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench.servers import ServerError, free_port, stop_process_group
from bench.tables import table

LARGE_FOREST = {"trees": 500, "features": 50, "max_depth": 8, "training_rows": 4000, "sample_rows": 16}
"""The large forest's recipe (recorded in results.json; a changed recipe rebuilds it)."""


def build_large_forest(out: Path, repo_root: Path) -> Path:
    """Train the large forest and package it with the project's own CLI; reused while its recipe holds."""
    artifact = out / "artifact"
    recipe = out / "recipe.json"
    if (artifact / "metadata.json").exists() and recipe.exists() and json.loads(recipe.read_text()) == LARGE_FOREST:
        return artifact
    import joblib
    import numpy as np
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    out.mkdir(parents=True, exist_ok=True)
    features, labels = make_classification(n_samples=LARGE_FOREST["training_rows"],
                                           n_features=LARGE_FOREST["features"], n_informative=20, n_redundant=10,
                                           random_state=0)
    features = features.astype(np.float32)
    sample = LARGE_FOREST["sample_rows"]
    forest = RandomForestClassifier(n_estimators=LARGE_FOREST["trees"], max_depth=LARGE_FOREST["max_depth"],
                                    random_state=0, n_jobs=-1).fit(features[sample:], labels[sample:])
    joblib.dump(forest, out / "model.joblib")
    header = ",".join(f"f{i:02d}" for i in range(LARGE_FOREST["features"]))
    rows = "\n".join(",".join(repr(float(value)) for value in row) for row in features[:sample])
    (out / "sample.csv").write_text(header + "\n" + rows + "\n")
    if artifact.exists():
        import shutil

        shutil.rmtree(artifact)
    command = [sys.executable, "-m", "mlserve.models", "package", str(out / "model.joblib"), "--name",
               "large-forest", "--version", "1", "--sample", str(out / "sample.csv"), "--out", str(artifact)]
    completed = subprocess.run(command, cwd=repo_root, capture_output=True, text=True, timeout=900)
    if completed.returncode != 0:
        detail = (completed.stderr or completed.stdout).strip()[-1500:]
        raise ServerError(f"packaging the large forest failed: {detail}")
    recipe.write_text(json.dumps(LARGE_FOREST))
    return artifact


def first_answer_s(model_dir: Path, *, cpu: int | None, repo_root: Path, log_path: Path,
                   timeout_s: float = 120) -> dict:
    """Start a server on `model_dir`; seconds until its first /predict answered 200, and the
    loader's own figure from the log ("model loaded" load_seconds)."""
    row = json.loads((model_dir / "sample.json").read_text())["rows"][:1]
    port = free_port()
    argv = [sys.executable, "-m", "serving_app", "--model", str(model_dir), "--host", "127.0.0.1", "--port", str(port)]
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu), *argv]
    body = json.dumps({"instances": row}).encode()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        started = time.monotonic()
        process = subprocess.Popen(argv, cwd=repo_root, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        while True:
            if process.poll() is not None:
                raise ServerError(f"serving_app exited with {process.returncode} on {model_dir} (log: {log_path})")
            if time.monotonic() - started > timeout_s:
                raise ServerError(f"no answer from serving_app on {model_dir} within {timeout_s:.0f} s")
            request = urllib.request.Request(f"http://127.0.0.1:{port}/predict", data=body, method="POST",
                                             headers={"content-type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    if response.status == 200:
                        answered = time.monotonic() - started
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.005)  # not listening yet (503 while warming up is an HTTPError, a URLError too)
    finally:
        stop_process_group(process)
    return {"first_answer_s": round(answered, 3), "loader_s": _loader_seconds(log_path)}


def _loader_seconds(log_path: Path) -> float | None:
    for line in log_path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and "load_seconds" in entry:
            return entry["load_seconds"]
    return None


def run_cold_starts(models: dict[str, Path], *, repeats: int, cpu: int | None, repo_root: Path,
                    out: Path) -> tuple[dict, bool]:
    """`repeats` cold starts per model; the results (results.json's "cold_start") and whether all worked."""
    results: dict = {}
    harness_ok = True
    for name, model_dir in models.items():
        record = results[name] = {"model_dir": str(model_dir), "runs": [], "error": None}
        try:
            for attempt in range(repeats):
                run = first_answer_s(model_dir, cpu=cpu, repo_root=repo_root,
                                     log_path=out / "logs" / f"cold-start-{name}-{attempt}.log")
                record["runs"].append(run)
                print(f"   {name}: first answer after {run['first_answer_s']:.2f} s "
                      f"(loader {run['loader_s']} s)", flush=True)
        except ServerError as error:
            harness_ok = False
            record["error"] = error.summary
            print(f"   FAILED: {error}", flush=True)
        if record["runs"]:
            record["median_s"] = statistics.median(run["first_answer_s"] for run in record["runs"])
    return results, harness_ok


def format_cold_start(cold_start: dict) -> list[str]:
    lines = ["", "== cold start: process start to the first answered /predict, server on one core =="]
    rows = [("model", "median s", "runs s", "loader s")]
    for name, record in cold_start.items():
        if not record["runs"]:
            rows.append((name, f"not measured: {record.get('error') or 'skipped'}"))
            continue
        runs = ", ".join(f"{run['first_answer_s']:.2f}" for run in record["runs"])
        loaders = ", ".join("-" if run["loader_s"] is None else f"{run['loader_s']:.2f}" for run in record["runs"])
        rows.append((name, f"{record['median_s']:.2f}", runs, loaders))
    return lines + table(rows)
