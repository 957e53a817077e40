"""Intake's worker: its relay, its consumer keeping the public status read model, and a timer that
forgets expired idempotency keys."""

from __future__ import annotations

from services.common.config import Settings
from services.common.idempotency import IdempotencyStore
from services.common.runtime import Runtime
from services.common.worker import Timer, Worker

from .handlers import HANDLERS, preload
from .models import idempotency_keys, metadata


def build_worker(config: dict | None = None, **kwargs) -> Worker:
    runtime = Runtime.build(Settings.load("intake", config), metadata, worker=True)
    forget_keys = Timer("purge-idempotency-keys", IdempotencyStore(idempotency_keys).purge, interval=600)
    kwargs.setdefault("timers", [forget_keys])
    kwargs.setdefault("preload", preload)
    return Worker(runtime, HANDLERS, **kwargs)
