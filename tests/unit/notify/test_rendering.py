"""Every text a person receives renders, in Chinese and English, from real event shapes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.common.events import build_event
from services.notify.channels import Job
from services.notify.rendering import TEMPLATES, render_email, render_sms

CASE_ID = "0b7e3f6a-4c1d-4f7e-9a55-2f1c8d9e0a11"
TASK = {"case_id": CASE_ID, "task_id": "5d2a9c1e-7b3f-4e8a-b6d4-1a2b3c4d5e6f", "department": "water"}
DATA = {
    "task.assigned": {
        **TASK,
        "role": "lead",
        "severity": "urgent",
        "ack_due": "2026-06-03T10:00:00Z",
        "resolve_due": "2026-06-04T08:00:00Z",
    },
    "task.due_soon": {**TASK, "deadline": "acknowledge", "due_at": "2026-06-03T10:00:00Z"},
    "task.overdue": {**TASK, "deadline": "resolve", "due_at": "2026-06-04T08:00:00Z"},
    "case.escalated": {"case_id": CASE_ID, "level": 2, "reason": "超时未办结"},
    "case.reopened": {"case_id": CASE_ID, "reason": "还在漏"},
    "case.resolved": {"case_id": CASE_ID},
    "case.closed": {"case_id": CASE_ID, "note": "已修复"},
    "task.completed": {**TASK, "resolution": "更换阀门"},  # no template of its own: the default
}
CASE = {"number": "WS-2026-000001", "title": "地下车库自来水主管网渗漏", "address": "伟业佳苑地下停车场"}


def job(event_type: str, channel: str = "email", recipient: str = "duty@water.example") -> Job:
    envelope = build_event(event_type, DATA[event_type], service="dispatch")
    return Job(
        id="d1",
        event_id=envelope["id"],
        event_type=event_type,
        channel=channel,
        recipient=recipient,
        body=json.dumps(envelope, ensure_ascii=False),
        attempts=0,
        now=datetime.now(UTC),
        case_id=CASE_ID,
        department="water",
        case=CASE,
    )


def test_every_email_template_has_an_event_type_here():
    names = {p.name.removesuffix(".j2") for p in Path(TEMPLATES, "email").glob("*.j2")}
    assert names - {"default"} <= set(DATA)


@pytest.mark.parametrize("event_type", sorted(DATA))
def test_each_mail_is_bilingual_and_names_the_case(event_type):
    subject, text = render_email(job(event_type))
    assert subject.startswith("[Whistle] ") and "WS-2026-000001" in subject and "\n" not in subject
    assert "您好" in text and "Hello" in text and "---" in text
    assert CASE["title"] in text
    assert "None" not in subject + text


def test_times_are_shown_in_beijing_time():
    _, text = render_email(job("task.assigned"))
    assert "请于 2026-06-03 18:00 (UTC+8) 前报到" in text
    assert "resolve by 2026-06-04 16:00 (UTC+8)" in text


def test_the_resident_is_asked_the_callback_question_when_resolved():
    resolved = render_sms(job("case.resolved", "sms", f"resident:{CASE_ID}"), resident=True)
    assert "WS-2026-000001" in resolved and "满意" in resolved and "不满意" in resolved
    closed = render_sms(job("case.closed", "sms", f"resident:{CASE_ID}"), resident=True)
    assert "销号" in closed and "满意" not in closed
    assert "task.overdue" in render_sms(job("task.overdue", "sms", "13900000000"), resident=False)
