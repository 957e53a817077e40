"""Residents are texted when their case is resolved (with the 回访 question) and closed. Notify
fetches the number from intake over HTTP at send time; the file sink gets the full number, notify's
database, events and logs never do."""

from __future__ import annotations

import io
import json
import logging
import socket
import threading

import pytest
from sqlalchemy import MetaData, select
from werkzeug.serving import make_server

from services.notify.models import metadata
from tests.integration.notify.conftest import START, Notify, case_event, task_assigned
from tests.platform import Clock, Platform, dev_config

PHONE = "13800138000"
CASE = {
    "title": "地下车库自来水主管网渗漏",
    "category": "water_supply",
    "severity": "urgent",
    "location": {"address": "伟业佳苑地下停车场", "street": "紫阳街道", "community": "武泰闸社区"},
    "reporter": {"name": "尹师傅", "phone": PHONE},
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def stack(tmp_path):
    """Intake behind a real HTTP server, notify beside it with the file SMS sink."""
    port = free_port()
    clock = Clock(START)
    config = dev_config(tmp_path, CLOCK=clock, INTAKE_URL=f"http://127.0.0.1:{port}", SMS_PROVIDER="file")
    platform = Platform(config, services=("intake", "notify"))
    server = make_server("127.0.0.1", port, platform.apps["intake"], threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    notify = Notify(platform, clock)
    yield platform, notify, tmp_path / "sms.jsonl"
    notify.sender.close()
    server.shutdown()
    platform.stop()


@pytest.fixture
def captured_logs():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s %(args)s"))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in ("urllib3", "requests"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous)


def test_the_resident_is_texted_and_the_number_stays_out_of_notify(stack, captured_logs):
    platform, notify, sink = stack
    created = platform.client("intake").post(
        "/v1/cases", json=CASE, headers=platform.headers("staff", community="武泰闸社区")
    )
    assert created.status_code == 201, created.json
    case_id = created.json["id"]
    outbox = platform.runtime("intake").outbox.table
    with platform.runtime("intake").transaction() as session:
        [reported] = [
            json.loads(r.body)
            for r in session.execute(select(outbox)).all()
            if json.loads(r.body)["type"] == "case.reported"
        ]
    notify.feed(reported)  # the real event intake emitted: it carries the masked phone only
    notify.feed(task_assigned(case_id=case_id))
    notify.feed(case_event("case.resolved", case_id=case_id))
    notify.feed(case_event("case.closed", case_id=case_id))
    assert notify.send() == 2

    texts = [json.loads(line) for line in sink.read_text(encoding="utf-8").splitlines()]
    assert [t["to"] for t in texts] == [PHONE, PHONE]
    resolved, closed = sorted(texts, key=lambda t: "满意" not in t["text"])
    assert created.json["number"] in resolved["text"] and "满意" in resolved["text"] and "回复" in resolved["text"]
    assert "销号" in closed["text"]

    deliveries = notify.deliveries(channel="sms")
    assert {d["recipient"] for d in deliveries} == {f"resident:{case_id}"}
    assert {d["status"] for d in deliveries} == {"sent"}
    notices = [n["data"] for n in notify.outbox("notification.sent")]
    assert {n["address"] for n in notices} == {"138****8000"}

    engine = notify.runtime.engine
    with engine.connect() as conn:
        reflected = MetaData()
        reflected.reflect(conn)
        assert set(metadata.tables) <= set(reflected.tables)
        everything = [row for table in reflected.tables.values() for row in conn.execute(select(table)).all()]
    assert everything and PHONE not in str(everything)
    notify_files = [p for p in sink.parent.iterdir() if p.name.startswith("notify.db")]
    assert notify_files and not any(PHONE.encode() in p.read_bytes() for p in notify_files)
    logs = captured_logs.getvalue()
    assert "notify" in logs or "urllib3" in logs, "the capture must see notify's work"
    assert PHONE not in logs


def test_no_phone_no_text(stack):
    platform, notify, sink = stack
    anonymous = {k: v for k, v in CASE.items() if k != "reporter"}
    created = platform.client("intake").post(
        "/v1/cases", json=anonymous, headers=platform.headers("staff", community="武泰闸社区")
    )
    case_id = created.json["id"]
    with platform.runtime("intake").transaction() as session:
        outbox = platform.runtime("intake").outbox.table
        [reported] = [json.loads(r.body) for r in session.execute(select(outbox)).all()]
    notify.feed(reported)
    notify.feed(case_event("case.resolved", case_id=case_id))
    assert notify.send() == 0
    assert not sink.exists()


def test_intake_unreachable_is_retried(stack):
    platform, notify, sink = stack
    notify.sender.channels["sms"].contacts.intake_url = "http://127.0.0.1:1"  # nothing listens there
    created = platform.client("intake").post(
        "/v1/cases", json=CASE, headers=platform.headers("staff", community="武泰闸社区")
    )
    with platform.runtime("intake").transaction() as session:
        outbox = platform.runtime("intake").outbox.table
        [reported] = [json.loads(r.body) for r in session.execute(select(outbox)).all()]
    notify.feed(reported)
    notify.feed(case_event("case.resolved", case_id=created.json["id"]))
    assert notify.send() == 1
    [delivery] = notify.deliveries()
    assert (delivery["status"], delivery["attempts"]) == ("pending", 1)
    assert delivery["last_error"].startswith("intake contact: ConnectionError")
