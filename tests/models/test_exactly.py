"""Issue 18's "your model, exactly": models of the kinds users bring, none written for this
project's benefit, packaged with the defaults, served over real HTTP on 127.0.0.1, and asked
every way a client asks (/predict by position and by name, /invocations JSON and CSV, V2
infer). Every answer is compared with the original model's own answers on the sample rows as
given: labels exactly, numbers within the tolerance package wrote into metadata.json."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from mlserve.models.__main__ import main
from serving_app.models import load_model
from tests.serving_app.conftest import serve


@dataclass
class UserModel:
    """A trained model file, its sample CSV, and what the original answers on the sample."""

    path: Path
    sample: Path
    columns: list[str]  # the sample's feature columns, in the file's order
    rows: np.ndarray  # the sample's feature rows as given (float64), in the file's column order
    expected: dict[str, list]  # output name -> the original model's answers on `rows`
    drop: tuple[str, ...] = ()


def _write_sample(path: Path, columns: list[str], rows: np.ndarray, extra: dict[str, list] | None = None) -> None:
    extra = extra or {}
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*columns, *extra])
        for index, row in enumerate(rows):
            writer.writerow([repr(float(v)) for v in row] + [values[index] for values in extra.values()])


def _hgb_regressor(root: Path) -> UserModel:
    """Float64 thresholds: a float32 server would answer otherwise on rows like these."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    rng = np.random.default_rng(10)
    rows = rng.standard_normal((600, 4)) * [1e-3, 1, 10, 1] + [1.7e9, 0, 0, 5]
    target = (rows[:, 0] - 1.7e9) * 1e5 + rows[:, 2] * 3
    model = HistGradientBoostingRegressor(max_iter=40, random_state=0).fit(rows, target)
    columns = ["ts", "a", "b", "c"]
    joblib.dump(model, root / "model.joblib")
    _write_sample(root / "rows.csv", columns, rows[:16])
    return UserModel(root / "model.joblib", root / "rows.csv", columns, rows[:16], {"predictions": model.predict(rows[:16]).tolist()})


def _pipeline_scaler_linear(root: Path) -> UserModel:
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(11)
    rows = rng.standard_normal((300, 5)) * [1, 100, 0.01, 5, 1e4]
    target = rows @ [2, 0.03, 50, -1, 1e-4] + 7
    model = make_pipeline(StandardScaler(), Ridge(alpha=0.5)).fit(rows, target)
    joblib.dump(model, root / "model.pkl")
    columns = [f"x{i}" for i in range(5)]
    _write_sample(root / "rows.csv", columns, rows[:20], {"target": target[:20].tolist()})
    return UserModel(root / "model.pkl", root / "rows.csv", columns, rows[:20], {"predictions": model.predict(rows[:20]).tolist()},
                     drop=("target",))


def _string_label_classifier(root: Path) -> UserModel:
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(12)
    rows = rng.standard_normal((400, 6))
    labels = np.array(["low", "mid", "high"])[(rows[:, 0] > 0).astype(int) + (rows[:, 1] > 0.8)]
    model = RandomForestClassifier(n_estimators=15, max_depth=6, random_state=0).fit(rows, labels)
    joblib.dump(model, root / "model.joblib")
    columns = [f"s{i}" for i in range(6)]
    _write_sample(root / "rows.csv", columns, rows[:24], {"label": labels[:24].tolist()})
    return UserModel(root / "model.joblib", root / "rows.csv", columns, rows[:24],
                     {"predictions": model.predict(rows[:24]).tolist(), "probabilities": model.predict_proba(rows[:24]).tolist()},
                     drop=("label",))


def _gb_classifier_on_a_dataframe(root: Path) -> UserModel:
    """Fitted on named columns; the sample file has them in another order, and an id column."""
    import pandas as pd
    from sklearn.ensemble import GradientBoostingClassifier

    rng = np.random.default_rng(13)
    names = ["age", "income", "tenure", "visits"]
    frame = pd.DataFrame(rng.standard_normal((400, 4)) * [10, 1000, 3, 2] + [40, 5000, 5, 3], columns=names)
    labels = ((frame["income"] > 5000) & (frame["age"] > 35)).astype(int)
    model = GradientBoostingClassifier(n_estimators=25, random_state=0).fit(frame, labels)
    joblib.dump(model, root / "model.joblib")
    file_order = ["visits", "age", "tenure", "income"]
    rows = frame[file_order].to_numpy()[:20]
    _write_sample(root / "rows.csv", file_order, rows, {"customer_id": list(range(20))})
    answers = model.predict(frame.iloc[:20]), model.predict_proba(frame.iloc[:20])  # the model's own way: a DataFrame
    return UserModel(root / "model.joblib", root / "rows.csv", file_order, rows,
                     {"predictions": answers[0].tolist(), "probabilities": answers[1].tolist()})


def _onnx_classifier(root: Path) -> UserModel:
    import onnxruntime
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(14)
    rows = rng.standard_normal((300, 3)).astype(np.float32)
    labels = (rows[:, 0] + rows[:, 2] > 0).astype(int)
    graph = to_onnx(LogisticRegression().fit(rows, labels), rows[:1], options={"zipmap": False})
    (root / "model.onnx").write_bytes(graph.SerializeToString())
    columns = ["p", "q", "r"]
    _write_sample(root / "rows.csv", columns, rows[:16])
    session = onnxruntime.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    label, probabilities = session.run(None, {session.get_inputs()[0].name: rows[:16]})
    return UserModel(root / "model.onnx", root / "rows.csv", columns, rows[:16].astype(np.float64),
                     {"predictions": label.tolist(), "probabilities": probabilities.tolist()})


def _forest_regressor(root: Path) -> UserModel:
    from sklearn.ensemble import RandomForestRegressor

    rng = np.random.default_rng(15)
    rows = rng.standard_normal((400, 3)) * 1000
    model = RandomForestRegressor(n_estimators=15, max_depth=8, random_state=0).fit(rows, rows[:, 0] * rows[:, 1])
    joblib.dump(model, root / "model.joblib")
    columns = ["u", "v", "w"]
    _write_sample(root / "rows.csv", columns, rows[:16])
    return UserModel(root / "model.joblib", root / "rows.csv", columns, rows[:16], {"predictions": model.predict(rows[:16]).tolist()})


MODELS = {
    "hist-gradient-boosting-regressor": _hgb_regressor,
    "pipeline-scaler-ridge": _pipeline_scaler_linear,
    "forest-with-string-labels": _string_label_classifier,
    "gradient-boosting-on-a-dataframe": _gb_classifier_on_a_dataframe,
    "onnx-classifier": _onnx_classifier,
    "forest-regressor": _forest_regressor,
}


@pytest.fixture(scope="module", params=list(MODELS))
def packaged(request, tmp_path_factory) -> tuple[UserModel, Path, dict]:
    root = tmp_path_factory.mktemp(request.param)
    with threadpool_limits(limits=1):  # training on a busy machine: spinning OpenMP workers cost 10x
        user = MODELS[request.param](root)
    argv = ["package", str(user.path), "--name", request.param, "--version", "1", "--sample", str(user.sample),
            "--out", str(root / "artifact")]
    for column in user.drop:
        argv += ["--drop-column", column]
    assert main(argv) == 0
    return user, root / "artifact", json.loads((root / "artifact" / "metadata.json").read_text())


def _agrees(served: list, expected: list, check: dict, *, numeric: bool) -> None:
    if numeric:
        np.testing.assert_allclose(np.asarray(served, dtype=np.float64), np.asarray(expected, dtype=np.float64),
                                   rtol=check["rtol"], atol=check["atol"])
    else:
        assert served == expected


def test_packaged_with_the_defaults_the_server_answers_what_the_model_answers(packaged):
    user, artifact, metadata = packaged
    check = metadata["check"]
    assert (check["rtol"], check["atol"]) == (1e-5, 1e-5)  # the tolerance written down
    assert all(out["rows_differing"] == 0 for out in check["outputs"].values())
    features = metadata["input"]["feature_names"]
    order = [user.columns.index(name) for name in features]
    by_position = user.rows[:, order]  # the model's own feature order
    primary_is_number = metadata["outputs"][0]["datatype"].startswith("FP")
    model = load_model(str(artifact))
    with serve(model) as server:
        client = server.client
        answers = {
            "/predict by position": client.post("/predict", json={"instances": by_position.tolist()}).json(),
            # keys in the sample file's order, not the model's: the server must not care
            "/predict by name": client.post("/predict", json={"instances": [
                dict(zip(user.columns, row)) for row in user.rows.tolist()]}).json(),
            "/invocations JSON": client.post("/invocations", json=by_position.tolist()).json(),
        }
        csv_body = "\n".join(",".join(repr(v) for v in row) for row in by_position.tolist())
        csv_answer = client.post("/invocations", content=csv_body, headers={"content-type": "text/csv",
                                                                            "accept": "text/csv"}).text
        v2 = client.post(f"/v2/models/{metadata['name']}/infer", json={"inputs": [{
            "name": "input", "shape": list(by_position.shape), "datatype": model.metadata.input_datatype,
            "data": by_position.ravel().tolist()}]}).json()
    for route, answer in answers.items():
        assert "predictions" in answer, (route, answer)
        _agrees(answer["predictions"], user.expected["predictions"], check, numeric=primary_is_number)
        if "probabilities" in user.expected and route.startswith("/predict"):
            _agrees(answer["probabilities"], user.expected["probabilities"], check, numeric=True)
    csv_values = [float(line) if primary_is_number else line for line in csv_answer.splitlines()]
    if not primary_is_number and isinstance(user.expected["predictions"][0], int):
        csv_values = [int(value) for value in csv_values]
    _agrees(csv_values, user.expected["predictions"], check, numeric=primary_is_number)
    v2_outputs = {o["name"]: o for o in v2["outputs"]}
    primary = v2_outputs[metadata["outputs"][0]["name"]]
    _agrees(primary["data"], user.expected["predictions"], check, numeric=primary_is_number)


def test_the_artifact_says_how_it_is_served(packaged):
    user, artifact, metadata = packaged
    dtype = metadata["input"]["dtype"]
    if metadata["framework"] == "onnx":
        assert dtype == "float32"  # the graph's own input type
    else:
        assert dtype == "float64"  # what JSON numbers are: no rounding between the client and the model
        conversion = metadata["conversion"]
        assert ("graph" in conversion) != ("failed" in conversion)
