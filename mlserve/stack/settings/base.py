"""The base every settings section shares: camelCase keys, unknown keys forbidden, frozen.

Sections live in their own modules (`mlserve/stack/settings/<area>.py`) and import this base;
`mlserve/stack/settings/` assembles them into one `Settings` and reports every error at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from components.cloudwatch import LOG_RETENTION_DAYS

NAMESPACE = "mlserve"
F = TypeVar("F", bound=Callable)


def allows(text: str) -> Callable[[F], F]:
    """Give a validator the docstring docs/settings.md shows as what it allows, when that text is
    built from the table the validator checks (so the doc cannot drift from the check)."""

    def mark(func: F) -> F:
        func.__doc__ = text
        return func

    return mark


@allows("one of " + ", ".join(map(str, LOG_RETENTION_DAYS)) + " (CloudWatch Logs' values)")
def _retention(days: int) -> int:
    if days not in LOG_RETENTION_DAYS:
        raise ValueError(f"CloudWatch keeps logs for one of {list(LOG_RETENTION_DAYS)} days")
    return days


RetentionDays = Annotated[int, AfterValidator(_retention)]
"""A CloudWatch Logs retention: only the values the API accepts."""


class _Model(BaseModel):
    """camelCase keys, unknown keys refused, frozen. A field's docstring is its description
    (`use_attribute_docstrings`): docs/settings.md is generated from it (`reference.py`)."""

    model_config = ConfigDict(alias_generator=to_camel, extra="forbid", frozen=True, populate_by_name=False,
                              use_attribute_docstrings=True)
