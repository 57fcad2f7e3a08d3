"""The per-process metric values and their sum over worker processes (no server)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from serving_app.metrics_store import ValueStore, prepare_directory
from tests.serving_app.conftest import ROOT

# Another process writes slot 0 (a counter) = 5 and slot 1 (a gauge) = 7, then exits or waits.
_WORKER = """
import sys, time
from pathlib import Path
from serving_app.metrics_store import ValueStore
store = ValueStore(3, 42, Path(sys.argv[1]))
store.values[0] = 5.0
store.values[1] = 7.0
print("written", flush=True)
if sys.argv[2] == "stay":
    sys.stdin.read()
"""


def _worker(directory, mode: str) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", _WORKER, str(directory), mode], cwd=ROOT,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "written"
    return process


def test_counters_add_up_over_processes_and_gauges_count_live_ones_only(tmp_path):
    gauges = np.array([False, True, False])
    own = ValueStore(3, 42, tmp_path)
    own.values[0], own.values[1], own.values[2] = 1.0, 2.0, 3.0
    live = _worker(tmp_path, "stay")
    try:
        assert own.totals(gauges).tolist() == [6.0, 9.0, 3.0]
        assert sorted(values[1] for _, values in own.per_process()) == [2.0, 7.0]
    finally:
        live.stdin.close()
        live.wait()
    # Dead now: what it counted stays counted; its gauge no longer describes anything.
    assert own.totals(gauges).tolist() == [6.0, 2.0, 3.0]
    assert [values[1] for _, values in own.per_process()] == [2.0]


def test_files_of_another_layout_are_ignored_and_a_fresh_directory_has_none(tmp_path):
    _worker(tmp_path, "exit").wait()
    other_layout = ValueStore(3, 43, tmp_path)
    assert other_layout.totals(np.zeros(3, dtype=bool)).tolist() == [0.0, 0.0, 0.0]
    prepare_directory(tmp_path)
    assert list(tmp_path.glob("worker-*")) == []


def test_one_process_keeps_its_values_in_memory():
    store = ValueStore(2, 1)
    store.values[1] += 2.5
    assert store.totals(np.zeros(2, dtype=bool)).tolist() == [0.0, 2.5]
