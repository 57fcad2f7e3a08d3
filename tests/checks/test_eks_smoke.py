"""The EKS smoke against a real model server on 127.0.0.1 (the ingress URL from the stack outputs)."""

from __future__ import annotations

import pytest

from mlserve.checks import ExitCode
from mlserve.checks.__main__ import main
from tests.serving_app.conftest import free_port, serve
from tests.serving_app.fakes import VERSION, FakeModel


@pytest.fixture(scope="module")
def server():
    with serve(FakeModel()) as running:
        yield running


def test_smoke_through_the_ingress_url_from_the_stack_outputs(server, sample, outputs_file, capsys):
    outputs = outputs_file(ingress_url=server.url)
    assert main(["smoke", "--target", "eks", "--stack-outputs", str(outputs), "--sample", str(sample),
                 "--expect-version", VERSION]) == ExitCode.OK
    assert f"2 predictions from model version {VERSION}" in capsys.readouterr().out
    assert server.metric("mlserve_requests_total", route="/predict", status="200") >= 1


def test_smoke_of_the_wrong_version_fails(server, sample, capsys):
    assert main(["smoke", "--target", "eks", "--url", server.url, "--sample", str(sample),
                 "--expect-version", "8"]) == ExitCode.WRONG_ANSWER
    assert f"answered by model version '{VERSION}', expected '8'" in capsys.readouterr().err


def test_rows_the_model_refuses_are_a_wrong_answer(server, tmp_path, capsys):
    bad = tmp_path / "sample.json"
    bad.write_text('{"rows": [[1, 2, 3]]}')  # the model takes 4 features
    assert main(["smoke", "--target", "eks", "--url", server.url, "--sample", str(bad)]) == ExitCode.WRONG_ANSWER
    err = capsys.readouterr().err
    assert "HTTP 400" in err and "the model takes 4 features" in err



def test_an_unreachable_url_has_its_own_exit_code(sample, capsys):
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["smoke", "--target", "eks", "--url", url, "--sample", str(sample)]) == ExitCode.UNREACHABLE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no answer (ConnectError" in err
