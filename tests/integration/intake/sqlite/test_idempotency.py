"""The shared Idempotency-Key machinery (services/common/idempotency.py) on a table of its own."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import MetaData, func, select

from services.common.db import make_engine, make_sessionmaker
from services.common.errors import ApiError
from services.common.idempotency import IdempotencyStore, StoredResponse, fingerprint, idempotency_table, read_key
from services.common.migrations import upgrade

NOW = datetime(2026, 6, 3, tzinfo=UTC)


@pytest.fixture
def store(tmp_path):
    metadata = MetaData()
    table = idempotency_table(metadata)
    engine = make_engine(f"sqlite:///{tmp_path / 'keys.db'}")
    metadata.create_all(engine)
    sessions = make_sessionmaker(engine)
    calls = []

    def run(key, body, *, caller="alice", endpoint="POST /v1/cases", now=NOW):
        def work():
            calls.append(body)
            return StoredResponse(201, {"n": len(calls)}, {"Location": f"/v1/cases/{len(calls)}"})

        with sessions() as session, session.begin():
            return IdempotencyStore(table, ttl=timedelta(hours=24)).run(
                session,
                caller=caller,
                endpoint=endpoint,
                key=key,
                body_fingerprint=fingerprint(body),
                now=now,
                work=work,
            )

    yield run, calls, sessions, table
    engine.dispose()


def test_the_same_key_and_body_replays_the_first_response(store):
    run, calls, _, _ = store
    first, replayed = run("k", {"a": 1, "b": 2})
    again, replayed_again = run("k", {"b": 2, "a": 1})  # same body, other key order
    assert (replayed, replayed_again) == (False, True)
    assert again == first == StoredResponse(201, {"n": 1}, {"Location": "/v1/cases/1"})
    assert len(calls) == 1


def test_the_same_key_with_another_body_is_a_mismatch(store):
    run, calls, _, _ = store
    run("k", {"a": 1})
    with pytest.raises(ApiError) as error:
        run("k", {"a": 2})
    assert (error.value.status, error.value.code) == (409, "IDEMPOTENCY_MISMATCH")
    assert len(calls) == 1


def test_keys_are_scoped_per_caller_and_endpoint(store):
    run, calls, _, _ = store
    run("k", {"a": 1})
    assert run("k", {"a": 1}, caller="bob")[1] is False
    assert run("k", {"a": 1}, endpoint="POST /v1/other")[1] is False
    assert len(calls) == 3


def test_work_that_fails_is_not_remembered(store):
    run, calls, sessions, table = store

    with pytest.raises(RuntimeError), sessions() as session, session.begin():
        IdempotencyStore(table).run(
            session,
            caller="alice",
            endpoint="e",
            key="k",
            body_fingerprint="f",
            now=NOW,
            work=lambda: (_ for _ in ()).throw(RuntimeError("boom")),
        )
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(table)) == 0


def test_an_expired_key_may_be_used_afresh_and_can_be_purged(store):
    run, calls, sessions, table = store
    run("k", {"a": 1})
    later = NOW + timedelta(hours=25)
    response, replayed = run("k", {"a": 2}, now=later)
    assert (replayed, response.body) == (False, {"n": 2})
    with sessions() as session, session.begin():
        assert IdempotencyStore(table).purge_expired(session, later + timedelta(hours=25)) == 1


@pytest.mark.parametrize("headers, key", [({}, None), ({"Idempotency-Key": "abc-123"}, "abc-123")])
def test_reading_the_key(headers, key):
    assert read_key(headers) == key


@pytest.mark.parametrize("bad", ["", "x" * 256, "键", "a\nb"])
def test_a_malformed_key_is_a_400_naming_the_header(bad):
    with pytest.raises(ApiError) as error:
        read_key({"Idempotency-Key": bad})
    assert error.value.status == 400 and "Idempotency-Key" in error.value.errors["headers"]


@pytest.mark.parametrize("service", ["intake", "dispatch"])
def test_a_worker_forgets_expired_keys(tmp_path, service):
    upgrade(service, f"sqlite:///{tmp_path / service}.db")  # where DATA_DIR puts the service's database
    build_worker = importlib.import_module(f"services.{service}.worker").build_worker
    worker = build_worker({"DATA_DIR": str(tmp_path), "BROKER_URL": "memory://"})
    runtime = worker.runtime
    table = runtime.metadata.tables["idempotency_keys"]
    with runtime.transaction() as session:
        for key, age in (("old", 30), ("new", 1)):
            IdempotencyStore(table).run(
                session,
                caller="a",
                endpoint="e",
                key=key,
                body_fingerprint="f",
                now=NOW - timedelta(hours=age),
                work=lambda: StoredResponse(201, {}),
            )
    [purge] = [t for t in worker.timers if t.name == "purge-idempotency-keys"]
    assert purge.run(runtime, NOW) == 1
    with runtime.transaction() as session:
        assert session.execute(select(table.c.key)).scalars().all() == ["new"]
    runtime.engine.dispose()
