"""Audit's worker: its consumer appending every event to the chain."""

from __future__ import annotations

from services.common.config import Settings
from services.common.runtime import Runtime
from services.common.worker import Worker

from .handlers import HANDLERS
from .models import metadata


def build_worker(config: dict | None = None, **kwargs) -> Worker:
    runtime = Runtime.build(Settings.load("audit", config), metadata)
    return Worker(runtime, HANDLERS, **kwargs)
