"""docs/settings.md is the settings models, generated: every key once, with its real default and a
meaning, and the committed file is what `make docs` writes today."""

from __future__ import annotations

import copy
import re
import typing
from collections import Counter
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel, Field

from mlserve.stack.settings import SettingsError, parse, reference
from mlserve.stack.settings.base import _Model
from mlserve.stack.settings.root import Settings
from tests.stack.test_settings import as_config, stack_values

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "settings.md"
ROW = re.compile(r"^\| `(?P<key>[^`]+)` \| (?P<default>[^|]*) \| (?P<allowed>(?:[^|]|\\\|)*) \| (?P<meaning>(?:[^|]|\\\|)*) \|$")


def model_keys(model: type[BaseModel] = Settings, prefix: str = "") -> dict[str, object]:
    """Every key a stack file can write, as a full path, with the field's default (or None): walked
    here, apart from the generator, so a key it skips or repeats shows."""
    keys: dict[str, object] = {}
    for info in model.model_fields.values():
        path = prefix + info.alias
        keys[path] = info
        inner, suffix = info.annotation, "."
        for _ in range(2):  # Optional[...], then list[...] or dict[str, ...] around a section
            origin, args = typing.get_origin(inner), [a for a in typing.get_args(inner) if a is not type(None)]
            if origin is list or origin is dict:
                suffix = "[]." if origin is list else ".{name}."
                inner = args[-1]
            elif len(args) == 1:
                inner = args[0]
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            keys.update(model_keys(inner, path + suffix))
    return keys


def documented(text: str) -> list[tuple[str, dict[str, str]]]:
    """(full key, row) for every row of every table, a heading naming every path its table covers."""
    rows, prefixes = [], None
    for line in text.splitlines():
        if line.startswith("## "):
            heading = line[3:].strip()
            prefixes = [""] if heading == "Top level" else [p.strip() + "." for p in heading.split(",")]
        elif (match := ROW.match(line)) and prefixes is not None:
            rows += [(prefix + match["key"], match.groupdict()) for prefix in prefixes]
    return rows


def test_the_committed_reference_is_what_the_generator_writes():
    assert DOC.read_text() == reference.render(), "docs/settings.md is stale: run `make docs` and commit it"


def test_every_key_is_documented_exactly_once():
    counts = Counter(key for key, _ in documented(DOC.read_text()))
    keys = set(model_keys())
    assert sorted(keys - set(counts)) == [], "keys missing from docs/settings.md"
    assert sorted(k for k, n in counts.items() if n > 1) == [], "keys documented twice"
    assert sorted(set(counts) - keys) == [], "documented keys the settings do not have"


def test_every_key_has_a_meaning_and_its_real_default():
    infos = model_keys()
    for key, row in documented(DOC.read_text()):
        assert row["meaning"].strip(), f"{key}: no description; give the field a docstring"
        info = infos[key]
        default = row["default"].strip()
        if default == "*required*":
            assert info.is_required(), key
        elif default == "none":
            assert info.default is None, key
        elif default.startswith("`"):
            actual = info.get_default(call_default_factory=True)
            if isinstance(actual, BaseModel):
                actual = actual.model_dump(by_alias=True, mode="json")
            assert yaml.safe_load(default.strip("`")) == actual, key


def test_a_shared_section_lists_every_path_it_stands_for():
    headings = [line[3:] for line in DOC.read_text().splitlines() if line.startswith("## ")]
    assert "serving.stable, serving.canary" in headings
    assert "serving.stable.server, serving.canary.server" in headings
    assert "nodePools[].taints[]" in headings


def test_models_stable_is_documented_once_where_its_section_is():
    rows = [key for key, _ in documented(DOC.read_text())]
    assert rows.count("models.stable") == 1 and rows.count("models.canary") == 1


def test_constraints_and_checks_reach_the_allowed_column():
    rows = dict(documented(DOC.read_text()))
    assert rows["rollout.canaryWeight"]["allowed"] == "an integer, 0-100"
    assert "2 or 3 distinct zones" in rows["network.availabilityZones"]["allowed"]
    assert "3653" in rows["cluster.logRetentionDays"]["allowed"]  # from the table the validator checks
    assert "`vpc-cni`" in rows["cluster.addonVersions"]["allowed"]


def test_the_alarm_share_keys_are_spelled_as_documented():
    """The generated camelCase of `error_5xx_percent` was `error5XxPercent`, while the hand-written
    doc said `error5xxPercent`: the field now takes the documented spelling."""
    values = copy.deepcopy(stack_values("dev"))
    values["mlserve:alarms"] = {"error5xxPercent": 2, "error4xxPercent": 20}
    settings = parse(as_config(values), stack_file="Pulumi.dev.yaml")
    assert (settings.alarms.error_5xx_percent, settings.alarms.error_4xx_percent) == (2, 20)
    values["mlserve:alarms"] = {"error5XxPercent": 2}
    with pytest.raises(SettingsError, match="unknown key"):
        parse(as_config(values), stack_file="Pulumi.dev.yaml")


def test_the_command_writes_the_file(tmp_path, capsys):
    out = tmp_path / "settings.md"
    assert reference.main(["--out", str(out)]) == 0
    assert out.read_text() == DOC.read_text()
    assert f"{len(model_keys())} keys" in capsys.readouterr().out


class _Limit(_Model):
    """A throwaway section."""

    size: int = Field(default=1, ge=1, le=9)
    """How big."""


class _Other(_Model):
    """Another."""

    name: str = "x"
    """A name."""


class _Sections(_Model):
    """Sections in the shapes a new key may take."""

    per_track: dict[str, _Limit] = Field(default_factory=dict)
    """One block per track name."""
    pools: list[_Limit] = Field(default_factory=list)
    """A list of blocks."""
    maybe: _Other | None = None
    """An optional block."""


def test_maps_lists_and_optional_sections_each_get_a_table():
    text = reference.render(_Sections)
    rows = documented(text)
    assert [key for key, _ in rows] == ["perTrack", "pools", "maybe", "perTrack.{name}.size", "pools[].size", "maybe.name"]
    assert sorted(key for key, _ in rows) == sorted(model_keys(_Sections))
    assert "## perTrack.{name}, pools[]" in text
    assert dict(rows)["perTrack"]["allowed"] == "a map of text to [perTrack.{name}, pools[]](#pertrackname-pools) entries"
    assert dict(rows)["pools[].size"]["allowed"] == "an integer, 1-9" and dict(rows)["pools[].size"]["meaning"] == "How big."


def test_a_union_of_sections_is_refused_by_name():
    class Either(_Model):
        either: _Limit | _Other = Field(default_factory=_Limit)
        """One or the other."""

    with pytest.raises(TypeError, match="a union of sections"):
        reference.render(Either)
