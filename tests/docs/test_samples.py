"""The program output the docs show is what the programs print today: `python -m mlserve.offline.samples`
run into a temporary directory writes the committed README.md and docs/policies-and-cost.md again,
commit ids aside."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlserve.offline import samples
from tests.docs.conftest import shared_plans

ROOT = Path(__file__).resolve().parents[2]


def normalised(text: str) -> str:
    """What must vary between two runs: the commit the PR comment names."""
    return re.sub(r"(## mlserve preview for )[0-9a-f]{12}", r"\1<commit>", text)


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory, demo_model_in_repo) -> Path:
    out = tmp_path_factory.mktemp("docs")
    assert samples.main(["--out", str(out)], plans=shared_plans()) == 0
    return out


@pytest.mark.parametrize("path", sorted({path for path, _ in samples.SAMPLES.values()}))
def test_the_committed_docs_show_what_the_programs_print(regenerated, path):
    assert normalised((regenerated / path).read_text()) == normalised((ROOT / path).read_text()), (
        f"{path}: a sample is stale; run `make docs` and commit the result")


def test_the_bad_example_shows_the_budget_the_program_computes(regenerated):
    shown = (regenerated / "docs/policies-and-cost.md").read_text()
    sample = shown[shown.index("<!-- sample:bad-example -->"):shown.index("<!-- /sample:bad-example -->")]
    assert "Policies: " in sample and "cost-guard-monthly-budget" in sample
    assert re.search(r"estimated monthly cost at maximum scale is \$[\d,]+\.\d\d, above the budget", sample)


def test_the_settings_error_names_both_mistakes(regenerated):
    shown = (regenerated / "README.md").read_text()
    sample = shown[shown.index("<!-- sample:settings-error -->"):shown.index("<!-- /sample:settings-error -->")]
    assert "error: 2 invalid setting(s) in Pulumi.dev.yaml:" in sample
    assert "mlserve:network.availabilityZones" in sample and "(name: gpu): a GPU pool needs the taint" in sample


def test_a_region_is_filled_once_and_a_missing_one_is_named():
    text = "a\n<!-- sample:x -->\nold\n<!-- /sample:x -->\nb\n"
    assert samples.fill(text, "x", "new") == "a\n<!-- sample:x -->\nnew\n<!-- /sample:x -->\nb\n"
    assert samples.fill(samples.fill(text, "x", "new"), "x", "new") == samples.fill(text, "x", "new")
    with pytest.raises(samples.SampleError, match="sample 'y': expected one"):
        samples.fill(text, "y", "new")


def test_a_stack_file_the_sample_cannot_edit_stops_the_command(tmp_path, capsys):
    (tmp_path / "Pulumi.dev.yaml").write_text("config:\n  mlserve:region: us-west-2\n")
    (tmp_path / "README.md").write_text("<!-- sample:settings-error -->\n<!-- /sample:settings-error -->\n")
    assert samples.main(["--only", "settings-error"], plans=samples.Plans(root=tmp_path)) == 2
    assert capsys.readouterr().err == ("error: Pulumi.dev.yaml no longer has the GPU pool's taint where the "
                                       "settings-error sample edits it\n")
