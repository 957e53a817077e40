"""Rows written together at the commit (services/common/deferred.py) and the outbox built on them:
what a commit writes, what a rolled-back savepoint or transaction forgets, and a consumer batch
whose commit fails being applied again one message at a time. On SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, event, func, select

from services.common.config import Settings
from services.common.consumer import Consumer
from services.common.db import bus_tables, is_postgres, make_engine, make_sessionmaker
from services.common.deferred import defer_insert, defer_update
from services.common.events import build_event
from services.common.outbox import Outbox
from tests.platform import bus_message

metadata = MetaData()
outbox_table, inbox_table = bus_tables(metadata)
notes = Table("notes", metadata, Column("id", Integer, primary_key=True), Column("text", String(20)))


@pytest.fixture
def sessions(database_url):
    engine = make_engine(database_url)
    metadata.create_all(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def texts(sessions) -> list[str]:
    with sessions() as session:
        return list(session.scalars(select(notes.c.text).order_by(notes.c.id)))


def statements_sent(session, verb: str) -> list[tuple[str, int]]:
    """The statements starting with ``verb`` that the session's connection sends from now on, each
    with how many parameter sets went with it."""
    sent = []

    def seen(_conn, _cursor, statement, parameters, _context, executemany):
        if statement.startswith(verb):
            sent.append((statement, len(parameters) if executemany else 1))

    event.listen(session.connection(), "before_cursor_execute", seen)
    return sent


def closed_event() -> dict:
    return build_event("case.closed", {"case_id": str(uuid.uuid4()), "note": "done"}, service="dispatch")


@pytest.mark.parametrize("ignore_conflicts", [False, True])
def test_deferred_rows_are_written_in_one_statement_at_the_commit(sessions, ignore_conflicts):
    with sessions() as session, session.begin():
        inserts = statements_sent(session, "INSERT")
        rows = [{"id": i, "text": f"n{i}"} for i in range(1, 51)]
        defer_insert(session, notes, rows, ignore_conflicts=ignore_conflicts)
        assert session.scalar(select(func.count()).select_from(notes)) == 0  # not before the commit
        postgres = is_postgres(session)
    assert texts(sessions) == [f"n{i}" for i in range(1, 51)]
    assert len(inserts) == 1
    if postgres:  # one multi-row INSERT, not fifty statements sent in one pipeline
        assert inserts[0][0].count("), (") == 49, inserts[0]


def test_deferred_updates_go_out_in_one_statement_after_the_inserts_and_the_last_values_stay(sessions):
    with sessions() as session, session.begin():
        updates = statements_sent(session, "UPDATE")
        defer_insert(session, notes, [{"id": i, "text": f"n{i}"} for i in range(1, 4)])
        for n, i in enumerate((1, 3, 1)):
            defer_update(session, notes, i, {"text": f"update {n}"})
        defer_update(session, notes, 2, {"text": "later"})
        assert session.scalar(select(func.count()).select_from(notes)) == 0  # not before the commit
    assert texts(sessions) == ["update 2", "later", "update 1"]
    # One statement, and a parameter set per row: row 1, updated twice, is written once.
    assert [parameter_sets for _statement, parameter_sets in updates] == [3]


def test_a_rolled_back_savepoint_forgets_only_what_was_deferred_inside_it(sessions):
    with sessions() as session, session.begin():
        defer_insert(session, notes, [{"id": 1, "text": "before"}])
        with pytest.raises(RuntimeError), session.begin_nested():
            defer_insert(session, notes, [{"id": 2, "text": "undone"}])
            defer_update(session, notes, 1, {"text": "undone"})
            raise RuntimeError("a handler failed")
        with session.begin_nested():
            defer_insert(session, notes, [{"id": 3, "text": "kept"}])
    assert texts(sessions) == ["before", "kept"]


def test_a_rolled_back_transaction_forgets_everything_and_the_session_starts_clean(sessions):
    with sessions() as session:
        with pytest.raises(RuntimeError), session.begin():
            defer_insert(session, notes, [{"id": 1, "text": "undone"}])
            raise RuntimeError("the request failed")
        with session.begin():
            defer_insert(session, notes, [{"id": 2, "text": "next"}])
    assert texts(sessions) == ["next"]


def test_conflicting_rows_can_be_skipped_or_fail_the_commit(sessions):
    with sessions() as session, session.begin():
        defer_insert(session, notes, [{"id": 1, "text": "first"}, {"id": 1, "text": "again"}], ignore_conflicts=True)
    assert texts(sessions) == ["first"]
    with pytest.raises(Exception), sessions() as session, session.begin():  # noqa: B017 (each driver its own)
        defer_insert(session, notes, [{"id": 1, "text": "clash"}])
    assert texts(sessions) == ["first"]


def test_the_outbox_writes_a_transactions_events_together_and_wakes_its_relay_after_the_commit(sessions):
    outbox = Outbox("dispatch", outbox_table)
    outbox.watch(sessions)
    with sessions() as session, session.begin():
        emitted = [
            outbox.emit(session, "case.closed", {"case_id": str(uuid.uuid4()), "note": str(i)}) for i in range(3)
        ]
        with session.begin_nested():
            pass  # a savepoint's release writes the rows, but nothing is visible to the relay yet
        assert not outbox.written.is_set()
    assert outbox.written.is_set()
    with sessions() as session:
        assert list(session.scalars(select(outbox_table.c.event_id).order_by(outbox_table.c.seq))) == [
            e["id"] for e in emitted
        ]


def test_a_batch_whose_commit_fails_is_applied_again_one_message_at_a_time(sessions):
    """A handler defers a row that clashes only at the commit: no handler raised, so no message is
    to blame; the batch is rolled back and each message applied on its own — the clashing one is
    retried, the others are applied once."""
    outbox = Outbox("audit", outbox_table)
    with sessions() as session, session.begin():
        session.execute(notes.insert().values(id=99, text="taken"))
    envelopes = [closed_event() for _ in range(3)]
    clashing = envelopes[1]["id"]

    def handler(ctx, event):
        number = 99 if event.id == clashing else 100 + [e["id"] for e in envelopes].index(event.id)
        defer_insert(ctx.session, notes, [{"id": number, "text": event.id[:20]}])

    settings = Settings.load("audit", {"BROKER_URL": "memory://", "DATABASE_URL": "sqlite://"})
    consumer = Consumer(settings, sessions, inbox_table, outbox, {"case.closed": handler})
    outcomes = consumer.apply([bus_message(e) for e in envelopes])
    assert [outcome for _message, outcome, _error in outcomes] == ["ack", "retry", "ack"]
    assert texts(sessions) == ["taken", envelopes[0]["id"][:20], envelopes[2]["id"][:20]]
    with sessions() as session:
        assert set(session.scalars(select(inbox_table.c.event_id))) == {envelopes[0]["id"], envelopes[2]["id"]}
