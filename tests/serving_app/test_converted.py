"""The ONNX graph `package` stores in an artifact: loaded without converting, re-checked in the
server's runtime, refused when it drifts past the tolerance, covered by the checksums; and the
load-time conversion's own tolerance (1e-5, not looser)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import joblib
import numpy as np
import pytest

from serving_app.demo_model import build_demo_artifact
from serving_app.models import ModelLoadError, OutputSpec, conversion, load_model
from serving_app.models.artifact import write_metadata, write_sample
from serving_app.models.converted import store_conversion
from tests.serving_app.artifact_edits import reseal
from tests.serving_app.conftest import ROOT


@pytest.fixture(scope="module")
def packaged_demo(tmp_path_factory) -> Path:
    """The demo as `make demo-model` writes it: with its stored graph and check."""
    return build_demo_artifact(tmp_path_factory.mktemp("packaged-demo"))


@pytest.fixture
def demo_copy(packaged_demo, tmp_path) -> Path:
    return Path(shutil.copytree(packaged_demo, tmp_path / "model"))


def _no_conversion(*args, **kwargs):
    raise AssertionError("the server converted a model whose artifact holds a verified graph")


def test_a_packaged_artifact_is_served_from_its_stored_graph_without_converting(packaged_demo, monkeypatch):
    for name in ("convert_estimator", "prepare_candidate", "prepare_candidate_in_subprocess"):
        monkeypatch.setattr(conversion, name, _no_conversion)
    model = load_model(str(packaged_demo))
    assert model.metadata.runtime == "onnxruntime[CPUExecutionProvider]"
    assert model.graph_origin == "the artifact's converted.onnx"
    forest = joblib.load(packaged_demo / "model.joblib")
    rows = np.random.default_rng(4).normal(scale=2.0, size=(300, 20)).astype(np.float32)
    outputs = model.predict(rows)
    np.testing.assert_array_equal(outputs["label"], forest.predict(rows))
    np.testing.assert_allclose(outputs["probabilities"], forest.predict_proba(rows), atol=1e-5)


def test_a_fresh_process_loads_the_stored_graph_with_neither_sklearn_nor_a_child(packaged_demo):
    script = (
        "import logging, sys, subprocess;"
        "logging.basicConfig(level=logging.INFO, stream=sys.stdout, format='%(message)s');"
        "calls = [];"
        "real = subprocess.run; subprocess.run = lambda *a, **k: calls.append(a) or real(*a, **k);"
        "from serving_app.models import load_model;"
        f"m = load_model({str(packaged_demo)!r});"
        "print('RESULT', m.metadata.runtime, 'sklearn' in sys.modules, 'skl2onnx' in sys.modules, len(calls))"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            check=True)
    assert "RESULT onnxruntime[CPUExecutionProvider] False False 0" in result.stdout
    assert "(graph: the artifact's converted.onnx)" in result.stdout


def _shift_check(directory: Path, output: str, by: float) -> None:
    path = directory / "converted-check.json"
    check = json.loads(path.read_text())
    check["outputs"][output] = (np.asarray(check["outputs"][output]) + by).tolist()
    path.write_text(json.dumps(check))
    reseal(directory)


def test_a_stored_graph_that_drifts_by_1e_3_from_its_check_is_not_served(demo_copy, caplog):
    """The check's tolerance is 1e-5: a graph whose probabilities differ by 1e-3 here (another
    ONNX Runtime build, say) must not serve; the estimator does, and the log says why."""
    _shift_check(demo_copy, "probabilities", 1e-3)
    with caplog.at_level("WARNING", logger="serving_app.models.loader"):
        model = load_model(str(demo_copy), isolate_conversion=False)
    assert model.metadata.runtime == "sklearn"
    assert "stored ONNX graph does not reproduce its check" in model.fallback_reason
    assert "probabilities: 792 values outside tolerance, max |diff| 0.001" in model.fallback_reason
    assert "serving with scikit-learn" in caplog.text


def test_within_the_tolerance_the_stored_graph_still_serves(demo_copy):
    _shift_check(demo_copy, "probabilities", 1e-7)  # float32 noise, as between ONNX Runtime builds
    assert load_model(str(demo_copy)).metadata.runtime.startswith("onnxruntime")


def _small_regression(directory: Path, *, convert: bool):
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(0)
    features = rng.standard_normal((200, 4))
    model = LinearRegression().fit(features, features @ [0.1, -0.2, 0.05, 0.0] * 0.5)  # predictions well under 1
    directory.mkdir()
    joblib.dump(model, directory / "model.joblib")
    write_sample(directory, features[:10])
    outputs = (OutputSpec("prediction", "FP64", ()),)
    record = store_conversion(directory, model, feature_names=tuple("abcd"), input_dtype="float64", outputs=outputs,
                              sample_rows=features[:10]) if convert else None
    write_metadata(directory, name="reg", version="1", framework="sklearn", feature_names=tuple("abcd"),
                   input_dtype="float64", outputs=outputs, conversion=record)
    return model


def test_a_load_time_conversion_that_differs_by_1e_3_falls_back(tmp_path, monkeypatch):
    """The load-time check's tolerance is 1e-5: loosened to 1e-1, this 1e-3 shift would be served."""
    model = _small_regression(tmp_path / "reg", convert=False)
    real_convert = conversion.convert_estimator

    def off_by_1e_3(estimator, n_features, input_dtype):
        shifted = joblib.load(tmp_path / "reg" / "model.joblib")
        shifted.intercept_ = shifted.intercept_ + 1e-3
        return real_convert(shifted, n_features, input_dtype)

    monkeypatch.setattr(conversion, "convert_estimator", off_by_1e_3)
    served = load_model(str(tmp_path / "reg"), isolate_conversion=False)
    assert served.metadata.runtime == "sklearn"
    assert "prediction: 266 values outside tolerance, max |diff| 0.001" in served.fallback_reason
    rows = np.random.default_rng(1).standard_normal((20, 4))
    np.testing.assert_array_equal(served.predict(rows)["prediction"], model.predict(rows))


def test_an_exact_load_time_conversion_serves(tmp_path):
    _small_regression(tmp_path / "reg", convert=False)
    assert load_model(str(tmp_path / "reg"), isolate_conversion=False).metadata.runtime.startswith("onnxruntime")


@pytest.mark.parametrize("name", ["converted.onnx", "converted-check.json", "sample.json"])
def test_a_flipped_byte_in_any_file_fails_the_checksum(demo_copy, name):
    path = demo_copy / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError) as error:
        load_model(str(demo_copy))
    assert (error.value.what, error.value.where) == ("checksum mismatch", str(path))


def test_the_last_byte_of_a_model_file_over_1_mib_counts(tmp_path):
    """The checksum reads in 1 MiB chunks: a file just over one chunk whose last byte changed must fail."""
    directory = tmp_path / "big"
    directory.mkdir()
    payload = bytearray(np.random.default_rng(0).bytes((1 << 20) + 137))
    (directory / "model.onnx").write_bytes(bytes(payload))
    write_metadata(directory, name="big", version="1", framework="onnx", feature_names=("a",), input_dtype="float32",
                   outputs=(OutputSpec("y", "FP32", ()),))
    payload[-1] ^= 0xFF
    (directory / "model.onnx").write_bytes(bytes(payload))
    with pytest.raises(ModelLoadError) as error:
        load_model(str(directory))
    assert (error.value.what, error.value.where) == ("checksum mismatch", str(directory / "model.onnx"))


def test_a_file_no_checksum_covers_is_refused(demo_copy):
    metadata = json.loads((demo_copy / "metadata.json").read_text())
    del metadata["files"]["sample.json"]
    (demo_copy / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(ModelLoadError) as error:
        load_model(str(demo_copy))
    assert (error.value.what, error.value.where) == ("file not covered by a checksum", str(demo_copy / "sample.json"))


def test_a_listed_file_that_is_missing_is_refused(demo_copy):
    (demo_copy / "converted-check.json").unlink()
    with pytest.raises(ModelLoadError) as error:
        load_model(str(demo_copy))
    assert error.value.what == "artifact file missing" and error.value.where.endswith("converted-check.json")


def test_a_failed_conversion_record_serves_the_estimator_without_trying_again(demo_copy, monkeypatch):
    metadata = json.loads((demo_copy / "metadata.json").read_text())
    metadata["conversion"] = {"converter": "skl2onnx 1.20.0", "failed": "float32 graph: disagrees"}
    metadata["files"] = {"sample.json": metadata["files"]["sample.json"]}
    (demo_copy / "converted.onnx").unlink()
    (demo_copy / "converted-check.json").unlink()
    (demo_copy / "metadata.json").write_text(json.dumps(metadata))
    for name in ("convert_estimator", "prepare_candidate", "prepare_candidate_in_subprocess"):
        monkeypatch.setattr(conversion, name, _no_conversion)
    model = load_model(str(demo_copy))
    assert model.metadata.runtime == "sklearn"
    assert model.fallback_reason.startswith("package found no ONNX graph that reproduces it (skl2onnx 1.20.0)")


def test_float64_input_to_a_forest_is_served_by_a_float32_graph_behind_a_cast(tmp_path):
    """scikit-learn's trees round their input to float32 before comparing: a value just above a
    float32 threshold in float64 goes left in the forest. The Cast graph does the same; a double
    graph would send it right."""
    from sklearn.ensemble import RandomForestRegressor

    rng = np.random.default_rng(2)
    features = rng.standard_normal((300, 3)) * 1000
    forest = RandomForestRegressor(n_estimators=10, max_depth=6, random_state=0).fit(features, features[:, 0] ** 2)
    directory = tmp_path / "forest"
    directory.mkdir()
    joblib.dump(forest, directory / "model.joblib")
    write_sample(directory, features[:8])
    outputs = (OutputSpec("prediction", "FP64", ()),)
    record = store_conversion(directory, forest, feature_names=tuple("abc"), input_dtype="float64", outputs=outputs,
                              sample_rows=features[:8])
    assert record.failed is None and record.graph_input == "float32", record
    write_metadata(directory, name="forest", version="1", framework="sklearn", feature_names=tuple("abc"),
                   input_dtype="float64", outputs=outputs, conversion=record)
    model = load_model(str(directory))
    assert model.metadata.runtime.startswith("onnxruntime") and model.metadata.input_dtype == "float64"
    tree = forest.estimators_[0].tree_
    splits = [(int(f), float(t)) for f, t in zip(tree.feature, tree.threshold) if f >= 0]
    at_edges, past_edges = features[:len(splits)].copy(), features[:len(splits)].copy()
    for index, (feature, threshold) in enumerate(splits):
        at_edges[index, feature] = threshold + 1e-9 * max(1.0, abs(threshold))  # above it in float64, on it in float32
        past_edges[index, feature] = float(np.nextafter(np.float32(threshold), np.float32(np.inf)))
    # the rows sit on the forest's split points: float64 comparisons would route them otherwise
    assert (forest.predict(at_edges) != forest.predict(past_edges)).sum() >= 5
    np.testing.assert_allclose(model.predict(at_edges)["prediction"], forest.predict(at_edges), rtol=1e-6)


def test_with_two_workers_each_loads_the_stored_graph_none_converts(packaged_demo, spawn):
    server = spawn("-m", "serving_app", "--model", str(packaged_demo), "--workers", "2")
    server.wait_ready(timeout_s=60)  # one worker answers; the other may still be loading
    deadline = time.monotonic() + 60
    while server.stderr().count("Application startup complete") < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    server.stop()
    log = server.stderr()
    assert log.count("graph: the artifact's converted.onnx") == 2, log[-3000:]
    assert "converted at load" not in log and "serving with scikit-learn" not in log


def test_a_format_1_artifact_still_loads_and_converts_at_load(tmp_path):
    """Artifacts written before format 2 (no files map, sample not covered) keep loading."""
    directory = build_demo_artifact(tmp_path / "old", convert=False)
    metadata = json.loads((directory / "metadata.json").read_text())
    metadata["format_version"] = 1
    del metadata["files"]
    (directory / "metadata.json").write_text(json.dumps(metadata))
    model = load_model(str(directory), isolate_conversion=False)
    assert model.metadata.runtime.startswith("onnxruntime") and model.graph_origin == "converted at load"
    metadata["files"] = {"sample.json": "0" * 64}
    (directory / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(ModelLoadError, match="files, check and conversion need format_version 2"):
        load_model(str(directory))
