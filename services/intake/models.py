"""Intake's tables: cases as reported (with the reporter's contact), and the bus tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.db import NAMING, UTCDateTime, bus_tables

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
    street: Mapped[str | None] = mapped_column(String(100))
    community: Mapped[str | None] = mapped_column(String(100))
    grid: Mapped[str | None] = mapped_column(String(50))
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    # Personal data: kept here only, never on the bus (events carry reporter_ref and masks).
    reporter_ref: Mapped[str | None] = mapped_column(String(36))
    reporter_name: Mapped[str | None] = mapped_column(String(100))
    reporter_phone: Mapped[str | None] = mapped_column(String(32))
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    media_urls: Mapped[list] = mapped_column(JSON, default=list)
    duplicate_of: Mapped[str | None] = mapped_column(String(36))
    # The public status read model, fed by dispatch's events.
    departments: Mapped[list] = mapped_column(JSON, default=list)
    expected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notes: Mapped[list] = mapped_column(JSON, default=list)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reported_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_cases_created", "created_at", "id"),
        Index("ix_cases_status_created", "status", "created_at", "id"),
    )


class CaseNumberCounter(Base):
    """One row per year: the last number handed out (WS-2026-000123)."""

    __tablename__ = "case_number_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Feedback(Base):
    """回访: the resident's answer once the case is resolved."""

    __tablename__ = "feedback"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(36), index=True)
    satisfaction: Mapped[str] = mapped_column(String(24))
    comment: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


outbox, inbox = bus_tables(metadata)
