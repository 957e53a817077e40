"""Dispatch's worker: its relay and its consumer (routing reported cases)."""

from __future__ import annotations

from services.common.config import Settings
from services.common.runtime import Runtime
from services.common.worker import Worker

from .handlers import HANDLERS
from .models import metadata
from .seed import seed_defaults


def build_worker(config: dict | None = None, **kwargs) -> Worker:
    runtime = Runtime.build(Settings.load("dispatch", config), metadata)
    with runtime.transaction() as session:
        seed_defaults(session, runtime.settings.get("RULES_FILE"))
    return Worker(runtime, HANDLERS, **kwargs)
