"""Intake's rules without HTTP: a SQLite file of the test's own and hand-built events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.common.config import Settings
from services.common.consumer import Consumer, HandlerContext
from services.common.db import make_engine, make_sessionmaker
from services.common.events import build_event, parse_event
from services.common.outbox import Outbox
from services.intake import handlers
from services.intake.models import Case, inbox, metadata, outbox
from tests.platform import bus_message

T0 = datetime(2026, 6, 3, 0, 30, tzinfo=UTC)


class ReadModel:
    def __init__(self, url: str):
        self.engine = make_engine(url)
        metadata.create_all(self.engine)
        self.sessions = make_sessionmaker(self.engine)
        self.outbox = Outbox("intake", outbox)

    def add_case(self, **fields) -> str:
        case_id = str(uuid.uuid4())
        values = dict(
            id=case_id,
            number=f"WS-2026-{uuid.uuid4().int % 10**6:06d}",
            status="reported",
            title="漏水",
            category="water_supply",
            severity="urgent",
            channel="web",
            address="伟业佳苑",
            media_urls=[],
            departments=[],
            notes=[],
            progress={},
            reporter_count=1,
            reopen_count=0,
            reported_by="staff",
            created_at=T0,
            updated_at=T0,
        )
        values.update(fields)
        with self.sessions() as session, session.begin():
            session.add(Case(**values))
        return case_id

    def event(self, event_type: str, case_id: str, minutes: float, **data) -> dict:
        """A dispatch event ``minutes`` after T0."""
        return build_event(
            event_type, {"case_id": case_id, **data}, service="dispatch", time=T0 + timedelta(minutes=minutes)
        )

    def deliver(self, *envelopes: dict) -> None:
        for envelope in envelopes:
            parsed = parse_event(envelope)
            with self.sessions() as session, session.begin():
                handlers.HANDLERS[parsed.type](HandlerContext(session, self.outbox, T0), parsed)

    def deliver_batch(self, *envelopes: dict, failing: str | None = None) -> list[str]:
        """The envelopes as one consumer batch, as intake's worker applies them (preloaded, one
        transaction, one message at a time when a handler fails); each message's outcome. The
        handler of the event whose id is ``failing`` raises once it has applied the event."""

        def handle(ctx: HandlerContext, event) -> None:
            handlers.HANDLERS[event.type](ctx, event)
            if event.id == failing:
                raise RuntimeError("failed after applying")

        settings = Settings.load("intake", {"BROKER_URL": "memory://", "DATABASE_URL": "sqlite://"})
        consumer = Consumer(
            settings,
            self.sessions,
            inbox,
            self.outbox,
            dict.fromkeys(handlers.HANDLERS, handle),
            preload=handlers.preload,
            clock=lambda: T0,
        )
        return [outcome for _message, outcome, _error in consumer.apply([bus_message(e) for e in envelopes])]

    def case(self, case_id: str) -> Case:
        with self.sessions() as session:
            return session.get(Case, case_id)


@pytest.fixture
def model(tmp_path):
    read_model = ReadModel(f"sqlite:///{tmp_path / 'intake.db'}")
    yield read_model
    read_model.engine.dispose()
