"""Tampering by someone with the owner's rights (triggers dropped first) is caught by GET /verify,
naming the first bad sequence number; the triggers themselves refuse changes."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.exc import IntegrityError

from services.audit.models import AccessLogEntry, CheckpointEntry, TrailEntry
from tests.integration.audit.sqlite import trail


def test_an_untouched_trail_verifies_with_its_checkpoint(rt, signer, client, auditor):
    trail.seed(rt, signer)
    verdict = client.get("/v1/verify", headers=auditor).json
    assert verdict["ok"] and verdict["first_bad_seq"] is None and verdict["checked"] == 10
    assert verdict["checkpoint"] == {"size": 10, "ok": True}
    assert verdict["head"]["seq"] == 10


@pytest.mark.parametrize("tamper", trail.TAMPERS, ids=lambda t: t.__name__)
def test_tampering_is_caught_naming_the_first_bad_row(rt, signer, client, auditor, tamper):
    trail.seed(rt, signer)
    trail.drop_triggers(rt.engine)
    first_bad, checkpoint_ok = tamper(rt, signer)
    verdict = client.get("/v1/verify", headers=auditor).json
    assert verdict["ok"] is False, verdict
    assert verdict["first_bad_seq"] == first_bad, verdict
    assert verdict["checkpoint"] == {"size": 10, "ok": checkpoint_ok}, verdict
    assert verdict["problems"]


def test_a_range_verifies_only_that_range(rt, signer, client, auditor):
    trail.seed(rt, signer)
    trail.drop_triggers(rt.engine)
    trail.change_field(rt, signer)  # row 5
    assert client.get("/v1/verify?from_seq=1&to_seq=4", headers=auditor).json["ok"] is True
    late = client.get("/v1/verify?from_seq=6", headers=auditor).json
    assert late["checked"] == 5 and late["first_bad_seq"] is None
    assert client.get("/v1/verify?from_seq=5&to_seq=5", headers=auditor).json["first_bad_seq"] == 5


@pytest.mark.parametrize("table", ["trail", "checkpoints", "access_log"])
@pytest.mark.parametrize("statement", ["UPDATE {t} SET {c} = {c}", "DELETE FROM {t}"])
def test_sqlite_triggers_refuse_update_and_delete(rt, signer, client, auditor, table, statement):
    trail.seed(rt, signer)
    client.get("/v1/events", headers=auditor)  # one access-log row
    column = {"trail": "type", "checkpoints": "head", "access_log": "path"}[table]
    with pytest.raises(IntegrityError, match="append-only"), rt.engine.begin() as conn:
        conn.execute(text(statement.format(t=table, c=column)))
    with rt.transaction() as session:
        model = {"trail": TrailEntry, "checkpoints": CheckpointEntry, "access_log": AccessLogEntry}[table]
        assert session.query(model).count() >= 1


def test_the_orm_cannot_change_the_trail_either(rt, signer):
    trail.seed(rt, signer)
    with pytest.raises(IntegrityError), rt.transaction() as session:
        session.execute(update(TrailEntry).where(TrailEntry.seq == 1).values(outcome="failure"))
    with pytest.raises(IntegrityError), rt.transaction() as session:
        session.execute(delete(TrailEntry).where(TrailEntry.seq == 10))
