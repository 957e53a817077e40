"""Texts for people, from Jinja2 templates under ``templates/``: one e-mail per event type a person
receives (bilingual: Chinese first, then English, so one subscription serves both readers) and the
SMS texts. An e-mail template's first line is ``Subject: …``."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound

from .channels import Job

TEMPLATES = Path(__file__).resolve().parent / "templates"
# Mainland China has one time zone and no daylight saving: people read Beijing time.
BEIJING = timezone(timedelta(hours=8))


def when(value: str | None) -> str:
    """'2026-06-03T10:00:00+00:00' → '2026-06-03 18:00 (UTC+8)'."""
    if not value:
        return ""
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M (UTC+8)")


@cache
def environment() -> Environment:
    # Plain text mail and SMS: nothing is HTML, so no autoescaping; StrictUndefined turns a typo in
    # a template into an error in the tests rather than a blank in someone's mail.
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = when
    return env


def context(job: Job) -> dict:
    envelope = job.envelope
    data = envelope.get("data") or {}
    case = {"number": None, "title": None, "address": None, **job.case}
    case["number"] = case["number"] or data.get("case_number") or job.case_id
    case["title"] = case["title"] or data.get("title") or ""
    case["address"] = case["address"] or data.get("address") or ""
    return {
        "event": envelope,
        "type": envelope.get("type"),
        "data": data,
        "case": case,
        "department": job.department,
        "community": job.community,
    }


def render(folder: str, event_type: str, job: Job, fallback: str = "default") -> str:
    env = environment()
    try:
        template = env.get_template(f"{folder}/{event_type}.j2")
    except TemplateNotFound:
        template = env.get_template(f"{folder}/{fallback}.j2")
    return template.render(context(job))


def render_email(job: Job) -> tuple[str, str]:
    text = render("email", job.event_type, job)
    first, _, rest = text.partition("\n")
    return first.removeprefix("Subject:").strip(), rest.lstrip("\n")


def render_sms(job: Job, resident: bool) -> str:
    if resident:
        return render("sms/resident", job.event_type, job).strip()
    return render("sms", "department", job).strip()
