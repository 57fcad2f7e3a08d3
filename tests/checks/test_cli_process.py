"""`python -m mlserve.checks` as a process: the exit code and the one line a pipeline sees."""

from __future__ import annotations

import os
import subprocess
import sys

from mlserve.checks import ExitCode
from tests.serving_app.conftest import ROOT


def test_no_credentials_exits_3_with_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"), AWS_CONFIG_FILE=str(tmp_path / "none"),
               AWS_EC2_METADATA_DISABLED="true")
    result = subprocess.run([sys.executable, "-m", "mlserve.checks", "gate", "--alarm-prefix", "mlserve-prod-",
                             "--region", "us-west-2", "--timeout", "0"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == ExitCode.NO_CREDENTIALS
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("mlserve.checks gate: ")


def test_a_missing_argument_is_a_usage_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "mlserve.checks", "smoke", "--target", "sagemaker"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == ExitCode.USAGE and "--sample" in result.stderr
