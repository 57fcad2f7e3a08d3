"""Structured logs: one JSON object per line on stderr, for CloudWatch and Loki to parse.

Every line carries the model name and version once the model is loaded; lines about a
request carry its `request_id` (the X-Request-ID header, echoed back). Requests are not
logged one by one at INFO: at thousands per second that would cost more than the
prediction. Client errors log at DEBUG, server errors at ERROR.
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime, timezone

import orjson

# LogRecord attributes that are not "extra" fields.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime",
                                                                                "color_message"}


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line: time, level, logger, message, then extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class ModelContext(logging.Filter):
    """Stamps the served model's name and version on every record that passes through."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in self.fields.items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def configure_logging(level: str) -> ModelContext:
    """Send every logger (ours, uvicorn's) through one JSON handler on stderr.

    Returns the filter to fill in with the model's name and version once it is known.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    context = ModelContext()
    handler.addFilter(context)
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    # Access lines are off: one per request is the hot-path cost this server avoids.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    return context
