"""Alembic environment for audit (see services/common/migrations.py)."""

from services.audit.models import metadata
from services.common.migrations import run_env

run_env(metadata)
