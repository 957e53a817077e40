"""Open311 GeoReport v2 shapes: our cases and categories as service requests and services, the
POST form mapped onto a case, and the JSON and XML renderings (XML with the standard library).

``service_request_id`` is the case number (WS-2026-000123): it is what residents are told and
what they quote; ``GET requests/{id}`` also accepts the case's UUID. Nothing personal is shown:
no reporter, and phone numbers typed into a description are masked.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

from flask import Response, jsonify
from marshmallow import EXCLUDE, Schema, fields

from .models import Case
from .text import mask_phones_in_text

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
FORMATS = {"json": "application/json", "xml": "text/xml"}
OPEN_STATUSES = ("reported", "triage", "dispatched", "in_progress")
# "closed" in Open311 means the city has dealt with it: resolved (awaiting the community's
# verification) counts, as do rejected and merged reports; status_notes tells them apart.
CLOSED_STATUSES = ("resolved", "closed", "rejected", "duplicate")
STATUS_NOTES = {
    "reported": "已受理，等待派单 Reported, awaiting dispatch",
    "triage": "人工分派中 Being assigned by hand",
    "dispatched": "已派单 Dispatched to the departments responsible",
    "in_progress": "处置中 Departments are on it",
    "resolved": "已处置，待社区核实 Resolved, awaiting the community's check",
    "closed": "已销号 Closed",
    "rejected": "不予受理 Not a matter for the departments",
    "duplicate": "重复报告，已并入 {original} Merged into {original}",
}


class RequestForm(Schema):
    """POST requests: the spec's form fields (``attribute[...]`` and other extras are ignored)."""

    class Meta:
        unknown = EXCLUDE

    jurisdiction_id = fields.String()
    service_code = fields.String(required=True)
    lat = fields.String()
    long = fields.String()
    address_string = fields.String()
    address_id = fields.String()
    email = fields.String()
    device_id = fields.String()
    account_id = fields.String()
    first_name = fields.String()
    last_name = fields.String()
    phone = fields.String()
    description = fields.String()
    media_url = fields.String()


# Our field path → the Open311 field a client sent, for naming fields in errors.
FIELD_NAMES = {
    "title": "description",
    "category": "service_code",
    "description": "description",
    "location.address": "address_string",
    "location.lat": "lat",
    "location.lon": "long",
    "reporter.name": "first_name",
    "reporter.phone": "phone",
    "media_urls": "media_url",
}


def form_to_case(form: dict[str, Any], service: dict[str, str]) -> dict[str, Any]:
    """An ordinary case body (validated by CaseIn next). Coordinates stay strings here so that
    CaseIn names a bad one; an address is derived from them when none is given."""
    lat, lon = form.get("lat") or None, form.get("long") or None
    address = form.get("address_string") or (f"{lat},{lon}" if lat and lon else None)
    name = " ".join(part for part in (form.get("first_name"), form.get("last_name")) if part) or None
    body: dict[str, Any] = {
        "title": f"{service['name_zh']}：{address or ''}"[:200],
        "category": form["service_code"],
        "channel": "open311",
        "location": {"address": address, "lat": lat, "lon": lon},
    }
    if form.get("description"):
        body["description"] = form["description"]
    if name or form.get("phone"):
        body["reporter"] = {"name": name, "phone": form.get("phone") or None}
    if form.get("media_url"):
        body["media_urls"] = [form["media_url"]]
    if address is None:
        del body["location"]["address"]
    return body


def flatten_errors(errors: dict, prefix: str = "") -> list[str]:
    """marshmallow's nested messages → 'field: message' lines with Open311's field names."""
    lines = []
    for key, value in errors.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            lines += flatten_errors(value, path)
            continue
        text = " ".join(value) if isinstance(value, list) else str(value)
        lines.append(f"{FIELD_NAMES.get(path, path)}: {text}")
    return lines


def service_entry(code: str, category: dict[str, str]) -> dict[str, Any]:
    return {
        "service_code": code,
        "service_name": category["name_zh"],
        "description": category["name_en"],
        "metadata": False,
        "type": "realtime",
        "keywords": code.replace("_", ","),
        "group": "community",
    }


def request_entry(case: Case, categories: dict[str, dict[str, str]], numbers: dict[str, str]) -> dict[str, Any]:
    """One service request as the public may see it (``numbers``: original id → number for merges)."""
    notes = STATUS_NOTES[case.status].format(original=numbers.get(case.duplicate_of or "", ""))
    if case.departments and case.status in OPEN_STATUSES:
        notes += f" ({', '.join(case.departments)})"
    return {
        "service_request_id": case.number,
        "status": "open" if case.status in OPEN_STATUSES else "closed",
        "status_notes": notes,
        "service_name": categories.get(case.category, {}).get("name_zh", case.category),
        "service_code": case.category,
        "description": mask_phones_in_text(case.description),
        "agency_responsible": ", ".join(case.departments) or None,
        "service_notice": None,
        "requested_datetime": _time(case.created_at),
        "updated_datetime": _time(case.updated_at),
        "expected_datetime": _time(case.expected_at),
        "address": case.address,
        "address_id": None,
        "zipcode": None,
        "lat": case.lat,
        "long": case.lon,
        "media_url": case.media_urls[0] if case.media_urls else None,
    }


def _time(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


# ---- rendering --------------------------------------------------------------------------------


def render(fmt: str, payload: Any, *, root: str, item: str, status: int = 200) -> Response:
    """``payload`` (a list of flat dicts, or one dict) as JSON, or as XML ``<root><item>…``."""
    if fmt == "json":
        response = jsonify(payload)
    else:
        element = ET.Element(root)
        for entry in payload if isinstance(payload, list) else [payload]:
            _append(element, item, entry) if item else _fill(element, entry)
        response = Response(ET.tostring(element, encoding="UTF-8", xml_declaration=True), mimetype="text/xml")
        response.charset = "utf-8"
    response.status_code = status
    return response


def _fill(element: ET.Element, entry: dict[str, Any]) -> None:
    for name, value in entry.items():
        if isinstance(value, dict):
            _fill(ET.SubElement(element, name), value)
        elif isinstance(value, list):  # <formats><format>…</format></formats>, <endpoints><endpoint>…
            holder = ET.SubElement(element, name)
            for member in value:
                if isinstance(member, dict):
                    _append(holder, name.removesuffix("s"), member)
                else:
                    ET.SubElement(holder, name.removesuffix("s")).text = _text(member)
        else:
            ET.SubElement(element, name).text = _text(value)


def _append(parent: ET.Element, tag: str, entry: dict[str, Any]) -> None:
    _fill(ET.SubElement(parent, tag), entry)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render_errors(fmt: str, status: int, descriptions: list[str]) -> Response:
    """The spec's error list: ``[{"code": 400, "description": "…"}]`` / ``<errors><error>…``."""
    errors = [{"code": status, "description": text} for text in descriptions]
    return render(fmt, errors, root="errors", item="error", status=status)
