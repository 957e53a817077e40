"""Intake's tables: cases as reported (with the reporter's contact), their public status, 回访
feedback, contact reads, remembered idempotent responses, and the bus tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Index, Integer, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.db import NAMING, UTCDateTime, bus_tables
from services.common.idempotency import idempotency_table

metadata = MetaData(naming_convention=NAMING)


class Base(DeclarativeBase):
    metadata = metadata


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="reported")
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(300))
    # The address normalised for the duplicate check (duplicates.normalise_address).
    address_key: Mapped[str | None] = mapped_column(String(300))
    street: Mapped[str | None] = mapped_column(String(100))
    community: Mapped[str | None] = mapped_column(String(100))
    grid: Mapped[str | None] = mapped_column(String(50))
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    # The cell of the duplicate check's lattice the point lies in (duplicates.geo_cell).
    geo_cell: Mapped[int | None] = mapped_column(BigInteger)
    # Personal data: kept here only, never on the bus (events carry reporter_ref and masks).
    reporter_ref: Mapped[str | None] = mapped_column(String(36))
    reporter_name: Mapped[str | None] = mapped_column(String(100))
    reporter_phone: Mapped[str | None] = mapped_column(String(32))
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    media_urls: Mapped[list] = mapped_column(JSON, default=list)
    duplicate_of: Mapped[str | None] = mapped_column(String(36))
    # On an original: how many reports it gathered (itself and its linked duplicates).
    reporter_count: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # The public status read model, fed by dispatch's events.
    departments: Mapped[list] = mapped_column(JSON, default=list)
    expected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notes: Mapped[list] = mapped_column(JSON, default=list)
    # What the read model needs to stay right when events come out of order (status.py):
    # {"tasks": {task id: {department, status, at, version, resolve_due}}, "named": [...], ...}.
    progress: Mapped[dict] = mapped_column(JSON, default=dict, server_default="{}")
    # Time of the dispatch event that set the status; null while intake's own status stands.
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # How many times the case was reopened: feedback is taken once per round.
    reopen_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reported_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_cases_created", "created_at", "id"),
        Index("ix_cases_status_created", "status", "created_at", "id"),
        # GET /v1/cases?category= and ?community= walk these in keyset order.
        Index("ix_cases_category_created", "category", "created_at", "id"),
        Index("ix_cases_community_created", "community", "created_at", "id"),
        # The duplicate check's ways in: the cells around a point, and an address. They lead with
        # the looked-up column, so that no other query walks them by skipping it, and PostgreSQL
        # prefers the address's even before a new table has statistics.
        Index("ix_cases_cell_category_created", "geo_cell", "category", "created_at"),
        Index("ix_cases_address_category_created", "address_key", "category", "created_at"),
    )


class CaseNumberCounter(Base):
    """One row per year: the last number handed out (WS-2026-000123). On SQLite only: PostgreSQL
    numbers from a sequence a year (service.take_number), which starts after this row where a
    year has one."""

    __tablename__ = "case_number_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Feedback(Base):
    """回访: the resident's answer once the case is resolved."""

    __tablename__ = "feedback"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(36), index=True)
    # The case's reopen_count when given: one answer per resolution.
    round: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    satisfaction: Mapped[str] = mapped_column(String(24))
    comment: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("case_id", "round", name="uq_feedback_case_round"),)


class ContactRead(Base):
    """Every read of a reporter's full contact: who, in which role, which case, when."""

    __tablename__ = "contact_reads"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(36), index=True)
    reader: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    community: Mapped[str | None] = mapped_column(String(100))
    read_at: Mapped[datetime] = mapped_column(UTCDateTime)


outbox, inbox = bus_tables(metadata)
idempotency_keys = idempotency_table(metadata)
