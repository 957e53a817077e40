"""A service's background process: its consumer, its relay and its timers, each on a thread,
stopped gracefully (the current batch finishes, is committed and acked, connections close)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from .consumer import Consumer, Handler, Preloader
from .metrics import WorkerMetrics, new_registry
from .pruning import prune_bus_tables
from .relay import Relay
from .runtime import Runtime

log = logging.getLogger(__name__)

SOLE_WRITER_POLL = 5.0  # seconds; the relay refreshes its gauges as often (relay.py)


@dataclass
class Timer:
    """A periodic job (dispatch's deadline scan, notify's deliveries): ``run(runtime, now) -> done``.
    It opens its own transactions, so that slow I/O (a webhook) never runs inside one."""

    name: str
    run: Callable[[Runtime, datetime], int]
    interval: float = 1.0


@dataclass
class Worker:
    runtime: Runtime
    handlers: dict[str, Handler]
    timers: list[Timer] = field(default_factory=list)
    consume: bool = True
    preload: Preloader | None = None  # see consumer.Preloader
    prune: bool = True  # forget old outbox and inbox rows (pruning.py); audit's role may not delete
    # Nothing but this process writes the outbox (notify's, by its sender; audit's, never): its own
    # commits wake the relay, which then needs to look by itself only every SOLE_WRITER_POLL — for
    # rows whose retry falls due, and to refresh its gauges — not every relay_poll, which is for
    # rows a web process commits. The benchmark counted such empty looks as half of audit's commits.
    sole_writer: bool = False
    # Its handlers keep their own record of the events they applied, and skip one applied before
    # (returning False): audit's trail holds each event id once. No inbox row is written then.
    own_record: bool = False

    def __post_init__(self) -> None:
        self.registry = new_registry()
        self.metrics = WorkerMetrics(self.runtime.service, self.registry)
        rt = self.runtime
        self.clock = rt.clock
        inbox = None if self.own_record else rt.inbox_table
        self.consumer = Consumer(
            rt.settings,
            rt.sessions,
            inbox,
            rt.outbox,
            self.handlers,
            metrics=self.metrics,
            clock=self.clock,
            preload=self.preload,
        )
        relay_settings = rt.settings
        if self.sole_writer:
            relay_settings = replace(relay_settings, relay_poll=max(relay_settings.relay_poll, SOLE_WRITER_POLL))
        self.relay = Relay(relay_settings, rt.sessions, rt.outbox.table, rt.outbox.written, self.metrics)
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []
        if self.prune:
            self.timers = [*self.timers, Timer("prune-bus-tables", prune_bus_tables, interval=60)]

    def start(self) -> Worker:
        name = self.runtime.service
        jobs: list[tuple[str, Callable[[], None]]] = [(f"{name}-relay", lambda: self.relay.run(self.stop_event))]
        if self.consume:
            jobs.append((f"{name}-consumer", lambda: self.consumer.run(self.stop_event)))
        jobs += [(f"{name}-timer-{t.name}", lambda t=t: self._run_timer(t)) for t in self.timers]
        for thread_name, target in jobs:
            thread = threading.Thread(target=target, name=thread_name, daemon=True)
            thread.start()
            self.threads.append(thread)
        return self

    def _run_timer(self, timer: Timer) -> None:
        while not self.stop_event.is_set():
            try:
                fired = timer.run(self.runtime, self.clock())
                if fired:
                    log.info("timer %s fired %d", timer.name, fired)
            except Exception:  # the database may be away; the next tick tries again
                log.exception("timer %s failed", timer.name)
            self.stop_event.wait(timer.interval)

    def stop(self, timeout: float = 30) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout)

    def wait_ready(self, timeout: float = 30) -> bool:
        return not self.consume or self.consumer.ready.wait(timeout)
