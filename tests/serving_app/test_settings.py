"""Settings, the CLI's choices (Kubernetes vs SageMaker `serve`), and the error -> status table:
plain functions, no server."""

from __future__ import annotations

import pytest

from serving_app import errors
from serving_app.__main__ import parse_args, settings_for
from serving_app.server import quota_cpus
from serving_app.settings import Settings, SettingsError


def test_defaults_suit_sagemaker_and_one_pod():
    settings = Settings()
    assert settings.model_uri == "/opt/ml/model" and settings.port == 8080 and settings.workers == 1


def test_from_env_reads_every_field_by_its_variable():
    settings = Settings.from_env({"MLSERVE_MODEL_URI": "s3://bucket/model", "MLSERVE_MAX_BATCH_SIZE": "128",
                                  "MLSERVE_MAX_BATCH_WAIT_MS": "0.5", "MLSERVE_MAX_QUEUED_ROWS": "10_000",
                                  "MLSERVE_LOG_LEVEL": "debug", "UNRELATED": "x"})
    assert (settings.model_uri, settings.max_batch_size, settings.max_batch_wait_ms, settings.max_queued_rows) == (
        "s3://bucket/model", 128, 0.5, 10_000)
    assert Settings.from_env(settings.to_env()) == settings


def test_from_env_names_every_bad_variable():
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"MLSERVE_PORT": "http", "MLSERVE_REQUEST_TIMEOUT_S": "soon"})
    assert "MLSERVE_PORT='http'" in str(raised.value) and "MLSERVE_REQUEST_TIMEOUT_S='soon'" in str(raised.value)


@pytest.mark.parametrize(("values", "words"), [
    ({"max_batch_size": 0}, "max_batch_size must be >= 1"),
    ({"request_timeout_s": -1}, "request_timeout_s must be >= 0"),
    ({"port": 70000}, "port must be 0..65535"),
    ({"max_queued_rows": 10, "max_rows_per_request": 20}, "max_queued_rows (10) must be >= max_rows_per_request"),
    ({"max_queued_bytes": 1000, "max_body_bytes": 2000}, "max_queued_bytes (1000) must be >= max_body_bytes"),
    ({"max_queue_wait_ms": -1}, "max_queue_wait_ms must be >= 0"),
    ({"queue_wait_target_ms": -1}, "queue_wait_target_ms must be >= 0"),
    ({"max_concurrent_requests": 0}, "max_concurrent_requests must be >= 1"),
    ({"log_level": "LOUD"}, "log_level"),
])
def test_bad_combinations_are_refused_naming_the_field(values, words):
    with pytest.raises(SettingsError, match=words.replace("(", r"\(").replace(")", r"\)")):
        Settings(**values)


def test_kubernetes_form_runs_one_worker():
    assert settings_for(parse_args([]), {}).workers == 1


def test_serve_defaults_workers_to_cpus_unless_told(monkeypatch):
    monkeypatch.setattr("serving_app.__main__.cpu_count", lambda: 8)
    assert settings_for(parse_args(["serve"]), {}).workers == 8
    assert settings_for(parse_args(["serve"]), {"SAGEMAKER_MODEL_SERVER_WORKERS": "3"}).workers == 3
    assert settings_for(parse_args(["serve"]), {"MLSERVE_WORKERS": "2"}).workers == 2
    assert settings_for(parse_args(["serve", "--workers", "1"]), {"MLSERVE_WORKERS": "2"}).workers == 1


def test_serve_binds_sagemaker_port_variable_when_set():
    assert settings_for(parse_args(["serve"]), {"SAGEMAKER_BIND_TO_PORT": "9090", "MLSERVE_WORKERS": "1"}).port == 9090
    assert settings_for(parse_args(["serve", "--port", "8081"]), {"SAGEMAKER_BIND_TO_PORT": "9090"}).port == 8081


def test_flags_override_environment():
    settings = settings_for(parse_args(["--model", "/m", "--host", "127.0.0.1", "--port", "9000"]),
                            {"MLSERVE_MODEL_URI": "/other", "MLSERVE_PORT": "1"})
    assert (settings.model_uri, settings.host, settings.port) == ("/m", "127.0.0.1", 9000)


@pytest.mark.parametrize(("cpu_max", "available", "expected"), [
    ("max 100000", 16, 16),
    ("200000 100000", 16, 2),
    ("50000 100000", 16, 1),  # half a CPU still gets one worker
    ("800000 100000", 4, 4),  # the quota cannot add CPUs the affinity mask lacks
])
def test_cgroup_quota_caps_cpu_count(cpu_max, available, expected):
    assert quota_cpus(cpu_max, available) == expected


@pytest.mark.parametrize(("error", "status"), [
    (errors.InvalidInput("x"), 400),
    (errors.RouteNotFound("x"), 404),
    (errors.ModelNotFound("x"), 404),
    (errors.MethodNotAllowed("x", ("POST",)), 405),
    (errors.NotAcceptable("x"), 406),
    (errors.PayloadTooLarge("x"), 413),
    (errors.UnsupportedMediaType("x"), 415),
    (errors.ModelFailed("x"), 500),
    (errors.Overloaded("x"), 503),
    (errors.NotReady("x"), 503),
    (errors.PredictionTimeout("x"), 504),
])
def test_every_domain_error_has_one_status(error, status):
    assert errors.http_status(error) == status
    assert set(errors.HTTP_STATUS) >= {type(error)}
