"""Dispatch's worker: its relay, its consumer (routing reported cases), its deadline timers and a
timer that forgets expired idempotency keys."""

from __future__ import annotations

from services.common.config import Settings
from services.common.idempotency import IdempotencyStore
from services.common.runtime import Runtime
from services.common.worker import Timer, Worker

from . import timers
from .handlers import build_handlers, preload
from .models import idempotency_keys, metadata
from .seed import seed_defaults
from .tiers import parse_tiers


def build_worker(config: dict | None = None, **kwargs) -> Worker:
    settings = Settings.load("dispatch", config)
    runtime = Runtime.build(settings, metadata, worker=True)
    with runtime.transaction() as session:
        seed_defaults(session, settings.get("RULES_FILE"))
    batch = int(settings.get("TIMER_BATCH", timers.BATCH))
    deadlines = Timer(
        "deadlines", lambda rt, now: timers.fire_due(rt, now, batch), float(settings.get("TIMER_INTERVAL", 1.0))
    )
    forget_keys = Timer("purge-idempotency-keys", IdempotencyStore(idempotency_keys).purge, interval=600)
    kwargs.setdefault("timers", [deadlines, forget_keys])
    kwargs.setdefault("preload", preload)
    return Worker(runtime, build_handlers(parse_tiers(settings.get("SEVERITY_TIERS"))), **kwargs)
