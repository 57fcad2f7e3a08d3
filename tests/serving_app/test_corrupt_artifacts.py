"""Deliberately corrupt artifacts, each loaded in a child process under a 2 GiB address-space
limit (tests/serving_app/limited.py): a corrupt file that claims a huge array must cost a
MemoryError there, reported as a ModelLoadError, never the memory of the machine.

All cases load in one child (one interpreter start for the module)."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from serving_app.demo_model import build_demo_artifact
from serving_app.models import OutputSpec
from serving_app.models.artifact import write_metadata
from tests.serving_app.limited import ADDRESS_SPACE_LIMIT, run_limited
from tests.serving_app.artifact_edits import reseal

N_FEATURES = 20


class _HugeArray:
    """Unpickles into np.ones((1 << 29,)): 4 GiB of float64, twice the child's limit (a corrupt
    file whose header claims a huge array does the same to an unprotected loader)."""

    def __reduce__(self):
        return (np.ones, ((1 << 29,),))


def _sklearn_metadata(directory: Path) -> None:
    write_metadata(directory, name="demo-rf", version="1", framework="sklearn",
                   feature_names=[f"f{i}" for i in range(N_FEATURES)], input_dtype="float32",
                   outputs=[OutputSpec("label", "INT64", ())])


def _corrupt_joblib(directory: Path) -> None:
    directory.mkdir()
    (directory / "model.joblib").write_bytes(b"not a pickle at all")
    _sklearn_metadata(directory)


def _joblib_claiming_4_gib(directory: Path) -> None:
    directory.mkdir()
    (directory / "model.joblib").write_bytes(pickle.dumps(_HugeArray()))
    _sklearn_metadata(directory)


def _corrupt_onnx(directory: Path) -> None:
    directory.mkdir()
    (directory / "model.onnx").write_bytes(b"\x08\x07garbage")
    write_metadata(directory, name="m", version="1", framework="onnx", feature_names=list("abcdef"),
                   input_dtype="float32", outputs=[OutputSpec("label", "INT64", ())])


def _truncated_archive(directory: Path) -> None:
    directory.mkdir()
    (directory / "model.tar.gz").write_bytes(b"\x1f\x8b\x08\x00 truncated")


def _corrupt_stored_graph(demo: Path):
    def make(directory: Path) -> None:
        shutil.copytree(demo, directory)
        (directory / "converted.onnx").write_bytes(b"\x08\x07not a graph")
        reseal(directory)  # the checksums match: package wrote it that way
    return make


def _corrupt_check_file(demo: Path):
    def make(directory: Path) -> None:
        shutil.copytree(demo, directory)
        (directory / "converted-check.json").write_text("{rows: oops")
        reseal(directory)
    return make


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, dict]:
    root = tmp_path_factory.mktemp("corrupt")
    demo = build_demo_artifact(root / "demo")
    cases = {
        "joblib": _corrupt_joblib,
        "joblib-4-gib": _joblib_claiming_4_gib,
        "onnx": _corrupt_onnx,
        "archive": _truncated_archive,
        "stored-graph": _corrupt_stored_graph(demo),
        "check-file": _corrupt_check_file(demo),
    }
    for name, make in cases.items():
        make(root / name)
    loaded = run_limited([root / name for name in cases])
    return {name: {**result, "dir": str(root / name)} for name, result in zip(cases, loaded, strict=True)}


def test_the_child_runs_under_the_limit(results):
    assert {result["address_space_limit"] for result in results.values()} == {ADDRESS_SPACE_LIMIT}


def test_a_joblib_file_that_is_no_pickle_is_a_corrupt_model_file(results):
    result = results["joblib"]
    assert (result["what"], result["where"]) == ("corrupt model file", result["dir"] + "/model.joblib")


def test_a_joblib_file_claiming_4_gib_fails_in_the_child_not_the_machine(results):
    result = results["joblib-4-gib"]
    assert (result["what"], result["where"]) == ("corrupt model file", result["dir"] + "/model.joblib")
    assert "MemoryError" in result["detail"]


def test_a_corrupt_onnx_file(results):
    result = results["onnx"]
    assert (result["what"], result["where"]) == ("corrupt model file", result["dir"] + "/model.onnx")


def test_a_truncated_archive(results):
    result = results["archive"]
    assert (result["what"], result["where"]) == ("corrupt archive", result["dir"] + "/model.tar.gz")


def test_a_stored_graph_onnx_runtime_cannot_read_falls_back_to_the_estimator(results):
    result = results["stored-graph"]
    assert result["runtime"] == "sklearn"
    assert "onnxruntime rejects the graph" in result["fallback_reason"]


def test_a_check_file_that_does_not_parse_fails_the_load(results):
    result = results["check-file"]
    assert (result["what"], result["where"]) == ("bad conversion check file", result["dir"] + "/converted-check.json")
