"""Notify's worker: its relay, its consumer (planning deliveries) and its sender."""

from __future__ import annotations

from services.common.config import Settings
from services.common.runtime import Runtime
from services.common.worker import Timer, Worker

from .handlers import HANDLERS
from .models import metadata
from .service import send_due


def build_worker(config: dict | None = None, **kwargs) -> Worker:
    runtime = Runtime.build(Settings.load("notify", config), metadata)
    return Worker(runtime, HANDLERS, timers=[Timer("deliveries", send_due, interval=0.1)], **kwargs)
