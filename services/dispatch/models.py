"""Dispatch's tables: departments, routing rules, cases as dispatch sees them, tasks and timers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, Integer, MetaData, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.db import NAMING, BigId, UTCDateTime, bus_tables
from services.common.idempotency import idempotency_table

metadata = MetaData(naming_convention=NAMING)

# Task statuses in which a department still owes work (and its deadlines still run).
LIVE = ("assigned", "acknowledged", "in_progress")


class Base(DeclarativeBase):
    metadata = metadata


class Department(Base):
    __tablename__ = "departments"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(default=True)


class RoutingRule(Base):
    __tablename__ = "routing_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    category: Mapped[str] = mapped_column(String(32))
    street: Mapped[str | None] = mapped_column(String(100))
    community: Mapped[str | None] = mapped_column(String(100))
    lead: Mapped[str] = mapped_column(String(64))
    assists: Mapped[list] = mapped_column(JSON, default=list)
    fallback: Mapped[list] = mapped_column(JSON, default=list)
    severity: Mapped[str] = mapped_column(String(16), default="normal")


class DispatchCase(Base):
    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    number: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(300))
    street: Mapped[str | None] = mapped_column(String(100))
    community: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))
    duplicate_of: Mapped[str | None] = mapped_column(String(36))
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    # The routing rule's fallback list, kept from dispatch time so that a 退单 reroutes by the rule
    # the case was sent under even if an admin edits the rules meanwhile.
    fallback: Mapped[list] = mapped_column(JSON, default=list)
    # A dissatisfied 回访 reopens a case once; a second one is left to staff.
    reopened_by_feedback: Mapped[bool] = mapped_column(default=False)
    history: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Task(Base):
    __tablename__ = "tasks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(36), index=True)
    department: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    ack_due: Mapped[datetime] = mapped_column(UTCDateTime)
    resolve_due: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    eta: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    history: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_tasks_department_created", "department", "created_at", "id"),
        Index("ix_tasks_created", "created_at", "id"),
    )
    # Optimistic locking: every UPDATE says ``WHERE version = :seen``, so of two concurrent
    # changes (two acknowledges) one wins and the other fails instead of overwriting it.
    __mapper_args__ = {"version_id_col": version}


class Timer(Base):
    """A deadline alarm (``task.due_soon`` / ``task.overdue``), fired once by the worker's scan."""

    __tablename__ = "timers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(String(36), index=True)
    case_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(32))  # "<acknowledge|resolve>.<due_soon|overdue>"
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(16))  # fired | cancelled

    # Only unfired timers are indexed, so a scan that finds nothing due reads a few index pages
    # however many timers have fired over the years.
    __table_args__ = (
        Index(
            "ix_timers_pending",
            "due_at",
            postgresql_where=text("fired_at IS NULL"),
            sqlite_where=text("fired_at IS NULL"),
        ),
    )


outbox, inbox = bus_tables(metadata)
idempotency_keys = idempotency_table(metadata)
