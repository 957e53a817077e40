"""A service's wiring, built once per process by its factory: settings, engine, sessions, outbox."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from sqlalchemy import Engine, MetaData, Table
from sqlalchemy.orm import Session, sessionmaker

from .config import Settings
from .db import make_engine, make_sessionmaker, utcnow
from .outbox import Outbox


@dataclass
class Runtime:
    settings: Settings
    metadata: MetaData
    engine: Engine
    sessions: sessionmaker[Session]
    outbox: Outbox
    # The time source for every rule that depends on time; tests pass ``{"CLOCK": fake}`` in the
    # factory's config to move time instead of sleeping through it.
    clock: Callable[[], datetime] = field(default=utcnow)

    def now(self) -> datetime:
        return self.clock()

    @property
    def service(self) -> str:
        return self.settings.service

    @property
    def inbox_table(self) -> Table:
        return self.metadata.tables["inbox"]

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in a transaction, committed on success, rolled back on any exception."""
        with self.sessions() as session, session.begin():
            yield session

    @classmethod
    def build(cls, settings: Settings, metadata: MetaData, *, worker: bool = False) -> Runtime:
        """``worker``: for a background worker, whose every loop retries after a database error,
        so connections are not pinged before each transaction (see make_engine)."""
        engine = make_engine(settings.database_url, pre_ping=not worker)
        sessions = make_sessionmaker(engine)
        outbox = Outbox(settings.service, metadata.tables["outbox"])
        outbox.watch(sessions)
        return cls(settings, metadata, engine, sessions, outbox, settings.extra.get("CLOCK", utcnow))


def runtime() -> Runtime:
    """The runtime of the app handling the current request."""
    return current_app.extensions["whistle"]
