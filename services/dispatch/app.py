"""Dispatch: routes cases to departments (吹哨), tracks their tasks (报到) and deadlines."""

from __future__ import annotations

from flask import jsonify
from sqlalchemy.orm.exc import StaleDataError

from services.common.web import create_service_app

from . import api, api_admin, api_cases
from .errors import DispatchError, to_api_error
from .models import metadata
from .tiers import parse_tiers
from .views import TIERS_KEY


def create_app(config: dict | None = None):
    app = create_service_app(
        "dispatch",
        config,
        metadata,
        [api.blp, api_cases.blp, api_admin.blp],
        description="Departments, routing rules, tasks and deadlines.",
    )
    app.extensions[TIERS_KEY] = parse_tiers(app.config["WHISTLE_SETTINGS"].get("SEVERITY_TIERS"))

    def domain_error(exc: Exception):
        error = to_api_error(exc)
        return jsonify(error.body()), error.status

    app.register_error_handler(DispatchError, domain_error)
    app.register_error_handler(StaleDataError, domain_error)
    return app
