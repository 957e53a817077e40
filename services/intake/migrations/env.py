"""Alembic environment for intake (see services/common/migrations.py)."""

from services.common.migrations import run_env
from services.intake.models import metadata

run_env(metadata)
