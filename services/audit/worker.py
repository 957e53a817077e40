"""Audit's worker: its consumer appending every event to the chain, and the checkpoint timer."""

from __future__ import annotations

from services.common.config import Settings
from services.common.runtime import Runtime
from services.common.worker import Timer, Worker

from .app import app_config
from .checkpoints import Signer, checkpoint_if_due
from .handlers import HANDLERS, preload
from .models import metadata


def checkpoint_timer(signer: Signer) -> Timer:
    def run(runtime: Runtime, now) -> int:
        with runtime.transaction() as session:
            return 1 if checkpoint_if_due(session, signer, now) else 0

    return Timer("checkpoints", run, interval=1.0)


def build_worker(config: dict | None = None, **kwargs) -> Worker:
    settings = Settings.load("audit", app_config(config))
    runtime = Runtime.build(settings, metadata, worker=True)
    kwargs.setdefault("preload", preload)
    # It publishes nothing: nothing to prune (its insert-only role may not delete), and nobody
    # writes its outbox.
    kwargs.setdefault("prune", False)
    kwargs.setdefault("sole_writer", True)
    kwargs.setdefault("own_record", True)  # the trail, unique on the event id, is its inbox
    return Worker(runtime, HANDLERS, timers=[checkpoint_timer(Signer.from_settings(settings))], **kwargs)
