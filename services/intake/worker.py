"""Intake's worker: its relay, its consumer keeping the public status read model, and a timer that
forgets expired idempotency keys."""

from __future__ import annotations

from datetime import datetime

from services.common.config import Settings
from services.common.idempotency import IdempotencyStore
from services.common.runtime import Runtime
from services.common.worker import Timer, Worker

from .handlers import HANDLERS, preload
from .models import idempotency_keys, metadata


def purge_idempotency_keys(runtime: Runtime, now: datetime) -> int:
    with runtime.transaction() as session:
        return IdempotencyStore(idempotency_keys).purge_expired(session, now)


def build_worker(config: dict | None = None, **kwargs) -> Worker:
    runtime = Runtime.build(Settings.load("intake", config), metadata, worker=True)
    kwargs.setdefault("timers", [Timer("purge-idempotency-keys", purge_idempotency_keys, interval=600)])
    kwargs.setdefault("preload", preload)
    return Worker(runtime, HANDLERS, **kwargs)
