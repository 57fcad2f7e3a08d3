"""Reading one stack's config into `Settings`: one `SettingsError` lists every bad key, its value,
what is allowed, and the stack file it came from."""

from __future__ import annotations

import json
import os
from typing import Any

from pulumi.errors import RunError
from pydantic import BaseModel, ValidationError

from mlserve.stack.settings.base import NAMESPACE
from mlserve.stack.settings.root import Settings, cross_field_problems


class SettingsError(RunError, ValueError):
    """Every problem with a stack's settings at once, each naming key, value and what is allowed.

    A `pulumi.RunError`, so `pulumi up` prints the message alone, without a Python traceback."""

    def __init__(self, stack_file: str, problems: list[str]) -> None:
        self.stack_file = stack_file
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"{len(problems)} invalid setting(s) in {stack_file}:\n{lines}")


def parse(raw: dict[str, str], *, stack_file: str) -> Settings:
    """Validate the `mlserve:` keys of a config map (values as the Pulumi CLI passes them:
    strings, with structured values as JSON). Raises SettingsError listing every problem."""
    values: dict[str, Any] = {}
    for full_key, text in raw.items():
        namespace, _, key = full_key.partition(":")
        if namespace != NAMESPACE:
            continue
        values[key] = _decode(text)
    try:
        settings = Settings.model_validate(values)
    except ValidationError as error:
        raise SettingsError(stack_file, [_describe(item) for item in error.errors()]) from None
    problems = cross_field_problems(settings)
    if problems:
        raise SettingsError(stack_file, problems)
    return settings


def _decode(text: Any) -> Any:
    if isinstance(text, str) and text[:1] in "[{":
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    return text


def _describe(item: dict[str, Any]) -> str:
    path = _path(item["loc"])
    message = item["msg"].removeprefix("Value error, ")
    if item["type"] == "extra_forbidden":
        return f"{path}: unknown key (allowed here: {_allowed_keys(item['loc'])})"
    if item["type"] == "missing":
        return f"{path}: required, not set"
    value = item.get("input")
    if isinstance(value, dict) and "name" in value:  # a whole pool failed a cross-field rule
        return f"{path} (name: {value['name']}): {message}"
    shown = json.dumps(value, default=str)
    if len(shown) > 120:
        shown = shown[:117] + "..."
    return f"{path} = {shown}: {message}"


def _path(loc: tuple[Any, ...]) -> str:
    text = NAMESPACE + ":"
    for index, part in enumerate(loc):
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in ("function-after", "function-plain") or str(part).startswith("literal["):
            continue
        else:
            text += ("." if index else "") + str(part)
    return text


def _allowed_keys(loc: tuple[Any, ...]) -> str:
    model: Any = Settings
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = next((f for f in model.model_fields.values() if f.alias == part), None)
        if field is None:
            break
        annotation = field.annotation
        inner = getattr(annotation, "__args__", None)
        model = inner[0] if inner and isinstance(inner[0], type) and issubclass(inner[0], BaseModel) else annotation
    if isinstance(model, type) and issubclass(model, BaseModel):
        return ", ".join(field.alias or name for name, field in model.model_fields.items())
    return "none"


STACK_FILE_ENV = "MLSERVE_STACK_FILE"
"""The stack file the config came from, when it is not `Pulumi.<stack>.yaml`: the offline engine
sets it for `make preview STACK_FILE=...`; set it yourself beside `pulumi up --config-file FILE`
(the Pulumi CLI does not tell the program which file it read)."""


def stack_file_name(stack: str) -> str:
    """The stack file every settings message names: $MLSERVE_STACK_FILE, else Pulumi.<stack>.yaml."""
    return os.environ.get(STACK_FILE_ENV) or f"Pulumi.{stack}.yaml"


def load() -> Settings:
    """Read the running stack's config (from `pulumi up` or the offline engine alike)."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    raw = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    return parse(raw, stack_file=stack_file_name(pulumi.get_stack()))
