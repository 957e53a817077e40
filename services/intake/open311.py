"""Open311 GeoReport v2 (/intake/open311/v2): any Open311 client can list our services, post a
request (which becomes an ordinary case, channel ``open311``) and follow requests. GETs are public
and show nothing personal; POST needs ``api_key``, a staff token. Errors are the spec's list."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import request
from flask_smorest import Blueprint
from marshmallow import ValidationError
from sqlalchemy import or_, select
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from services.common import context
from services.common.auth import decode_token
from services.common.errors import ApiError
from services.common.idempotency import StoredResponse
from services.common.runtime import runtime
from services.common.web import IDEMPOTENCY_DOC, marked_if_replayed

from . import georeport, queries, service
from .api import IDEMPOTENCY
from .errors import DOMAIN_ERRORS, to_api_error
from .georeport import CLOSED_STATUSES, OPEN_STATUSES, render, render_errors
from .models import Case
from .options import intake_options
from .schemas import CaseIn

log = logging.getLogger(__name__)
blp = Blueprint(
    "open311", __name__, url_prefix="/open311/v2", description="Open311 GeoReport v2 (JSON and XML); GETs are public"
)

FMT = "<any(json, xml):fmt>"
DEFAULT_WINDOW = timedelta(days=90)
MAX_REQUESTS = 1000
CHANGESET = "2026-11-24T00:00:00Z"  # when this endpoint's behaviour last changed
SUBMITTER_ROLES = ("staff", "admin")


class Open311Error(Exception):
    def __init__(self, status: int, *descriptions: str):
        super().__init__("; ".join(descriptions))
        self.status = status
        self.descriptions = list(descriptions)


@blp.errorhandler(Open311Error)
def open311_error(error: Open311Error):
    return render_errors(
        request.view_args.get("fmt", "json") if request.view_args else "json", error.status, error.descriptions
    )


@blp.errorhandler(ApiError)
@blp.errorhandler(HTTPException)
def other_error(error):
    """Everything else (a body over 1 MiB, …) in the spec's shape too."""
    status = getattr(error, "status", None) or getattr(error, "code", None) or 500
    message = getattr(error, "message", None) or getattr(error, "description", None) or str(error)
    return open311_error(Open311Error(status, message))


@blp.errorhandler(OperationalError)
def database_unavailable(error: OperationalError):
    """The app's own answer to a database away (services/common/web.py), in the spec's shape."""
    log.warning("Open311 request failed, the database is unavailable: %s", error)
    response = open311_error(Open311Error(503, "The database is unavailable; try again shortly."))
    response.headers["Retry-After"] = "1"
    return response


for _error_class in DOMAIN_ERRORS:
    blp.register_error_handler(_error_class, lambda e: other_error(to_api_error(e)))


@blp.route(f"/discovery.{FMT}", methods=["GET"])
def discovery(fmt):
    """Where the GeoReport v2 endpoint is and which formats it speaks."""
    base = request.host_url.rstrip("/") + request.script_root + blp.url_prefix
    payload = {
        "changeset": CHANGESET,
        "contact": runtime().settings.get("OPEN311_CONTACT", ""),
        "key_service": "whistle token --role staff --sub CLIENT_NAME",
        "endpoints": [
            {
                "specification": georeport.SPECIFICATION,
                "url": base,
                "changeset": CHANGESET,
                "type": "production",
                "formats": list(georeport.FORMATS.values()),
            }
        ],
    }
    return render(fmt, payload, root="discovery", item="")


@blp.route(f"/services.{FMT}", methods=["GET"])
def list_services(fmt):
    """Our case categories as Open311 services (``service_code`` = category code)."""
    services = [georeport.service_entry(code, entry) for code, entry in intake_options().categories.items()]
    return render(fmt, services, root="services", item="service")


@blp.route(f"/services/<service_code>.{FMT}", methods=["GET"])
def service_definition(service_code, fmt):
    """A service's extra attributes: ours take none beyond the standard fields."""
    if service_code not in intake_options().categories:
        raise Open311Error(404, f"service_code {service_code} not found")
    return render(fmt, {"service_code": service_code, "attributes": []}, root="service_definition", item="")


@blp.route(f"/requests.{FMT}", methods=["POST"])
@blp.doc(
    requestBody={"required": True, "content": {"application/x-www-form-urlencoded": {"schema": georeport.RequestForm}}},
    parameters=[IDEMPOTENCY_DOC],
    description="`api_key` (a staff token) is a form field too.",
)
def create_request(fmt):
    """Post a service request (form-encoded); it becomes a case like any other."""
    who = _submitter(request.form.get("api_key"))
    try:
        form = georeport.RequestForm().load(request.form.to_dict())
    except ValidationError as exc:
        raise Open311Error(400, *georeport.flatten_errors(exc.messages)) from exc
    categories = intake_options().categories
    if form["service_code"] not in categories:
        raise Open311Error(400, f"service_code: {form['service_code']} is not a service code")
    try:
        payload = CaseIn().load(georeport.form_to_case(form, categories[form["service_code"]]))
    except ValidationError as exc:
        raise Open311Error(400, *georeport.flatten_errors(exc.messages)) from exc
    rt = runtime()

    def work(session) -> StoredResponse:
        case = service.submit_case(session, rt.outbox, payload, who, rt.now(), intake_options())
        notice = "已并入相同问题的报告 Merged into an open report" if case.duplicate_of else None
        return StoredResponse(201, [{"service_request_id": case.number, "service_notice": notice, "account_id": None}])

    # Remembered as data, so that a retry may ask for the other format. The key (a staff token)
    # is left out of the body compared: a client may have renewed it between its tries.
    with rt.transaction() as session:
        response, replayed = IDEMPOTENCY.once(
            session,
            request.headers,
            caller=who.sub,
            endpoint="POST /open311/v2/requests",
            body={name: value for name, value in request.form.items() if name != "api_key"},
            now=rt.now(),
            work=lambda: work(session),
        )
    return marked_if_replayed(render(fmt, response.body, root="service_requests", item="request", status=201), replayed)


def _submitter(api_key: str | None):
    if not api_key:
        raise Open311Error(403, "api_key was not provided")
    try:
        who = decode_token(runtime().settings.jwt_secret, api_key)
    except ApiError as exc:
        raise Open311Error(403, f"api_key is not valid: {exc.message}") from exc
    if who.role not in SUBMITTER_ROLES:
        raise Open311Error(403, "api_key is not a staff key")
    context.set_actor(who.actor)
    return who


LIST_PARAMETERS = [
    {"in": "query", "name": name, "required": False, "schema": {"type": "string"}, "description": text}
    for name, text in (
        ("service_request_id", "comma list of case numbers or ids"),
        ("service_code", "comma list of category codes"),
        ("status", "open, closed or both (comma list)"),
        ("start_date", "ISO 8601 with a zone"),
        ("end_date", "ISO 8601 with a zone"),
    )
]


@blp.route(f"/requests.{FMT}", methods=["GET"])
@blp.doc(parameters=LIST_PARAMETERS)
def list_requests(fmt):
    """Requests newest first: by ``service_request_id`` (comma list), or by ``service_code``, ``status``
    and a ``start_date``/``end_date`` window of at most 90 days (default: the last 90), ≤ 1,000."""
    args = request.args
    if args.get("service_request_id"):
        ids = [i.strip() for i in args["service_request_id"].split(",") if i.strip()][:MAX_REQUESTS]
        query = select(Case).where(or_(Case.number.in_(ids), Case.id.in_(ids))).order_by(Case.created_at.desc())
    else:
        query = queries.filtered(_list_filters(args)).limit(MAX_REQUESTS)
    return render(fmt, _requests(query), root="service_requests", item="request")


def _list_filters(args) -> dict:
    end = _date(args, "end_date") or runtime().now()
    start = _date(args, "start_date") or end - DEFAULT_WINDOW
    if end - start > DEFAULT_WINDOW:
        raise Open311Error(400, "start_date, end_date: the window may not exceed 90 days")
    statuses: list[str] = []
    for word in filter(None, (s.strip() for s in args.get("status", "").split(","))):
        if word not in ("open", "closed"):
            raise Open311Error(400, f"status: {word} is neither open nor closed")
        statuses += OPEN_STATUSES if word == "open" else CLOSED_STATUSES
    codes = [c.strip() for c in args.get("service_code", "").split(",") if c.strip()]
    return {
        "since": start,
        "until": end + timedelta(microseconds=1),
        "status": statuses or None,
        "category": codes or None,
    }


def _date(args, name: str) -> datetime | None:
    text = args.get(name)
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise Open311Error(400, f"{name}: not an ISO 8601 date and time with a time zone")
    return moment


@blp.route(f"/requests/<request_id>.{FMT}", methods=["GET"])
def read_request(request_id, fmt):
    """One request by case number (or case id)."""
    entries = _requests(select(Case).where(or_(Case.number == request_id, Case.id == request_id)))
    if not entries:
        raise Open311Error(404, f"service_request_id {request_id} not found")
    return render(fmt, entries, root="service_requests", item="request")


def _requests(query) -> list[dict]:
    with runtime().transaction() as session:
        cases = session.execute(query).scalars().all()
        originals = {c.duplicate_of for c in cases if c.duplicate_of}
        numbers = (
            dict(session.execute(select(Case.id, Case.number).where(Case.id.in_(originals))).all()) if originals else {}
        )
        return [georeport.request_entry(c, intake_options().categories, numbers) for c in cases]
