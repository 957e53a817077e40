"""The auditor's reads: filters, keyset paging (also while rows keep arriving), one event, a case's
timeline; exactly one row per event; personal data masked; every read in the access log."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.common.events import Actor, build_event
from tests.integration.audit.sqlite import trail
from tests.integration.audit.sqlite.trail import T0


def reported(case_id: str, at: datetime) -> dict:
    return build_event(
        "case.reported",
        {
            "case_id": case_id,
            "number": "WS-2026-000001",
            "title": "地下车库漏水",
            "category": "water_supply",
            "severity": "urgent",
            "location": {"address": "伟业佳苑"},
            "reported_at": at.isoformat(),
            "reporter": {"name": "尹*", "phone": "138****8000"},  # producers mask; audit masks again
        },
        service="intake",
        time=at,
        actor=Actor("staff", "grid-7"),
    )


@pytest.fixture
def mixed(rt):
    """Two cases across departments, actors, outcomes and times."""
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    ta, tb = str(uuid.uuid4()), str(uuid.uuid4())
    events = [
        reported(a, T0),
        trail.task_event("task.assigned", a, ta, "water", T0 + timedelta(minutes=1), ack_due=T0.isoformat()),
        trail.task_event("task.acknowledged", a, ta, "water", T0 + timedelta(minutes=5)),
        reported(b, T0 + timedelta(hours=1)),
        trail.task_event("task.assigned", b, tb, "housing", T0 + timedelta(hours=1, minutes=1), ack_due=T0.isoformat()),
        trail.task_event(
            "task.returned", b, tb, "housing", T0 + timedelta(hours=2), reason_code="wrong_area", reason="不是我们的"
        ),
    ]
    trail.append(rt, *events, recorded_at=T0 + timedelta(days=1))
    return {"a": a, "b": b, "events": events}


def seqs(response) -> list[int]:
    assert response.status_code == 200, response.json
    return [item["seq"] for item in response.json["items"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", [1, 2, 3, 4, 5, 6]),
        ("department=water", [2, 3]),
        ("actor=housing-user", [6]),
        ("type=case.reported", [1, 4]),
        ("outcome=failure", [6]),
        ("outcome=success", [1, 2, 3, 4, 5]),
        ("since=2026-03-02T09:00:00Z", [4, 5, 6]),
        ("until=2026-03-02T08:05:00Z", [1, 2]),
        ("since=2026-03-02T08:01:00Z&until=2026-03-02T09:01:00Z&type=task.assigned", [2]),
    ],
)
def test_every_filter(client, auditor, mixed, query, expected):
    assert seqs(client.get(f"/v1/events?{query}", headers=auditor)) == expected


def test_case_filter_and_timeline(client, auditor, mixed):
    assert seqs(client.get(f"/v1/events?case_id={mixed['a']}", headers=auditor)) == [1, 2, 3]
    first = client.get(f"/v1/cases/{mixed['b']}/timeline?limit=2", headers=auditor)
    rest = client.get(f"/v1/cases/{mixed['b']}/timeline?limit=2&cursor={first.json['next_cursor']}", headers=auditor)
    assert seqs(first) + seqs(rest) == [4, 5, 6] and rest.json["next_cursor"] is None


def test_timeline_is_oldest_first_by_event_time_not_arrival(rt, client, auditor):
    case_id, task_id = str(uuid.uuid4()), str(uuid.uuid4())
    late = trail.task_event("task.completed", case_id, task_id, "water", T0 + timedelta(hours=3))
    early = trail.task_event("task.acknowledged", case_id, task_id, "water", T0 + timedelta(hours=1))
    trail.append(rt, late, early)  # the completion arrived first
    items = client.get(f"/v1/cases/{case_id}/timeline", headers=auditor).json["items"]
    assert [i["type"] for i in items] == ["task.acknowledged", "task.completed"]


def test_an_event_row_keeps_producer_time_recorded_time_actor_outcome_masked_data(client, auditor, mixed):
    item = client.get("/v1/events/1", headers=auditor).json
    assert item["event_id"] == mixed["events"][0]["id"]
    assert item["occurred_at"] == "2026-03-02T08:00:00Z"
    assert item["recorded_at"] == "2026-03-03T08:00:00Z"
    assert item["actor"] == {"role": "staff", "id": "grid-7", "department": None}
    assert item["outcome"] == "success" and item["type"] == "case.reported"
    assert item["data"]["reporter"] == {"name": "尹*", "phone": "138****8000", "ref": None}
    assert "13800138000" not in str(item) and "尹师傅" not in str(item)
    assert len(item["leaf_hash"]) == len(item["chain_hash"]) == 64
    assert client.get("/v1/events/99", headers=auditor).status_code == 404


def test_the_same_event_twice_is_one_row(rt, client, auditor):
    event = trail.closed()
    trail.append(rt, event)
    assert trail.append(rt, event) == [None]
    trail.append(rt, event, event)
    assert [i["event_id"] for i in client.get("/v1/events", headers=auditor).json["items"]] == [event["id"]]


def test_paging_while_rows_arrive_never_skips_or_repeats(rt, client, auditor):
    trail.append(rt, *[trail.closed() for _ in range(7)])
    seen, cursor = [], None
    while True:
        if len(seen) < 20:
            trail.append(rt, *[trail.closed() for _ in range(2)])  # more arrive between pages
        url = "/v1/events?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=auditor).json
        seen += [i["seq"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(range(1, len(seen) + 1)) and len(seen) >= 20


def test_bad_cursor_and_bad_filter_are_400_and_422(client, auditor):
    assert client.get("/v1/events?cursor=!!", headers=auditor).status_code == 400
    bad = client.get("/v1/events?outcome=maybe", headers=auditor)
    assert bad.status_code == 422 and "outcome" in bad.json["errors"]["query"]


def test_every_read_is_in_the_access_log_for_admins_only(audit, client, auditor, mixed):
    client.get(f"/v1/events?case_id={mixed['a']}", headers=auditor)
    client.get("/v1/events", headers=audit.headers("staff", community="x"))
    client.get("/v1/export?format=jsonl", headers=auditor).get_data()
    assert client.get("/v1/access-log", headers=auditor).status_code == 403
    items = client.get("/v1/access-log", headers=audit.headers("admin")).json["items"]
    export, refused, query = items[-1::-1][:3][::-1]
    assert (query["subject"], query["role"], query["path"], query["query"], query["rows"], query["status"]) == (
        "auditor-user",
        "auditor",
        "/v1/events",
        f"case_id={mixed['a']}",
        3,
        200,
    )
    assert (refused["role"], refused["status"], refused["rows"]) == ("staff", 403, 0)
    assert (export["path"], export["rows"]) == ("/v1/export", 6)
    assert datetime.fromisoformat(query["at"]) > datetime.now(UTC) - timedelta(minutes=1)


def test_audit_masks_personal_data_a_producer_left_in():
    from services.audit.service import mask_data

    masked = mask_data(
        {
            "reporter": {"name": "尹师傅", "phone": "13800138000"},
            "items": [{"reporter": {"name": "Alice", "phone": "010-12345678"}}],
        }
    )
    assert masked == {
        "reporter": {"name": "尹*", "phone": "138****8000"},
        "items": [{"reporter": {"name": "A*", "phone": "010****5678"}}],
    }
