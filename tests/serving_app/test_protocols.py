"""Every route of every protocol, over real HTTP, against the deterministic fake model."""

from __future__ import annotations

import json

import pytest

from tests.serving_app.fakes import N_FEATURES, NAME, VERSION, expected_score

ROWS = [[1.0, 2.0, 3.0, 4.0], [0.5, -1.0, 0.0, 2.0], [10, 20, 30, 40]]
SCORES = [expected_score(row) for row in ROWS]
PAIRS = [[row[0], 2 * row[1]] for row in ROWS]
NAMED = [{f"f{i}": row[i] for i in reversed(range(N_FEATURES))} for row in ROWS]  # keys in another order


# --- plain /predict ----------------------------------------------------------------------

def test_predict_returns_every_output_per_row_and_the_model(fake_server):
    """`predictions` is the primary output (KServe V1's key); every other output follows by name,
    as a classifier's `probabilities` do."""
    response = fake_server.client.post("/predict", json={"instances": ROWS})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"predictions": SCORES, "pair": PAIRS, "model": {"name": NAME, "version": VERSION}}
    assert list(response.json()) == ["predictions", "pair", "model"]


@pytest.mark.parametrize("route", ["/predict", "/invocations"])
def test_rows_keyed_by_feature_name_in_any_order(fake_server, route):
    response = fake_server.client.post(route, json={"instances": NAMED})
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == SCORES
    mixed = fake_server.client.post(route, json={"instances": [NAMED[0], ROWS[1]]})  # one named, one by position
    assert mixed.json()["predictions"] == SCORES[:2]


@pytest.mark.parametrize(("row", "message"), [
    ({"f0": 1, "f1": 2, "f2": 3}, "row 0: missing feature 'f3'; the model takes 'f0', 'f1', 'f2', 'f3'"),
    ({"f0": 1, "f1": 2, "f2": 3, "f3": 4, "age": 5}, "row 0: unknown feature 'age'"),
    ({"f0": 1, "f1": 2, "f2": 3, "F3": 4}, "row 0: missing feature 'f3'; unknown feature 'F3'"),
    ({"f0": 1, "f1": 2, "f2": "3", "f3": 4}, "row 0, column 2: '3' is not a number (feature 'f2')"),
], ids=["missing", "unknown", "misspelt", "not-a-number"])
@pytest.mark.parametrize("route", ["/predict", "/invocations"])
def test_a_named_row_missing_or_adding_a_feature_is_a_400_naming_it(fake_server, route, row, message):
    response = fake_server.client.post(route, json={"instances": [row]})
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_predict_accepts_json_with_charset(fake_server):
    response = fake_server.client.post("/predict", content=b'{"instances": [[1, 2, 3, 4]]}',
                                       headers={"content-type": "application/json; charset=utf-8"})
    assert response.status_code == 200
    assert response.json()["predictions"] == [30.0]


# --- SageMaker -----------------------------------------------------------------------------

def test_ping_is_200_when_ready(fake_server):
    assert fake_server.client.get("/ping").status_code == 200


@pytest.mark.parametrize("body", [{"instances": ROWS}, ROWS], ids=["instances", "bare-list"])
def test_invocations_json(fake_server, body):
    response = fake_server.client.post("/invocations", json=body)
    assert response.status_code == 200
    assert response.json() == {"predictions": SCORES}


def test_invocations_csv_in_json_out(fake_server):
    csv = "1,2,3,4\n0.5,-1,0,2\n\n10,20,30,40\n"
    response = fake_server.client.post("/invocations", content=csv, headers={"content-type": "text/csv"})
    assert response.status_code == 200
    assert response.json() == {"predictions": SCORES}


def test_invocations_csv_in_csv_out(fake_server):
    response = fake_server.client.post("/invocations", content="1,2,3,4\n10,20,30,40",
                                       headers={"content-type": "text/csv", "accept": "text/csv"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv"
    assert response.text == "30.0\n300.0\n"


def test_invocations_accept_list_picks_first_producible(fake_server):
    response = fake_server.client.post("/invocations", json=ROWS[:1],
                                       headers={"accept": "text/csv;q=1, application/json;q=0.5"})
    assert response.text == "30.0\n"


def test_invocations_large_csv_answers_every_row_in_order(fake_server):
    rows = [[i, -i / 7, i % 13, 0.25] for i in range(1000)]
    body = "\r\n".join(",".join(repr(float(v)) for v in row) for row in rows)  # CRLF, as Windows writes it
    response = fake_server.client.post("/invocations", content=body, headers={"content-type": "text/csv"})
    assert response.status_code == 200
    assert response.json()["predictions"] == [pytest.approx(expected_score(row), rel=1e-6) for row in rows]


@pytest.mark.parametrize(("body", "words"), [
    ("1,2,3,4\n1,2,3\n", "row 1 has 3 values"),
    ("1,2,3\n4,5,6\n", "row 0 has 3 values"),
    ("1,2,3,4\n5,6,x,8\n", "CSV line 2, column 2: 'x' is not a number"),
    ("1,2,3,4\n5,6,,8\n", "CSV line 2, column 2: '' is not a number"),
    ("1,2,3,4\n1e40,0,0,0\n", "row 1, column 0: 1e+40 is not a finite float32 number"),
])
def test_invocations_bad_csv_is_400_naming_the_row_or_cell(fake_server, body, words):
    response = fake_server.client.post("/invocations", content=body, headers={"content-type": "text/csv"})
    assert response.status_code == 400
    assert words in response.json()["error"]


def test_invocations_jsonlines_in_several_lines_and_out_one_line_per_row(fake_server):
    body = b"[1, 2, 3, 4]\n\n[0.5, -1, 0, 2]\n[10, 20, 30, 40]"  # a blank line is skipped, no final newline
    response = fake_server.client.post("/invocations", content=body, headers={
        "content-type": "application/jsonlines", "accept": "application/jsonlines"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/jsonlines"
    assert response.text == "30.0\n6.5\n300.0\n"
    assert [json.loads(line) for line in response.text.splitlines()] == SCORES


def test_invocations_jsonlines_in_json_out_and_csv_in_jsonlines_out(fake_server):
    lines = "".join(json.dumps(row) + "\n" for row in ROWS)
    as_json = fake_server.client.post("/invocations", content=lines, headers={"content-type": "application/jsonlines"})
    assert as_json.json() == {"predictions": SCORES}
    as_lines = fake_server.client.post("/invocations", content="1,2,3,4\n10,20,30,40\n",
                                       headers={"content-type": "text/csv", "accept": "application/jsonlines"})
    assert as_lines.text == "30.0\n300.0\n"


@pytest.mark.parametrize(("body", "words"), [
    (b"[1, 2, 3, 4]\n[1, 2,\n", "line 2 is not JSON"),
    (b"\n  \n", "no lines"),
    (b"[1, 2, 3]\n", "row 0 has 3 values"),
])
def test_invocations_bad_jsonlines_is_400_naming_the_line(fake_server, body, words):
    response = fake_server.client.post("/invocations", content=body, headers={"content-type": "application/jsonlines"})
    assert response.status_code == 400
    assert words in response.json()["error"]


def test_invocations_unproducible_accept_is_406(fake_server):
    response = fake_server.client.post("/invocations", json=ROWS, headers={"accept": "application/x-protobuf"})
    assert response.status_code == 406
    assert "Accept" in response.json()["error"]


# --- Open Inference Protocol V2 --------------------------------------------------------------

def test_v2_server_metadata_and_health(fake_server):
    client = fake_server.client
    metadata = client.get("/v2").json()
    assert metadata["name"] == "mlserve" and "version" in metadata and metadata["extensions"] == []
    assert client.get("/v2/health/live").status_code == 200
    ready = client.get("/v2/health/ready")
    assert ready.status_code == 200 and ready.json() == {"ready": True}


@pytest.mark.parametrize("path", [f"/v2/models/{NAME}", f"/v2/models/{NAME}/versions/{VERSION}"])
def test_v2_model_metadata(fake_server, path):
    response = fake_server.client.get(path)
    assert response.status_code == 200
    assert response.json() == {
        "name": NAME,
        "versions": [VERSION],
        "platform": "fake",
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, N_FEATURES],
                    "parameters": {"feature_names": [f"f{i}" for i in range(N_FEATURES)]}}],
        "outputs": [{"name": "score", "datatype": "FP64", "shape": [-1]},
                    {"name": "pair", "datatype": "FP32", "shape": [-1, 2]}],
    }


@pytest.mark.parametrize("path", [f"/v2/models/{NAME}/ready", f"/v2/models/{NAME}/versions/{VERSION}/ready"])
def test_v2_model_ready(fake_server, path):
    response = fake_server.client.get(path)
    assert response.status_code == 200
    assert response.json() == {"name": NAME, "ready": True}


def _infer_body(rows, **extra):
    flat = [value for row in rows for value in row]
    return {"inputs": [{"name": "input", "shape": [len(rows), N_FEATURES], "datatype": "FP32", "data": flat}],
            **extra}


@pytest.mark.parametrize("path", [f"/v2/models/{NAME}/infer", f"/v2/models/{NAME}/versions/{VERSION}/infer"])
def test_v2_infer_row_major_outputs(fake_server, path):
    response = fake_server.client.post(path, json=_infer_body(ROWS, id="req-1"))
    assert response.status_code == 200
    assert response.json() == {
        "model_name": NAME,
        "model_version": VERSION,
        "id": "req-1",
        "outputs": [
            {"name": "score", "datatype": "FP64", "shape": [3], "data": SCORES},
            {"name": "pair", "datatype": "FP32", "shape": [3, 2], "data": [1.0, 4.0, 0.5, -2.0, 10.0, 40.0]},
        ],
    }


def test_v2_infer_requested_output_only(fake_server):
    body = _infer_body(ROWS[:1], outputs=[{"name": "pair"}])
    outputs = fake_server.client.post(f"/v2/models/{NAME}/infer", json=body).json()["outputs"]
    assert outputs == [{"name": "pair", "datatype": "FP32", "shape": [1, 2], "data": [1.0, 4.0]}]


def test_v2_infer_accepts_nested_data_and_int_datatype(fake_server):
    body = {"inputs": [{"name": "input", "shape": [2, 4], "datatype": "INT64", "data": [[1, 2, 3, 4], [10, 20, 30, 40]]}]}
    response = fake_server.client.post(f"/v2/models/{NAME}/infer", json=body)
    assert response.status_code == 200
    assert response.json()["outputs"][0]["data"] == [30.0, 300.0]


# --- metrics -------------------------------------------------------------------------------

def test_metrics_is_prometheus_text(fake_server):
    fake_server.client.post("/predict", json={"instances": ROWS})
    response = fake_server.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'mlserve_requests_total{route="/predict",status="200"}' in response.text


def test_jsonlines_answers_a_list_per_row_for_several_values_and_strings_as_json():
    import numpy as np

    from serving_app.protocols.jsonlines import to_jsonlines

    probabilities = np.array([[0.7, 0.3], [1.0, 0.0]], dtype=np.float32)
    assert to_jsonlines(probabilities) == b"[0.7,0.3]\n[1.0,0.0]\n"  # float32 at its own width
    assert to_jsonlines(np.array([0.7], dtype=np.float32)) == b"0.7\n"
    assert to_jsonlines(np.array([2, 0], dtype=np.longlong)) == b"2\n0\n"  # what ONNX Runtime labels are
    assert to_jsonlines(["cat", "dog"]) == b'"cat"\n"dog"\n'
