"""Dispatch's reference data (/dispatch/v1/departments, /routing-rules): everyone reads, admins edit."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import ValidationError
from sqlalchemy import select

from services.common.auth import require
from services.common.errors import ApiError
from services.common.runtime import runtime
from services.common.web import SECURITY

from . import admin
from .cases import load_rules
from .models import Department
from .routing import Rule
from .schemas import CODE, DepartmentIn, DepartmentList, DepartmentOut, RuleList
from .views import unit_of_work

blp = Blueprint("dispatch_admin", __name__, url_prefix="/v1", description="Departments and routing rules")

READERS = ("staff", "department", "admin", "auditor", "service")


@blp.route("/departments", methods=["GET"])
@blp.response(200, DepartmentList)
@blp.doc(security=SECURITY)
@require(*READERS)
def list_departments():
    """The departments that can be summoned."""
    with runtime().transaction() as session:
        rows = session.execute(select(Department).order_by(Department.code)).scalars().all()
        return {"items": [admin.department_dict(d) for d in rows]}


@blp.route("/departments/<code>", methods=["PUT"])
@blp.arguments(DepartmentIn())
@blp.response(200, DepartmentOut)
@blp.doc(security=SECURITY)
@require("admin")
def put_department(body, code):
    """Create or replace a department (``department.updated``)."""
    try:
        CODE(code)
    except ValidationError as exc:
        raise ApiError(
            422,
            "VALIDATION_ERROR",
            f"The request is not valid: code: {exc.messages[0]}",
            {"path": {"code": exc.messages}},
        ) from exc
    with unit_of_work() as work:
        return admin.department_dict(admin.put_department(work, code, **body))


@blp.route("/routing-rules", methods=["GET"])
@blp.response(200, RuleList)
@blp.doc(security=SECURITY)
@require(*READERS)
def list_rules():
    """Routing rules: category (optionally street/community) → lead, assists, fallback."""
    with runtime().transaction() as session:
        return {"items": [r.as_dict() for r in load_rules(session)]}


@blp.route("/routing-rules", methods=["PUT"])
@blp.arguments(RuleList())
@blp.response(200, RuleList)
@blp.doc(security=SECURITY)
@require("admin")
def replace_rules(body):
    """Replace the whole rule set (``routing_rules.updated``); nothing changes if any rule is unsound."""
    with unit_of_work() as work:
        rules = admin.replace_rules(work, [Rule.from_dict(r) for r in body["items"]])
        return {"items": [r.as_dict() for r in rules]}
