"""JSON logs on stdout, each line carrying the correlation id of the request or event at hand."""

from __future__ import annotations

import logging
import os
import sys

from pythonjsonlogger.json import JsonFormatter

from .context import current_correlation_id


class CorrelationFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = current_correlation_id()
        return True


def configure_logging(service: str | None = None) -> None:
    """Idempotent: the dev server calls it once per app in one process."""
    root = logging.getLogger()
    if any(getattr(h, "_whistle", False) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stdout)
    handler._whistle = True  # type: ignore[attr-defined]
    handler.addFilter(CorrelationFilter())
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(correlation_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            static_fields={"service": service} if service else None,
        )
    )
    root.addHandler(handler)
    root.setLevel(os.environ.get("WHISTLE_LOG_LEVEL", "INFO").upper())
    for noisy in ("amqp", "kombu", "urllib3", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
