"""Intake on PostgreSQL and RabbitMQ: numbering and idempotency under concurrency, duplicates and
the public status following a case through the bus to closed (events out of order and twice), and
no raw phone number in anything published."""

from __future__ import annotations

import json
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from kombu import Connection, Queue

from services.common.broker import Outgoing, connect, open_publisher
from services.common.config import Settings
from services.common.events import build_event, encode
from services.common.topology import Topology
from services.intake.models import CaseNumberCounter
from tests.platform import Platform, wait_for

pytestmark = [pytest.mark.broker, pytest.mark.postgres]

STAFF = {"community": "武泰闸社区", "sub": "grid-worker-7"}
LEAK = {
    "title": "地下车库自来水主管网渗漏",
    "category": "water_supply",
    "location": {"address": "伟业佳苑地下停车场", "community": "武泰闸社区", "lat": 30.52, "lon": 114.31},
    "reporter": {"name": "尹师傅", "phone": "13800138000"},
}


@pytest.fixture
def intake_only(real_config):
    platform = Platform(real_config, services=("intake",))
    yield platform
    platform.stop()


def test_numbers_stay_unique_and_keys_replay_under_concurrent_submissions(intake_only):
    platform = intake_only
    headers = platform.headers("staff", **STAFF)

    def submit(i, key=None):
        body = {"title": f"问题 {i}", "category": "sanitation", "location": {"address": f"{i} 号楼"}}
        extra = {"Idempotency-Key": key} if key else {}
        return platform.client("intake").post("/v1/cases", json=body, headers={**headers, **extra})

    with ThreadPoolExecutor(max_workers=12) as pool:
        created = list(pool.map(submit, range(36)))
        same_key = list(pool.map(lambda _: submit("同一件", key="one-visit"), range(12)))
    assert [r.status_code for r in created + same_key] == [201] * 48
    year = datetime.now(ZoneInfo("Asia/Shanghai")).year
    numbers = sorted(r.json["number"] for r in created + same_key[:1])
    assert numbers == [f"WS-{year}-{n:06d}" for n in range(1, 38)]
    assert len({r.json["id"] for r in same_key}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in same_key) == 11
    listed = platform.client("intake").get("/v1/cases?limit=500", headers=headers).json["items"]
    assert len(listed) == 37
    paged, cursor = [], ""
    while cursor is not None:
        body = platform.client("intake").get(f"/v1/cases?limit=5&cursor={cursor}", headers=headers).json
        paged, cursor = paged + body["items"], body["next_cursor"]
    assert [c["id"] for c in paged] == [c["id"] for c in listed], "keyset pages on PostgreSQL: no gap, no repeat"


def test_numbers_continue_after_the_counter_row_of_a_year_numbered_before_sequences(intake_only):
    """PostgreSQL numbers from a sequence a year; a year whose cases were numbered by the counter
    table (before that) goes on from its last number, not from 1."""
    platform = intake_only
    year = datetime.now(ZoneInfo("Asia/Shanghai")).year
    with platform.runtime("intake").transaction() as session:
        session.add(CaseNumberCounter(year=year, last=41))
    headers = platform.headers("staff", **STAFF)
    numbers = [
        platform.client("intake")
        .post(
            "/v1/cases",
            headers=headers,
            json={"title": "路灯不亮", "category": "sanitation", "location": {"address": f"{i} 号楼"}},
        )
        .json["number"]
        for i in range(2)
    ]
    assert numbers == [f"WS-{year}-000042", f"WS-{year}-000043"]


@pytest.mark.parametrize(
    "where",
    [
        {"address": "伟业佳苑地下停车场", "community": "武泰闸社区"},  # no coordinates: the same address
        {"address": "near a grid line", "lat": 30.520000, "lon": 114.310000},  # coordinates, jittered below
    ],
)
def test_simultaneous_reports_of_one_problem_make_one_original(intake_only, where):
    """Submissions that could duplicate each other are serialized (by advisory locks on their
    address and neighbourhood), so twelve at once give one original and eleven duplicates of it."""
    platform = intake_only
    headers = platform.headers("staff", **STAFF)

    def submit(i):
        location = dict(where)
        if "lat" in location:  # spread over ~100 m, across whatever cell boundary lies there
            location.update(
                lat=location["lat"] + (i - 6) * 0.00008,
                lon=location["lon"] + (i % 3) * 0.0001,
                address=f"{location['address']} {i}",
            )
        body = {"title": f"漏水 {i}", "category": "water_supply", "location": location}
        return platform.client("intake").post("/v1/cases", json=body, headers=headers)

    with ThreadPoolExecutor(max_workers=12) as pool:
        created = [r.json for r in pool.map(submit, range(12))]
    originals = [c for c in created if c["duplicate_of"] is None]
    assert len(originals) == 1, [c["duplicate_of"] for c in created]
    assert all(c["duplicate_of"] == originals[0]["id"] for c in created if c is not originals[0])


class BusTap:
    """A queue of the test's own bound to the exchange with '#': a copy of every published event."""

    def __init__(self, broker_url: str, prefix: str):
        self.connection = Connection(broker_url)
        self.channel = self.connection.channel()
        exchange = Topology(prefix).exchange
        exchange(self.channel).declare()
        self.name = f"{prefix}tap.{uuid.uuid4().hex[:6]}"
        Queue(self.name, exchange=exchange, routing_key="#", exclusive=True, auto_delete=True)(self.channel).declare()
        self.bodies: list[bytes] = []

    def drain(self) -> list[dict]:
        while (message := self.channel.basic_get(queue=self.name, no_ack=True)) is not None:
            self.bodies.append(message.body)
        return [json.loads(body) for body in self.bodies]

    def of_type(self, event_type: str, count: int) -> list[dict] | None:
        found = [e for e in self.drain() if e["type"] == event_type]
        return found if len(found) >= count else None

    def close(self) -> None:
        self.connection.release()


def publish_as_dispatch(settings: Settings, *envelopes: dict) -> None:
    exchange = Topology(settings.topology_prefix).exchange.name
    publisher = open_publisher(settings, connect(settings))
    try:
        for envelope in envelopes:
            message = Outgoing(envelope["id"], envelope["type"], encode(envelope), exchange)
            assert publisher.publish_batch([message]).confirmed == {envelope["id"]}
    finally:
        publisher.close()


def dispatch_event(event_type: str, data: dict, at: datetime) -> dict:
    return build_event(event_type, data, service="dispatch", time=at)


def test_a_case_and_its_duplicate_follow_the_bus_from_reported_to_closed(real_config):
    platform = Platform(real_config, services=("intake",)).start_workers()
    tap = BusTap(real_config["BROKER_URL"], real_config["TOPOLOGY_PREFIX"])
    try:
        client, headers = platform.client("intake"), platform.headers("staff", **STAFF)
        read = lambda case_id: client.get(f"/v1/cases/{case_id}", headers=headers).json  # noqa: E731
        original = client.post("/v1/cases", json=LEAK, headers=headers).json
        near = {
            **LEAK,
            "location": {**LEAK["location"], "address": "伟业佳苑 2 号门", "lat": 30.5212},
            "reporter": {"name": "王阿姨", "phone": "13700137000"},
        }
        duplicate = client.post("/v1/cases", json=near, headers=headers).json
        assert (duplicate["status"], duplicate["duplicate_of"]) == ("duplicate", original["id"])
        assert read(original["id"])["reporter_count"] == 2

        reported = wait_for(lambda: tap.of_type("case.reported", 2), what="both case.reported on the bus")
        assert {e["subject"]: e["data"]["duplicate_of"] for e in reported} == {
            original["id"]: None,
            duplicate["id"]: original["id"],
        }

        case_id, task_id = original["id"], str(uuid.uuid4())
        t = datetime.now(UTC)
        due = (t + timedelta(hours=24)).isoformat()
        settings = Settings.load("dispatch", real_config)
        publish_as_dispatch(
            settings,
            dispatch_event(
                "case.dispatched",
                {
                    "case_id": case_id,
                    "severity": "urgent",
                    "lead": "water",
                    "departments": ["water"],
                    "resolve_due": due,
                },
                t,
            ),
            dispatch_event(
                "task.assigned",
                {
                    "case_id": case_id,
                    "task_id": task_id,
                    "department": "water",
                    "role": "lead",
                    "version": 1,
                    "severity": "urgent",
                    "ack_due": due,
                    "resolve_due": due,
                },
                t,
            ),
        )
        wait_for(lambda: read(case_id)["status"] == "dispatched", what="dispatched")
        assert read(case_id)["departments"] == ["water"]
        assert read(case_id)["expected_at"] == datetime.fromisoformat(due).isoformat()

        acknowledged = dispatch_event(
            "task.acknowledged",
            {"case_id": case_id, "task_id": task_id, "department": "water", "version": 2, "note": "已到现场"},
            t + timedelta(seconds=1),
        )
        publish_as_dispatch(settings, acknowledged)
        wait_for(lambda: read(case_id)["status"] == "in_progress", what="in_progress")

        # The closing overtakes the resolution it follows, which then arrives twice.
        resolved = dispatch_event("case.resolved", {"case_id": case_id}, t + timedelta(seconds=2))
        closed = dispatch_event("case.closed", {"case_id": case_id, "note": "社区销号"}, t + timedelta(seconds=3))
        publish_as_dispatch(settings, closed, acknowledged, resolved, resolved)

        def handled(event_type, outcome):
            sample = platform.workers["intake"].registry.get_sample_value
            return (
                sample("whistle_events_handled_total", {"service": "intake", "type": event_type, "outcome": outcome})
                or 0
            )

        wait_for(
            lambda: (
                handled("case.resolved", "applied") == 1
                and handled("case.resolved", "duplicate") == 1
                and handled("task.acknowledged", "duplicate") == 1
            ),
            what="late and repeated events handled",
        )
        final = read(case_id)
        assert final["status"] == "closed"
        assert [n["event"] for n in final["notes"]] == [
            "case.dispatched",
            "task.assigned",
            "task.acknowledged",
            "case.resolved",
            "case.closed",
        ]
        assert read(duplicate["id"])["status"] == "duplicate"

        feedback = client.post(f"/v1/cases/{case_id}/feedback", json={"satisfaction": "satisfied"}, headers=headers)
        assert feedback.status_code == 201
        [recorded] = wait_for(lambda: tap.of_type("case.feedback_recorded", 1), what="feedback on the bus")
        assert recorded["data"]["satisfaction"] == "satisfied"
    finally:
        tap.close()
        platform.stop()


MOBILE = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")


def test_no_raw_phone_number_is_ever_published(real_config):
    platform = Platform(real_config, services=("intake", "dispatch")).start_workers()
    tap = BusTap(real_config["BROKER_URL"], real_config["TOPOLOGY_PREFIX"])
    phones = ["13800138000", "13912345678", "15000001111", "027-87654321", "18600002222"]
    try:
        client, headers = platform.client("intake"), platform.headers("staff", **STAFF)
        first = client.post(
            "/v1/cases", json={**LEAK, "description": f"住户 {phones[1]} 也反映了"}, headers=headers
        ).json
        landline = {
            **LEAK,
            "category": "drainage",
            "reporter": {"name": "李", "phone": phones[3]},
            "title": f"下水道堵了 回电 {phones[2]}",
        }
        second = client.post("/v1/cases", json=landline, headers=headers).json
        duplicate = client.post(
            "/v1/cases", json={**LEAK, "reporter": {"phone": "+86" + phones[4]}}, headers=headers
        ).json
        unlinked = client.post(
            f"/v1/cases/{duplicate['id']}/unlink", json={"reason": f"另一处，回电{phones[4]}"}, headers=headers
        )
        assert unlinked.status_code == 200
        api_key = platform.token("staff", sub="city-app")
        posted = client.post(
            "/open311/v2/requests.json",
            data={
                "api_key": api_key,
                "service_code": "trees",
                "address_string": "紫阳路 8 号",
                "first_name": "张",
                "phone": phones[1],
                "description": f"树倒了，联系{phones[0]}",
            },
        )
        assert posted.status_code == 201
        case_ids = {first["id"], second["id"], duplicate["id"]}

        def seen():
            events = tap.drain()
            reported = {e["subject"] for e in events if e["type"] == "case.reported"}
            assigned = {e["subject"] for e in events if e["type"] == "task.assigned"}
            unlinks = [e for e in events if e["type"] == "case.duplicate_unlinked"]
            return len(reported) == 4 and case_ids - {duplicate["id"]} <= assigned and unlinks and events

        events = wait_for(seen, what="every case's events, and dispatch's answers, on the bus")
        assert {"case.reported", "case.duplicate_unlinked", "task.assigned", "case.dispatched"} <= {
            e["type"] for e in events
        }
        for body in tap.bodies:
            text = body.decode()
            assert not any(phone in text for phone in phones), text
            assert not MOBILE.search(text), text
            assert "尹师傅" not in text
        reporters = [e["data"]["reporter"] for e in events if e["type"] == "case.reported"]
        assert {r["phone"] for r in reporters} >= {"138****8000", "027****4321", "186****2222", "139****5678"}
    finally:
        tap.close()
        platform.stop()
