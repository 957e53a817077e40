"""Alembic environment for dispatch (see services/common/migrations.py)."""

from services.common.migrations import run_env
from services.dispatch.models import metadata

run_env(metadata)
