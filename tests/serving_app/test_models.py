"""Loading artifacts and serving them: the demo model, the ONNX optimisation at load time and its
fallback, every load failure. The graph `package` stores in an artifact: tests/serving_app/test_converted.py;
deliberately corrupt artifacts, under a memory limit: tests/serving_app/test_corrupt_artifacts.py."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from serving_app.demo_model import N_CLASSES, N_FEATURES, build_demo_artifact
from serving_app.models import ModelLoadError, OutputSpec, conversion, load_model
from serving_app.models.artifact import write_metadata
from serving_app.models.onnx_backend import CPU, CUDA, choose_providers, session_options
from serving_app.models.outputs import compare_outputs

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    """The demo without a stored ONNX graph: the server converts it at load time."""
    return build_demo_artifact(tmp_path_factory.mktemp("demo"), convert=False)


@pytest.fixture(scope="session")
def optimized_demo(demo_dir):
    return load_model(str(demo_dir), isolate_conversion=False)


@pytest.fixture(scope="session")
def sklearn_demo(demo_dir):
    return load_model(str(demo_dir), optimize=False)


@pytest.fixture
def artifact_copy(demo_dir, tmp_path) -> Path:
    """A private copy of the demo artifact, for tests that break it."""
    return Path(shutil.copytree(demo_dir, tmp_path / "model"))


def fresh_rows(n: int = 500) -> np.ndarray:
    """Rows the forest never saw: same generator, other seed, plus wide noise."""
    features, _ = make_classification(
        n_samples=n, n_features=N_FEATURES, n_informative=10, n_redundant=4, n_classes=N_CLASSES, random_state=7
    )
    noise = np.random.default_rng(7).normal(scale=3.0, size=(n, N_FEATURES))
    return np.concatenate([features, noise]).astype(np.float32)


def sample_rows(directory: Path) -> np.ndarray:
    return np.asarray(json.loads((directory / "sample.json").read_text())["rows"], dtype=np.float32)


# --- the demo artifact, optimised --------------------------------------------------------


def test_demo_artifact_loads_and_serves_with_onnxruntime(optimized_demo, demo_dir):
    metadata = optimized_demo.metadata
    assert (metadata.name, metadata.framework, metadata.n_features, metadata.input_dtype) == (
        "demo-rf",
        "sklearn",
        20,
        "float32",
    )
    assert metadata.feature_names[0] == "feature_00" and len(metadata.feature_names) == 20
    assert metadata.runtime == "onnxruntime[CPUExecutionProvider]"
    assert [(o.name, o.datatype, o.shape) for o in metadata.outputs] == [
        ("label", "INT64", ()),
        ("probabilities", "FP32", (3,)),
    ]

    rows = sample_rows(demo_dir)
    outputs = optimized_demo.predict(rows)
    assert list(outputs) == ["label", "probabilities"]
    assert outputs["label"].dtype == np.int64 and outputs["label"].shape == (len(rows),)
    assert outputs["probabilities"].dtype == np.float32 and outputs["probabilities"].shape == (len(rows), 3)
    np.testing.assert_allclose(outputs["probabilities"].sum(axis=1), 1.0, atol=1e-5)
    assert (outputs["label"] == outputs["probabilities"].argmax(axis=1)).all()


def test_converted_model_predicts_like_the_forest_on_rows_it_never_saw(optimized_demo, sklearn_demo, demo_dir):
    forest = joblib.load(demo_dir / "model.joblib")
    rows = fresh_rows()
    outputs = optimized_demo.predict(rows)
    np.testing.assert_array_equal(outputs["label"], forest.predict(rows))
    np.testing.assert_allclose(outputs["probabilities"], forest.predict_proba(rows), atol=1e-5)
    # and the two runtimes the server may run give the same answers, dtype for dtype
    assert sklearn_demo.metadata.runtime == "sklearn"
    assert compare_outputs(outputs, sklearn_demo.predict(rows), optimized_demo.metadata.outputs) == []


def test_a_fresh_server_process_loads_the_demo_without_importing_sklearn(demo_dir):
    # The default load converts in a child process: the serving process keeps only
    # onnxruntime, which is what keeps the server under its memory budget.
    script = (
        "import sys; from serving_app.models import load_model;"
        f"m = load_model({str(demo_dir)!r});"
        "print(m.metadata.runtime, 'sklearn' in sys.modules, 'skl2onnx' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.split() == ["onnxruntime[CPUExecutionProvider]", "False", "False"]


def test_empty_batch_and_wrong_width(optimized_demo, sklearn_demo):
    for model in (optimized_demo, sklearn_demo):
        empty = model.predict(np.empty((0, N_FEATURES), dtype=np.float32))
        assert empty["label"].shape == (0,) and empty["probabilities"].shape == (0, 3)
        with pytest.raises(ValueError, match=r"\(n, 20\)"):
            model.predict(np.zeros((2, 19), dtype=np.float32))


# --- the optimisation falls back when it cannot be trusted ----------------------------------


def test_a_conversion_that_predicts_differently_falls_back_to_sklearn(demo_dir, monkeypatch, caplog):
    real_convert = conversion.convert_estimator
    features, labels = make_classification(
        n_samples=200, n_features=N_FEATURES, n_classes=N_CLASSES, n_informative=5, random_state=1
    )
    stump = DecisionTreeClassifier(max_depth=1, random_state=0).fit(features, labels)
    # A broken converter: it returns a valid graph, of the wrong model.
    monkeypatch.setattr(conversion, "convert_estimator", lambda estimator, n, dtype: real_convert(stump, n, dtype))

    with caplog.at_level(logging.WARNING, logger="serving_app.models.loader"):
        model = load_model(str(demo_dir), isolate_conversion=False)

    assert model.metadata.runtime == "sklearn"
    assert "disagrees with the original" in model.fallback_reason and "label: differs" in model.fallback_reason
    # a forest rounds to float32 itself: at float64 a float32 graph behind a Cast would be tried too; not here
    assert "serving with scikit-learn, not ONNX Runtime" in caplog.text and "disagrees" in caplog.text
    forest = joblib.load(demo_dir / "model.joblib")
    np.testing.assert_array_equal(model.predict(fresh_rows(50))["label"], forest.predict(fresh_rows(50)))


def test_an_unconvertible_model_falls_back_to_sklearn(demo_dir, monkeypatch):
    def refuse(estimator, n_features, input_dtype):
        raise RuntimeError("Unable to find a shape calculator")

    monkeypatch.setattr(conversion, "convert_estimator", refuse)
    model = load_model(str(demo_dir), isolate_conversion=False)
    assert model.metadata.runtime == "sklearn"
    assert "float32 graph: skl2onnx cannot convert RandomForestClassifier" in model.fallback_reason


def test_optimize_false_serves_sklearn_without_converting(sklearn_demo):
    assert sklearn_demo.metadata.runtime == "sklearn" and sklearn_demo.fallback_reason == "optimize=False"


# --- every way an artifact can be bad ----------------------------------------------------------


def _edit_metadata(directory: Path, **changes) -> None:
    path = directory / "metadata.json"
    document = json.loads(path.read_text())
    for dotted, value in changes.items():
        target = document
        *parents, leaf = dotted.split("__")
        for parent in parents:
            target = target[parent]
        target[leaf] = value
    path.write_text(json.dumps(document))


def test_missing_directory(tmp_path):
    with pytest.raises(ModelLoadError) as error:
        load_model(str(tmp_path / "nowhere"))
    assert (error.value.what, error.value.where) == ("model directory missing", str(tmp_path / "nowhere"))


def test_missing_model_file(artifact_copy):
    (artifact_copy / "model.joblib").unlink()
    with pytest.raises(ModelLoadError) as error:
        load_model(str(artifact_copy))
    assert (error.value.what, error.value.where) == ("model file missing", str(artifact_copy / "model.joblib"))


def test_missing_metadata_file(artifact_copy):
    (artifact_copy / "metadata.json").unlink()
    with pytest.raises(ModelLoadError) as error:
        load_model(str(artifact_copy))
    assert (error.value.what, error.value.where) == ("metadata file missing", str(artifact_copy / "metadata.json"))


def test_checksum_mismatch(artifact_copy):
    with (artifact_copy / "model.joblib").open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ModelLoadError) as error:
        load_model(str(artifact_copy))
    assert (error.value.what, error.value.where) == ("checksum mismatch", str(artifact_copy / "model.joblib"))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"input__n_features": 0}, "input.n_features"),
        ({"input__dtype": "int8"}, "input.dtype"),
        ({"input__n_features": 21}, "feature_names has 20 names but n_features is 21"),
        ({"sha256": "abc"}, "sha256"),
        ({"version": 1}, "version"),
        ({"outputs": [{"name": "label", "datatype": "INT65", "shape": []}]}, "outputs.0"),
        ({"n_feature": 20}, "n_feature"),  # a misspelt key is rejected, not ignored
    ],
)
def test_bad_metadata_field_is_named(artifact_copy, changes, field):
    _edit_metadata(artifact_copy, **changes)
    with pytest.raises(ModelLoadError) as error:
        load_model(str(artifact_copy))
    assert (error.value.what, error.value.where) == ("bad metadata", str(artifact_copy / "metadata.json"))
    assert field in error.value.detail


def test_metadata_that_is_not_json(artifact_copy):
    (artifact_copy / "metadata.json").write_text("{name: demo")
    with pytest.raises(ModelLoadError, match="not valid JSON") as error:
        load_model(str(artifact_copy))
    assert error.value.what == "bad metadata"


def test_unknown_framework(artifact_copy):
    _edit_metadata(artifact_copy, framework="xgboost")
    with pytest.raises(ModelLoadError) as error:
        load_model(str(artifact_copy))
    assert (error.value.what, error.value.where) == ("unknown framework", str(artifact_copy / "metadata.json"))
    assert "'xgboost'" in error.value.detail


def test_outputs_that_do_not_fit_the_model(artifact_copy):
    _edit_metadata(artifact_copy, outputs=[{"name": "probabilities", "datatype": "FP32", "shape": [4]}])
    with pytest.raises(ModelLoadError, match=r"shape \(8, 3\), metadata declares \(8, 4\)") as error:
        load_model(str(artifact_copy), isolate_conversion=False)
    assert error.value.what == "model does not match metadata"


def test_an_output_sklearn_cannot_fill(artifact_copy):
    _edit_metadata(artifact_copy, outputs=[{"name": "scores", "datatype": "FP32", "shape": [3]}])
    with pytest.raises(ModelLoadError, match="not servable from a scikit-learn model") as error:
        load_model(str(artifact_copy))
    assert error.value.what == "bad metadata"


# --- other models: ONNX-native artifacts, string labels -----------------------------------------


def _small_problem():
    features, labels = make_classification(n_samples=300, n_features=6, n_informative=4, n_classes=3, random_state=3)
    return features.astype(np.float32), labels


def test_an_onnx_artifact_loads_and_serves(tmp_path):
    features, labels = _small_problem()
    estimator = LogisticRegression(max_iter=500).fit(features, labels)
    onnx_model, graph_outputs = conversion.convert_estimator(estimator, 6, "float32")
    assert graph_outputs == {"predict": "label", "predict_proba": "probabilities"}
    (tmp_path / "model.onnx").write_bytes(onnx_model)
    write_metadata(
        tmp_path,
        name="logreg",
        version="3",
        framework="onnx",
        feature_names=list("abcdef"),
        input_dtype="float32",
        outputs=[OutputSpec("probabilities", "FP64", (3,)), OutputSpec("label", "INT64", ())],
    )
    model = load_model(str(tmp_path))
    assert (model.metadata.framework, model.metadata.runtime) == ("onnx", "onnxruntime[CPUExecutionProvider]")
    outputs = model.predict(features[:40])
    assert list(outputs) == ["probabilities", "label"]  # metadata order, primary first
    assert outputs["probabilities"].dtype == np.float64  # the declared datatype, whatever the graph gives
    np.testing.assert_array_equal(outputs["label"], estimator.predict(features[:40]))
    np.testing.assert_allclose(outputs["probabilities"], estimator.predict_proba(features[:40]), atol=1e-5)


def test_an_onnx_artifact_whose_metadata_names_a_missing_output(tmp_path):
    features, labels = _small_problem()
    onnx_model, _ = conversion.convert_estimator(LogisticRegression().fit(features, labels), 6, "float32")
    (tmp_path / "model.onnx").write_bytes(onnx_model)
    write_metadata(
        tmp_path,
        name="m",
        version="1",
        framework="onnx",
        feature_names=list("abcdef"),
        input_dtype="float32",
        outputs=[OutputSpec("score", "FP32", ())],
    )
    with pytest.raises(ModelLoadError, match="output 'score' not among graph outputs") as error:
        load_model(str(tmp_path))
    assert (error.value.what, error.value.where) == ("model does not match metadata", str(tmp_path / "model.onnx"))


@pytest.mark.parametrize("optimize", [True, False], ids=["onnxruntime", "sklearn"])
def test_string_class_labels_are_bytes_outputs_of_str(tmp_path, optimize):
    features, labels = _small_problem()
    names = np.array(["cat", "dog", "emu"])[labels]
    tree = DecisionTreeClassifier(max_depth=4, random_state=0).fit(features, names)
    joblib.dump(tree, tmp_path / "model.joblib")
    write_metadata(
        tmp_path,
        name="animals",
        version="1",
        framework="sklearn",
        feature_names=list("abcdef"),
        input_dtype="float32",
        outputs=[OutputSpec("label", "BYTES", ())],
    )
    model = load_model(str(tmp_path), optimize=optimize, isolate_conversion=False)
    assert model.metadata.runtime.startswith("onnxruntime" if optimize else "sklearn")
    label = model.predict(features[:30])["label"]
    assert label.dtype == object and all(type(item) is str for item in label)
    assert label.tolist() == tree.predict(features[:30]).tolist()


# --- ONNX Runtime settings ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("available", "use_gpu", "expected"),
    [
        (["TensorrtExecutionProvider", CUDA, CPU], True, [CUDA, CPU]),
        ([CUDA, CPU], False, [CPU]),
        (["AzureExecutionProvider", CPU], True, [CPU]),
        ([CPU], True, [CPU]),
    ],
)
def test_provider_choice(available, use_gpu, expected):
    assert choose_providers(available, use_gpu=use_gpu) == expected


def test_one_thread_each_by_default_and_configurable():
    default = session_options()
    assert (default.intra_op_num_threads, default.inter_op_num_threads) == (1, 1)
    wider = session_options(intra_op_threads=4, inter_op_threads=2)
    assert (wider.intra_op_num_threads, wider.inter_op_num_threads) == (4, 2)
    with pytest.raises(ValueError, match="intra_op_threads=0"):
        session_options(intra_op_threads=0)


def test_check_sample_holds_the_shipped_rows_and_is_reproducible(optimized_demo, demo_dir):
    shipped = sample_rows(demo_dir)
    first = conversion.check_sample(N_FEATURES, "float32", shipped)
    assert first.shape == (len(shipped) + conversion.SAMPLE_SIZE, N_FEATURES) and first.dtype == np.float32
    np.testing.assert_array_equal(first[: len(shipped)], shipped)
    np.testing.assert_array_equal(first, conversion.check_sample(N_FEATURES, "float32", shipped))
