"""What a pull request changes, resource by resource: two plan JSONs compared by URN.

A changed resource lists each changed input as `path: old -> new`. Paths are dotted with list
indices (`scalingConfig.maxSize`, `ingress[0].cidrBlocks`); a string that holds a JSON document
(IAM and bucket policies) is compared inside, statement by statement. Lists of plain values are one
value (`instanceTypes`). A secret never shows: an input the program marked secret (`secretInputs`
in the plan, from `Output.secret`) or whose key names a credential shows as `[secret]` on both
sides, with the fact that it changed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

SECRET = "[secret]"
ABSENT = "(none)"
# Keys that hold credentials even where the program forgot Output.secret (by how the key ends, so
# `httpTokens: required` or `secretsEncryption` still show).
_CREDENTIAL_KEY = re.compile(r"(password|passphrase|secret|accesstoken|authtoken|authorizationtoken|^token|privatekey|apikey"
                             r"|secretaccesskey|credentials?)$", re.IGNORECASE)
_MAX_VALUE = 80  # characters of one shown value


@dataclass(frozen=True)
class Change:
    """One changed input of one resource."""

    path: str
    old: str
    new: str


@dataclass(frozen=True)
class ResourceChange:
    """One added, changed or removed resource (changes only for "changed")."""

    type: str
    name: str
    changes: list[Change] = field(default_factory=list)


def _document(value: Any) -> Any:
    """A JSON document held in a string (policies), parsed; anything else as is."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def flatten(value: Any, path: str = "") -> dict[str, Any]:
    """Leaf values by dotted path; lists of plain values stay one leaf."""
    value = _document(value)
    if isinstance(value, dict):
        if not value:
            return {path: {}} if path else {}
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{path}.{key}" if path else str(key)))
        return out
    if isinstance(value, list) and any(isinstance(item, (dict, list)) or _document(item) is not item for item in value):
        out = {}
        for index, item in enumerate(value):
            out.update(flatten(item, f"{path}[{index}]"))
        return out
    return {path: value}


def _show(value: Any) -> str:
    if value is ABSENT:
        return ABSENT
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = json.dumps(value, sort_keys=True, default=str) if not isinstance(value, str) else value
    text = text.replace("`", "'").replace("|", "/").replace("\n", " ")
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 3] + "..."


def _secret(path: str, secret_paths: set[str]) -> bool:
    if any(path == s or path.startswith(s + ".") or path.startswith(s + "[") for s in secret_paths):
        return True
    return any(_CREDENTIAL_KEY.search(part.replace("_", "").replace("-", ""))
               for part in re.split(r"[.\[\]]", path) if part and not part.isdigit())


def changes(old_inputs: dict[str, Any], new_inputs: dict[str, Any], secret_paths: set[str] | frozenset = frozenset()) -> list[Change]:
    """Every changed leaf between two input dicts, secrets masked, sorted by path."""
    old, new = flatten(old_inputs), flatten(new_inputs)
    found = []
    for path in sorted(set(old) | set(new)):
        before, after = old.get(path, ABSENT), new.get(path, ABSENT)
        if before == after:
            continue
        if _secret(path, set(secret_paths)):
            found.append(Change(path, SECRET if before is not ABSENT else ABSENT, SECRET if after is not ABSENT else ABSENT))
        else:
            found.append(Change(path, _show(before), _show(after)))
    return found


def diff(base: dict[str, Any] | None, head: dict[str, Any]) -> dict[str, list[ResourceChange]]:
    """Added, changed and removed resources between a base plan (None: none) and a head plan."""
    old = {r["urn"]: r for r in (base or {}).get("resources", [])}
    new = {r["urn"]: r for r in head.get("resources", [])}
    changed = []
    for urn in sorted(set(old) & set(new)):
        before, after = old[urn], new[urn]
        secret_paths = set(before.get("secretInputs") or []) | set(after.get("secretInputs") or [])
        found = changes(before["inputs"], after["inputs"], secret_paths)
        if bool(before.get("protect")) != bool(after.get("protect")):
            found.append(Change("(option) protect", _show(bool(before.get("protect"))), _show(bool(after.get("protect")))))
        if found:
            changed.append(ResourceChange(after["type"], after["name"], found))
    return {"added": [ResourceChange(new[u]["type"], new[u]["name"]) for u in sorted(set(new) - set(old))],
            "changed": changed,
            "removed": [ResourceChange(old[u]["type"], old[u]["name"]) for u in sorted(set(old) - set(new))]}
