"""The program output the docs show is what the programs print today: `python -m mlserve.offline.samples`
run into a temporary directory writes the committed README.md and docs/policies-and-cost.md again,
commit ids aside."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest

from mlserve.offline import samples
from tests.docs.conftest import shared_plans

ROOT = Path(__file__).resolve().parents[2]


def normalised(text: str) -> str:
    """What must vary between two runs: the commit the PR comment names."""
    return re.sub(r"(## mlserve preview for )[0-9a-f]{12}", r"\1<commit>", text)


def region(text: str, name: str) -> str:
    return text[text.index(f"<!-- sample:{name} -->"):text.index(f"<!-- /sample:{name} -->")]


def test_the_committed_docs_show_what_the_programs_print(tmp_path, demo_model_in_repo):
    """One test, so the samples are made once however the suite is spread over workers."""
    assert samples.main(["--out", str(tmp_path)], plans=shared_plans()) == 0
    stale = [path for path in sorted({path for path, _ in samples.SAMPLES.values()})
             if normalised((tmp_path / path).read_text()) != normalised((ROOT / path).read_text())]
    diff = "".join(line for path in stale for line in difflib.unified_diff(
        (ROOT / path).read_text().splitlines(True), (tmp_path / path).read_text().splitlines(True), path, "regenerated"))
    assert stale == [], f"a sample is stale; run `make docs` and commit the result:\n{diff[:4000]}"
    # What each sample must show, whatever its numbers.
    readme, policies = (tmp_path / "README.md").read_text(), (tmp_path / "docs/policies-and-cost.md").read_text()
    settings_error = region(readme, "settings-error")
    assert "error: 2 invalid setting(s) in Pulumi.dev.yaml:" in settings_error
    assert "mlserve:network.availabilityZones" in settings_error and "(name: gpu): a GPU pool needs the taint" in settings_error
    bad = region(policies, "bad-example")
    assert re.search(r"estimated monthly cost at maximum scale is \$[\d,]+\.\d\d\b.*, above the budget", bad)
    assert re.search(r"Policies: \d+ rules run, \d+ passed, 0 advisory and 4 mandatory violations", bad)
    comment = region(policies, "pr-comment")
    assert "- `aws:eks/nodeGroup:NodeGroup` **cluster-gpu**\n  - `scalingConfig.maxSize`: `1` → `2`" in comment
    assert comment.rstrip().endswith("(prod's section follows in the same shape.)")


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
