"""Dispatch: routes cases to departments (吹哨), tracks their tasks (报到) and deadlines."""

from __future__ import annotations

from services.common.web import create_service_app

from . import api
from .models import metadata


def create_app(config: dict | None = None):
    return create_service_app("dispatch", config, metadata, [api.blp],
                              description="Departments, routing rules, tasks and deadlines.")
