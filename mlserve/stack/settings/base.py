"""The base every settings section shares: camelCase keys, unknown keys forbidden, frozen.

Sections live in their own modules (`mlserve/stack/settings/<area>.py`) and import this base;
`mlserve/stack/settings/` assembles them into one `Settings` and reports every error at once.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from components.cloudwatch import LOG_RETENTION_DAYS

NAMESPACE = "mlserve"


def _retention(days: int) -> int:
    if days not in LOG_RETENTION_DAYS:
        raise ValueError(f"CloudWatch keeps logs for one of {list(LOG_RETENTION_DAYS)} days")
    return days


RetentionDays = Annotated[int, AfterValidator(_retention)]
"""A CloudWatch Logs retention: only the values the API accepts."""


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, extra="forbid", frozen=True, populate_by_name=False)
