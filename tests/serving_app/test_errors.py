"""Every class of bad input gets its 4xx and a JSON body naming the problem, never a 500,
and the server keeps serving afterwards."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.serving_app.fakes import NAME, VERSION

GOOD = {"instances": [[1, 2, 3, 4]]}
JSON = {"content-type": "application/json"}
CSV = {"content-type": "text/csv"}


def _v2(shape, data, datatype="FP32", **tensor):
    return {"inputs": [{"name": "input", "shape": shape, "datatype": datatype, "data": data, **tensor}]}


CASES = [
    # (id, method, path, body bytes or JSON, headers, status, words the error must contain)
    ("malformed-json", "POST", "/predict", b'{"instances": [[1, 2', JSON, 400, "malformed JSON"),
    ("empty-body", "POST", "/predict", b"", JSON, 400, "empty"),
    ("json-not-object", "POST", "/predict", [[1, 2, 3, 4]], JSON, 400, "instances"),
    ("no-instances", "POST", "/predict", {"rows": [[1, 2, 3, 4]]}, JSON, 400, "instances"),
    ("instances-empty", "POST", "/predict", {"instances": []}, JSON, 400, "non-empty list"),
    ("instances-not-list", "POST", "/predict", {"instances": "1,2,3,4"}, JSON, 400, "non-empty list"),
    ("row-not-list", "POST", "/predict", {"instances": [1, 2, 3, 4]}, JSON, 400, "row 0 is not a list"),
    ("too-few-features", "POST", "/predict", {"instances": [[1, 2, 3]]}, JSON, 400, "3 values"),
    ("ragged-rows", "POST", "/predict", {"instances": [[1, 2, 3, 4], [1, 2, 3, 4, 5]]}, JSON, 400, "row 1 has 5"),
    ("string-value", "POST", "/predict", {"instances": [[1, "2", 3, 4]]}, JSON, 400, "column 1: '2' is not a number"),
    ("null-value", "POST", "/predict", {"instances": [[1, None, 3, 4]]}, JSON, 400, "None is not a number"),
    ("bool-value", "POST", "/predict", {"instances": [[1, True, 3, 4]]}, JSON, 400, "True is not a number"),
    ("nested-value", "POST", "/predict", {"instances": [[1, [2], 3, 4]]}, JSON, 400, "is not a number"),
    ("float32-overflow", "POST", "/predict", {"instances": [[1, 1e39, 3, 4]]}, JSON, 400, "not a finite float32"),
    ("json-nan-literal", "POST", "/predict", b'{"instances": [[1, NaN, 3, 4]]}', JSON, 400, "malformed JSON"),
    ("form-content-type", "POST", "/predict", b"a=1", {"content-type": "application/x-www-form-urlencoded"}, 415,
     "application/json"),
    ("text-plain", "POST", "/invocations", b"1,2,3,4", {"content-type": "text/plain"}, 415, "text/csv"),
    ("csv-not-number", "POST", "/invocations", b"1,2,x,4\n", CSV, 400, "line 1, column 2: 'x'"),
    ("csv-nan", "POST", "/invocations", b"1,2,nan,4\n", CSV, 400, "not a finite"),
    ("csv-inf", "POST", "/invocations", b"1,2,3,inf\n", CSV, 400, "not a finite"),
    ("csv-wrong-width", "POST", "/invocations", b"1,2,3\n", CSV, 400, "3 values"),
    ("csv-empty", "POST", "/invocations", b"\n\n", CSV, 400, "no rows"),
    ("csv-not-utf8", "POST", "/invocations", b"\xff\xfe", CSV, 400, "UTF-8"),
    ("invocations-object-without-instances", "POST", "/invocations", {"data": [[1, 2, 3, 4]]}, JSON, 400, "instances"),
    ("v2-shape-data-mismatch", "POST", f"/v2/models/{NAME}/infer", _v2([2, 4], [1, 2, 3, 4]), JSON, 400,
     "holds 8 values but data has 4"),
    ("v2-wrong-features", "POST", f"/v2/models/{NAME}/infer", _v2([1, 3], [1, 2, 3]), JSON, 400, "expected [n, 4]"),
    ("v2-shape-1d", "POST", f"/v2/models/{NAME}/infer", _v2([4], [1, 2, 3, 4]), JSON, 400, "expected [n, 4]"),
    ("v2-bytes-datatype", "POST", f"/v2/models/{NAME}/infer", _v2([1, 4], ["a", "b", "c", "d"], "BYTES"), JSON,
     400, "datatype 'BYTES'"),
    ("v2-int-datatype-float-data", "POST", f"/v2/models/{NAME}/infer", _v2([1, 4], [1, 2.5, 3, 4], "INT32"), JSON,
     400, "data[1] = 2.5 is not a INT32"),
    ("v2-uint-negative", "POST", f"/v2/models/{NAME}/infer", _v2([1, 4], [1, -2, 3, 4], "UINT8"), JSON, 400,
     "negative"),
    ("v2-string-in-fp32", "POST", f"/v2/models/{NAME}/infer", _v2([1, 4], [1, "2", 3, 4]), JSON, 400,
     "is not a FP32"),
    ("v2-no-inputs", "POST", f"/v2/models/{NAME}/infer", {"id": "x"}, JSON, 400, "inputs"),
    ("v2-two-inputs", "POST", f"/v2/models/{NAME}/infer",
     {"inputs": _v2([1, 4], [1, 2, 3, 4])["inputs"] * 2}, JSON, 400, "one tensor"),
    ("v2-unknown-output", "POST", f"/v2/models/{NAME}/infer", {**_v2([1, 4], [1, 2, 3, 4]),
                                                               "outputs": [{"name": "nope"}]}, JSON, 400, "nope"),
    ("v2-not-object", "POST", f"/v2/models/{NAME}/infer", [1, 2], JSON, 400, "inference request object"),
    ("v2-unknown-model-infer", "POST", "/v2/models/other/infer", _v2([1, 4], [1, 2, 3, 4]), JSON, 404,
     "model 'other' not found"),
    ("v2-unknown-model-metadata", "GET", "/v2/models/other", None, {}, 404, "not found"),
    ("v2-unknown-model-ready", "GET", "/v2/models/other/ready", None, {}, 404, "not found"),
    ("v2-unknown-version", "POST", f"/v2/models/{NAME}/versions/99/infer", _v2([1, 4], [1, 2, 3, 4]), JSON, 404,
     "no version '99'"),
    ("unknown-route", "GET", "/predictions", None, {}, 404, "no route for /predictions"),
    ("unknown-v2-subroute", "GET", f"/v2/models/{NAME}/explain", None, {}, 404, "no route"),
    ("wrong-method-predict", "GET", "/predict", None, {}, 405, "GET is not allowed on /predict"),
    ("wrong-method-ping", "POST", "/ping", b"", {}, 405, "POST is not allowed"),
    ("wrong-method-infer", "GET", f"/v2/models/{NAME}/infer", None, {}, 405, "use POST"),
]


@pytest.mark.parametrize(("method", "path", "body", "headers", "status", "words"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_request_gets_4xx_with_json_error_and_server_keeps_serving(fake_server, method, path, body, headers,
                                                                       status, words):
    client = fake_server.client
    kwargs = {"headers": headers}
    if isinstance(body, bytes):
        kwargs["content"] = body
    elif body is not None:
        import orjson

        kwargs["content"] = orjson.dumps(body)
    response = client.request(method, path, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert words in error
    assert client.post("/predict", json=GOOD).json()["predictions"] == [30.0]


def test_405_names_allowed_methods(fake_server):
    response = fake_server.client.get("/invocations")
    assert response.headers["allow"] == "POST"


def test_bad_request_in_a_shared_batch_fails_alone(fake_server):
    """A row that only fails once cast to float32 (1e39) arrives in the same batch as good
    ones: it gets its 400, its neighbours their answers."""

    async def run():
        async with httpx.AsyncClient(base_url=fake_server.url, timeout=30) as client:
            bodies = [{"instances": [[i, 0, 0, 0]]} if i % 5 else {"instances": [[i, 1e39, 0, 0]]}
                      for i in range(50)]
            return await asyncio.gather(*(client.post("/predict", json=body) for body in bodies))

    responses = asyncio.run(run())
    for i, response in enumerate(responses):
        if i % 5:
            assert response.status_code == 200 and response.json()["predictions"] == [float(i)]
        else:
            assert response.status_code == 400 and "not a finite float32" in response.json()["error"]


def test_version_in_path_must_match(fake_server):
    assert fake_server.client.get(f"/v2/models/{NAME}/versions/{VERSION}").status_code == 200
    assert fake_server.client.get(f"/v2/models/{NAME}/versions/0").status_code == 404
