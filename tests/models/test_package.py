"""`package` round trips: each kind of model becomes an artifact that a real server on 127.0.0.1
serves, answering what the original model answers on rows it never saw."""

from __future__ import annotations

import json
import pickle
import warnings

import joblib
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from mlserve.models.__main__ import main
from mlserve.models.errors import BadInput, CannotPackage
from mlserve.models.package import package
from serving_app.models import load_model
from tests.models.conftest import COLUMNS, N_FEATURES
from tests.serving_app.conftest import serve


def served_predictions(artifact, rows):
    """POST /predict and /v2 infer to a real server over the artifact; (predictions, v2 outputs, model info)."""
    model = load_model(str(artifact), isolate_conversion=False)
    with serve(model) as server:
        predict = server.client.post("/predict", json={"instances": rows.tolist()}).json()
        body = {"inputs": [{"name": "input", "shape": list(rows.shape), "datatype": model.metadata.input_datatype,
                            "data": rows.ravel().tolist()}]}
        v2 = server.client.post(f"/v2/models/{model.metadata.name}/infer", json=body).json()
    return predict, {o["name"]: o for o in v2["outputs"]}


def unseen_rows(n=16):
    return np.random.default_rng(11).standard_normal((n, N_FEATURES)).astype(np.float32)


def test_a_classifier_with_probabilities_round_trips(tmp_path, data, sample_csv):
    from sklearn.ensemble import RandomForestClassifier

    features, classes, _ = data
    forest = RandomForestClassifier(n_estimators=20, max_depth=6, random_state=0).fit(features, classes)
    joblib.dump(forest, tmp_path / "forest.joblib")
    assert main(["package", str(tmp_path / "forest.joblib"), "--name", "fraud-model", "--version", "3",
                 "--sample", str(sample_csv), "--drop-column", "label", "--out", str(tmp_path / "art")]) == 0
    metadata = json.loads((tmp_path / "art" / "metadata.json").read_text())
    assert metadata["input"] == {"n_features": 5, "feature_names": COLUMNS, "dtype": "float64"}
    assert metadata["outputs"] == [{"name": "label", "datatype": "INT64", "shape": []},
                                   {"name": "probabilities", "datatype": "FP32", "shape": [3]}]
    assert metadata["check"] == {"rows": 40, "reference_dtype": "float64", "rtol": 1e-05, "atol": 1e-05,
                                 "labels": "equal", "outputs": {"label": {"rows_differing": 0},
                                                                "probabilities": metadata["check"]["outputs"]["probabilities"]}}
    assert metadata["check"]["outputs"]["probabilities"]["rows_differing"] == 0
    assert metadata["conversion"]["graph"] == "converted.onnx" and metadata["conversion"]["graph_input"] == "float64"
    assert set(metadata["files"]) == {"sample.json", "converted.onnx", "converted-check.json"}
    rows = unseen_rows()
    predict, v2 = served_predictions(tmp_path / "art", rows)
    assert predict["predictions"] == forest.predict(rows).tolist()
    assert np.allclose(predict["probabilities"], forest.predict_proba(rows), atol=1e-5)
    assert predict["model"] == {"name": "fraud-model", "version": "3"}
    assert np.allclose(np.reshape(v2["probabilities"]["data"], (16, 3)), forest.predict_proba(rows), atol=1e-5)


def test_a_regressor_round_trips(tmp_path, data, sample_csv):
    from sklearn.linear_model import Ridge

    features, _, target = data
    ridge = Ridge().fit(features, target)
    with (tmp_path / "ridge.pkl").open("wb") as handle:  # a plain pickle, not joblib
        pickle.dump(ridge, handle)
    package(tmp_path / "ridge.pkl", tmp_path / "art", name="price", version="1", sample_path=sample_csv,
            drop_columns=("label",), dtype="float64")
    metadata = json.loads((tmp_path / "art" / "metadata.json").read_text())
    assert metadata["outputs"] == [{"name": "prediction", "datatype": "FP64", "shape": []}]
    rows = unseen_rows().astype(np.float64)
    predict, _ = served_predictions(tmp_path / "art", rows)
    assert np.allclose(predict["predictions"], ridge.predict(rows), rtol=1e-5)


def test_a_pipeline_with_a_scaler_fitted_on_named_columns_round_trips(tmp_path, data, sample_csv):
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features, classes, _ = data
    # Fitted on a DataFrame whose columns are in another order than the sample file's.
    order = list(reversed(COLUMNS))
    frame = pd.DataFrame(features, columns=COLUMNS)[order]
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(frame, classes)
    joblib.dump(pipeline, tmp_path / "pipeline.joblib")
    result = package(tmp_path / "pipeline.joblib", tmp_path / "art", name="churn", version="7",
                     sample_path=sample_csv, drop_columns=("label",))
    assert json.loads((tmp_path / "art" / "metadata.json").read_text())["input"]["feature_names"] == order
    # sample.json holds the CSV's rows in the model's column order.
    first_row = json.loads((tmp_path / "art" / "sample.json").read_text())["rows"][0]
    assert np.allclose(first_row, features[0][::-1], atol=1e-6)
    assert result.n_features == 5
    rows = unseen_rows()  # in the model's own column order
    predict, v2 = served_predictions(tmp_path / "art", rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert predict["predictions"] == pipeline.predict(rows).tolist()
        assert np.allclose(np.reshape(v2["probabilities"]["data"], (16, 3)), pipeline.predict_proba(rows), atol=1e-5)


def test_an_onnx_file_round_trips_and_its_zipmap_output_is_left_out(tmp_path, data, sample_csv):
    from skl2onnx import to_onnx
    from sklearn.tree import DecisionTreeClassifier

    features, classes, _ = data
    tree = DecisionTreeClassifier(max_depth=5, random_state=0).fit(features.astype(np.float32), classes)
    onnx_model = to_onnx(tree, features[:1].astype(np.float32))  # with ZipMap: a non-tensor output
    (tmp_path / "tree.onnx").write_bytes(onnx_model.SerializeToString())
    package(tmp_path / "tree.onnx", tmp_path / "art", name="tree", version="1", sample_path=sample_csv,
            drop_columns=("label",))
    metadata = json.loads((tmp_path / "art" / "metadata.json").read_text())
    assert metadata["framework"] == "onnx"
    assert [o["name"] for o in metadata["outputs"]] == ["output_label"]  # output_probability is a ZipMap
    rows = unseen_rows()
    predict, _ = served_predictions(tmp_path / "art", rows)
    assert predict["predictions"] == tree.predict(rows).tolist()


@pytest.mark.parametrize("serialization_format", ["skops", "cloudpickle"])
def test_an_mlflow_directory_written_by_mlflow_round_trips(tmp_path, data, sample_csv, serialization_format):
    import mlflow.sklearn
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features, classes, _ = data
    frame = pd.DataFrame(features, columns=COLUMNS)
    # MLflow's default format, skops, refuses tree models unless their type is trusted by name.
    model = (make_pipeline(StandardScaler(), LogisticRegression()) if serialization_format == "skops"
             else GradientBoostingClassifier(n_estimators=20, random_state=0)).fit(frame, classes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # pip_requirements given: MLflow's own inference of them runs pip in a subprocess (10 s, 100 s on a busy machine)
        mlflow.sklearn.save_model(model, str(tmp_path / "mlflow-model"), serialization_format=serialization_format,
                                  signature=infer_signature(frame, model.predict(frame)), pip_requirements=["scikit-learn"])
    assert (tmp_path / "mlflow-model" / "MLmodel").is_file()
    package(tmp_path / "mlflow-model", tmp_path / "art", name="gbm", version="2", sample_path=sample_csv,
            drop_columns=("label",))
    rows = unseen_rows()
    predict, v2 = served_predictions(tmp_path / "art", rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert predict["predictions"] == model.predict(rows).tolist()
        assert np.allclose(np.reshape(v2["probabilities"]["data"], (16, 3)), model.predict_proba(rows), atol=1e-5)


def test_a_parquet_sample_is_read(tmp_path, data):
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sklearn.linear_model import LinearRegression

    features, _, target = data
    pq.write_table(pa.table({name: features[:30, i] for i, name in enumerate(COLUMNS)}), tmp_path / "rows.parquet")
    joblib.dump(LinearRegression().fit(features, target), tmp_path / "lr.joblib")
    package(tmp_path / "lr.joblib", tmp_path / "art", name="lr", version="1", sample_path=tmp_path / "rows.parquet")
    assert len(json.loads((tmp_path / "art" / "sample.json").read_text())["rows"]) == 30


def test_an_unsupported_estimator_is_refused_and_nothing_is_left_behind(tmp_path, data, sample_csv, capsys):
    from sklearn.preprocessing import StandardScaler

    joblib.dump(StandardScaler().fit(data[0]), tmp_path / "scaler.joblib")
    code = main(["package", str(tmp_path / "scaler.joblib"), "--name", "s", "--version", "1",
                 "--sample", str(sample_csv), "--drop-column", "label", "--out", str(tmp_path / "art")])
    assert code == CannotPackage.exit_code
    error = capsys.readouterr().err
    assert error.startswith("error: ") and "unsupported estimator StandardScaler" in error and error.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scaler.joblib"]


def test_a_model_failing_on_the_sample_is_refused_and_nothing_is_left_behind(tmp_path, sample_csv):
    from sklearn.ensemble import RandomForestClassifier

    forest = RandomForestClassifier(n_estimators=3).fit(np.random.default_rng(0).standard_normal((50, 5)),
                                                        np.arange(50) % 2)
    forest.estimators_ = None  # a broken model: predict raises
    joblib.dump(forest, tmp_path / "broken.joblib")
    with pytest.raises(CannotPackage, match="prediction fails on the sample"):
        package(tmp_path / "broken.joblib", tmp_path / "art", name="b", version="1", sample_path=sample_csv,
                drop_columns=("label",))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.joblib"]


def test_an_onnx_model_with_only_a_zipmap_output_cannot_be_typed(tmp_path, data, sample_csv):
    import onnx
    from skl2onnx import to_onnx
    from sklearn.tree import DecisionTreeClassifier

    features, classes, _ = data
    graph = to_onnx(DecisionTreeClassifier(max_depth=2).fit(features.astype(np.float32), classes),
                    features[:1].astype(np.float32))
    kept = [o for o in graph.graph.output if o.name == "output_probability"]
    del graph.graph.output[:]
    graph.graph.output.extend(kept)
    onnx.save(graph, tmp_path / "zipmap.onnx")
    with pytest.raises(CannotPackage, match="no tensor outputs"):
        package(tmp_path / "zipmap.onnx", tmp_path / "art", name="z", version="1", sample_path=sample_csv,
                drop_columns=("label",))
    assert not (tmp_path / "art").exists()


def test_sample_rows_are_required_unless_synthesizing_is_asked_for(tmp_path, data):
    from sklearn.linear_model import LinearRegression

    joblib.dump(LinearRegression().fit(data[0], data[2]), tmp_path / "lr.joblib")
    with pytest.raises(BadInput, match="--sample"):
        package(tmp_path / "lr.joblib", tmp_path / "art", name="lr", version="1")
    package(tmp_path / "lr.joblib", tmp_path / "art", name="lr", version="1", synthesize_rows=8)
    assert json.loads((tmp_path / "art" / "metadata.json").read_text())["input"]["feature_names"] == [
        f"f{i}" for i in range(5)]


def test_an_existing_output_directory_and_bad_names_are_refused(tmp_path, data, sample_csv):
    from sklearn.linear_model import LinearRegression

    joblib.dump(LinearRegression().fit(data[0], data[2]), tmp_path / "lr.joblib")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    with pytest.raises(BadInput, match="not empty"):
        package(tmp_path / "lr.joblib", tmp_path / "taken", name="lr", version="1", synthesize_rows=8)
    assert (tmp_path / "taken" / "keep.txt").read_text() == "mine"
    with pytest.raises(BadInput, match="--name"):
        package(tmp_path / "lr.joblib", tmp_path / "a", name="Fraud Model", version="1", synthesize_rows=8)
    with pytest.raises(BadInput, match="local-"):
        package(tmp_path / "lr.joblib", tmp_path / "a", name="lr", version="local-1", synthesize_rows=8)


def test_a_model_the_server_does_not_reproduce_is_refused(tmp_path, data, sample_csv):
    from tests.models.flaky_model import FlakyClassifier

    joblib.dump(FlakyClassifier().fit(data[0], data[1]), tmp_path / "flaky.joblib")
    with pytest.raises(CannotPackage, match="the server's answers differ from the model's on the float64 sample rows"):
        package(tmp_path / "flaky.joblib", tmp_path / "art", name="flaky", version="1", sample_path=sample_csv,
                drop_columns=("label",))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flaky.joblib"]


def test_the_defaults_reproduce_a_model_that_float32_would_change(tmp_path, capsys):
    """HistGradientBoosting compares in float64: rows of large-magnitude features rounded to float32
    cross its thresholds. The default keeps float64 and answers exactly; --dtype float32 is
    allowed, and says (and records) what it changes on the sample."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    rng = np.random.default_rng(0)
    features = rng.standard_normal((800, 3)) * [1e-3, 1, 1] + [1.7e9, 0, 0]  # a timestamp-like first column
    target = (features[:, 0] - 1.7e9) * 1e5 + features[:, 1]
    with threadpool_limits(limits=1):  # OpenMP workers spinning on a busy machine make fit 10x slower
        model = HistGradientBoostingRegressor(max_iter=50, random_state=0).fit(features, target)
    joblib.dump(model, tmp_path / "hgb.joblib")
    sample = tmp_path / "rows.csv"
    sample.write_text("t,a,b\n" + "".join(",".join(repr(float(v)) for v in row) + "\n" for row in features[:16]))
    as_given = features[:16]

    assert main(["package", str(tmp_path / "hgb.joblib"), "--name", "hgb", "--version", "1", "--sample", str(sample),
                 "--out", str(tmp_path / "exact")]) == 0
    assert "answers like the model on the 16 sample rows as given" in capsys.readouterr().out
    metadata = json.loads((tmp_path / "exact" / "metadata.json").read_text())
    assert metadata["input"]["dtype"] == "float64"
    assert metadata["check"]["outputs"]["prediction"]["rows_differing"] == 0
    predict, _ = served_predictions(tmp_path / "exact", as_given)
    np.testing.assert_allclose(predict["predictions"], model.predict(as_given), rtol=1e-5, atol=1e-5)

    assert main(["package", str(tmp_path / "hgb.joblib"), "--name", "hgb", "--version", "2", "--sample", str(sample),
                 "--dtype", "float32", "--out", str(tmp_path / "narrow")]) == 0
    note = capsys.readouterr().out.split("note: ", 1)[1]
    narrowed = model.predict(as_given.astype(np.float32))
    differing = int((~np.isclose(narrowed, model.predict(as_given), rtol=1e-5, atol=1e-5)).sum())
    assert differing >= 4  # what float32 does to this model: the reason the default is float64
    assert note.startswith(f"--dtype float32 changes the answers on the sample as given: prediction differs on "
                           f"{differing} of 16 rows (max |diff| ")
    recorded = json.loads((tmp_path / "narrow" / "metadata.json").read_text())
    assert recorded["input"]["dtype"] == "float32"
    assert recorded["check"]["reference_dtype"] == "float64"
    assert recorded["check"]["outputs"]["prediction"]["rows_differing"] == differing
    assert recorded["check"]["outputs"]["prediction"]["max_abs_diff"] == pytest.approx(
        np.abs(narrowed - model.predict(as_given)).max(), rel=1e-6)


def test_dtype_cannot_contradict_an_onnx_graph(tmp_path, data, sample_csv):
    from skl2onnx import to_onnx
    from sklearn.linear_model import LinearRegression

    features, _, target = data
    graph = to_onnx(LinearRegression().fit(features.astype(np.float32), target), features[:1].astype(np.float32))
    (tmp_path / "lr.onnx").write_bytes(graph.SerializeToString())
    with pytest.raises(BadInput, match="the ONNX graph's input is float32; leave --dtype out"):
        package(tmp_path / "lr.onnx", tmp_path / "art", name="lr", version="1", sample_path=sample_csv,
                drop_columns=("label",), dtype="float64")


def test_an_mlflow_onnx_flavour_naming_a_missing_file_is_one_line_exit_2(tmp_path, sample_csv, capsys):
    (tmp_path / "mlflow-model").mkdir()
    (tmp_path / "mlflow-model" / "MLmodel").write_text("flavors:\n  onnx:\n    data: model.onnx\n")
    code = main(["package", str(tmp_path / "mlflow-model"), "--name", "m", "--version", "1",
                 "--sample", str(sample_csv), "--out", str(tmp_path / "art")])
    error = capsys.readouterr().err
    assert code == BadInput.exit_code == 2
    assert error == f"error: {tmp_path / 'mlflow-model' / 'model.onnx'}: named by MLmodel's onnx flavour but missing\n"


def test_a_sample_missing_a_column_names_it(tmp_path, data):
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    features, _, target = data
    model = LinearRegression().fit(pd.DataFrame(features, columns=COLUMNS), target)
    joblib.dump(model, tmp_path / "lr.joblib")
    (tmp_path / "rows.csv").write_text("x0,x1,x2,x4,label\n1,2,3,4,0\n")
    with pytest.raises(BadInput, match=r"the sample has no column 'x3': the model takes x0, x1, x2, x3, x4; "
                                       r"the sample has x0, x1, x2, x4, label"):
        package(tmp_path / "lr.joblib", tmp_path / "art", name="lr", version="1", sample_path=tmp_path / "rows.csv")


@pytest.mark.parametrize("file_name", ["model.sav", "model.joblib.gz", "model.pkl.xz"])
def test_the_usual_names_and_compressions_of_a_saved_model_are_read(tmp_path, data, sample_csv, file_name):
    from sklearn.linear_model import LogisticRegression

    features, classes, _ = data
    model = LogisticRegression(max_iter=300).fit(features, classes)
    joblib.dump(model, tmp_path / file_name)  # joblib compresses by the extension (.gz, .xz)
    result = package(tmp_path / file_name, tmp_path / "art", name="m", version="1", sample_path=sample_csv,
                     drop_columns=("label",))
    assert result.framework == "sklearn"
    predict, _ = served_predictions(tmp_path / "art", unseen_rows().astype(np.float64))
    assert predict["predictions"] == model.predict(unseen_rows().astype(np.float64)).tolist()


def test_a_dataframe_fitted_model_packages_without_a_warning(tmp_path, data, sample_csv):
    """Run as a user runs it: the tool's whole stderr after a successful package is empty."""
    import subprocess
    import sys

    import pandas as pd
    from sklearn.ensemble import GradientBoostingClassifier

    from tests.conftest import ROOT

    features, classes, _ = data
    model = GradientBoostingClassifier(n_estimators=20, random_state=0).fit(pd.DataFrame(features, columns=COLUMNS), classes)
    joblib.dump(model, tmp_path / "gbm.joblib")
    result = subprocess.run([sys.executable, "-m", "mlserve.models", "package", str(tmp_path / "gbm.joblib"),
                             "--name", "gbm", "--version", "1", "--sample", str(sample_csv), "--out", str(tmp_path / "art")],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "note: sample columns ['label'] are not features of the model and were left out" in result.stdout


def test_an_mlflow_directory_with_the_onnx_flavour_round_trips(tmp_path, data, sample_csv):
    import mlflow.onnx
    from skl2onnx import to_onnx
    from sklearn.linear_model import LinearRegression

    features, _, target = data
    regression = LinearRegression().fit(features.astype(np.float32), target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.onnx.save_model(to_onnx(regression, features[:1].astype(np.float32)), str(tmp_path / "mlflow-onnx"),
                               pip_requirements=["onnx"])
    package(tmp_path / "mlflow-onnx", tmp_path / "art", name="onnx-lr", version="1", sample_path=sample_csv,
            drop_columns=("label",))
    assert json.loads((tmp_path / "art" / "metadata.json").read_text())["framework"] == "onnx"
    rows = unseen_rows()
    predict, _ = served_predictions(tmp_path / "art", rows)
    assert np.allclose(np.ravel(predict["predictions"]), regression.predict(rows), rtol=1e-4, atol=1e-4)


def test_string_class_labels_are_served_as_bytes(tmp_path, data, sample_csv):
    from sklearn.tree import DecisionTreeClassifier

    features, classes, _ = data
    labels = np.array(["ok", "review", "fraud"])[classes]
    tree = DecisionTreeClassifier(max_depth=4, random_state=0).fit(features, labels)
    joblib.dump(tree, tmp_path / "tree.joblib")
    package(tmp_path / "tree.joblib", tmp_path / "art", name="labels", version="1", sample_path=sample_csv,
            drop_columns=("label",))
    outputs = json.loads((tmp_path / "art" / "metadata.json").read_text())["outputs"]
    assert outputs[0] == {"name": "label", "datatype": "BYTES", "shape": []}
    rows = unseen_rows()
    predict, _ = served_predictions(tmp_path / "art", rows)
    assert predict["predictions"] == tree.predict(rows).tolist()
