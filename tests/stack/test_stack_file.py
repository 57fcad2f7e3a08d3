"""Stack-file mistakes as `make preview` reports them: a YAML syntax error is one line with
file:line:column, every settings message names the file actually read (STACK_FILE=...), and
`region` is checked against the regions AWS has (botocore's endpoint data)."""

from __future__ import annotations

import os

import pytest

from mlserve.offline import engine
from mlserve.offline import plan as plan_cli
from mlserve.stack.settings import parse
from mlserve.stack.settings.loader import STACK_FILE_ENV, stack_file_name
from mlserve.stack.settings.regions import aws_regions
from tests.stack.test_settings import ROOT, as_config, problems_for, stack_values

DEV = (ROOT / "Pulumi.dev.yaml").read_text()


def test_a_yaml_syntax_error_is_one_line_with_file_line_and_column(tmp_path, capsys):
    broken = tmp_path / "Pulumi.broken.yaml"
    lines = DEV.splitlines()
    index = next(i for i, line in enumerate(lines) if line.strip().startswith("owner:"))
    lines[index] = "   " + lines[index].lstrip()  # one space short of its siblings' indentation
    broken.write_text("\n".join(lines) + "\n")
    assert plan_cli.main(["--stack", "dev", "--stack-file", str(broken)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1, error
    assert error.startswith(f"error: {broken}:{index + 1}:4: while parsing a block mapping: expected <block end>")


def test_a_file_that_is_no_mapping_is_named(tmp_path):
    listed = tmp_path / "list.yaml"
    listed.write_text("- config\n")
    with pytest.raises(engine.StackFileError, match=rf"^{listed}: a mapping with a 'config' key expected, not list$"):
        engine.stack_config(listed)


def test_settings_errors_name_the_stack_file_actually_read(tmp_path, capsys):
    custom = tmp_path / "Pulumi.custom.yaml"
    custom.write_text(DEV + "  mlserve:colour: red\n")
    assert plan_cli.main(["--stack", "dev", "--stack-file", str(custom)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: 1 invalid setting(s) in {custom}:")
    assert "Pulumi.dev.yaml" not in error
    assert STACK_FILE_ENV not in os.environ  # set for the run only


def test_the_default_stack_file_is_named_by_the_stack(monkeypatch):
    monkeypatch.delenv(STACK_FILE_ENV, raising=False)
    assert stack_file_name("prod") == "Pulumi.prod.yaml"
    monkeypatch.setenv(STACK_FILE_ENV, "ci/Pulumi.prod.yaml")  # beside `pulumi up --config-file ci/Pulumi.prod.yaml`
    assert stack_file_name("prod") == "ci/Pulumi.prod.yaml"


def test_a_region_typo_is_refused_with_the_nearest_regions():
    [problem] = problems_for(lambda values: values.update({"mlserve:region": "us-west-9"}))
    assert problem.startswith('mlserve:region = "us-west-9": not a region AWS has; did you mean us-west-2')
    assert "endpoint data" in problem


@pytest.mark.parametrize("region", ["eu-west-1", "ap-southeast-7", "us-gov-west-1", "cn-north-1"])
def test_every_region_of_every_partition_is_accepted(region):
    values = stack_values("dev")
    values["mlserve:region"] = region
    values["mlserve:network"] = {**values["mlserve:network"], "availabilityZones": [f"{region}a", f"{region}b"]}
    assert parse(as_config(values), stack_file="Pulumi.dev.yaml").region == region


def test_the_region_list_is_botocores():
    import botocore.loaders

    endpoints = botocore.loaders.create_loader().load_data("endpoints")
    assert aws_regions() == {r for p in endpoints["partitions"] for r in p["regions"]}
    assert {"us-west-2", "eu-west-1"} <= aws_regions() and "us-west-9" not in aws_regions()

