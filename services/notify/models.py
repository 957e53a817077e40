"""Notify's tables: who wants which events through which channel, what notify knows of each case,
and every delivery."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Index, Integer, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.db import NAMING, UTCDateTime, bus_tables

metadata = MetaData(naming_convention=NAMING)


class Base(DeclarativeBase):
    metadata = metadata


class Subscription(Base):
    """A department's subscription: a signed webhook, duty e-mail addresses, duty SMS numbers."""

    __tablename__ = "subscriptions"

    department: Mapped[str] = mapped_column(String(64), primary_key=True)
    webhook_url: Mapped[str | None] = mapped_column(String(500))
    # Newest first; the second one still signs until ``previous_secret_until`` (rotation window).
    secrets: Mapped[list] = mapped_column(JSON, default=list)
    previous_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    emails: Mapped[list] = mapped_column(JSON, default=list)
    sms: Mapped[list] = mapped_column(JSON, default=list)
    events: Mapped[list] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CommunitySubscription(Base):
    """Community staff's e-mail for the cases of their community."""

    __tablename__ = "community_subscriptions"

    community: Mapped[str] = mapped_column(String(100), primary_key=True)
    emails: Mapped[list] = mapped_column(JSON, default=list)
    events: Mapped[list] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CaseRoute(Base):
    """What notify has learnt of a case from the events it consumes: where it is and which
    departments work on it, so that case-level events find their recipients. No personal data:
    only whether the reporter left a phone (the number itself stays in intake)."""

    __tablename__ = "case_routes"

    case_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    number: Mapped[str | None] = mapped_column(String(32))
    title: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(300))
    community: Mapped[str | None] = mapped_column(String(100))
    departments: Mapped[list] = mapped_column(JSON, default=list)
    reporter_has_phone: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Delivery(Base):
    """One per (event, recipient, channel): a redelivered event finds it and sends nothing new."""

    __tablename__ = "deliveries"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36))
    event_type: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[str | None] = mapped_column(String(36))
    department: Mapped[str | None] = mapped_column(String(64))
    community: Mapped[str | None] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(8))
    # A URL, an e-mail address, a department's duty number, or ``resident:<case id>`` (the
    # resident's number is fetched from intake when sending and never stored here).
    recipient: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)  # the CloudEvent as it will be sent
    status: Mapped[str] = mapped_column(String(8), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("event_id", "channel", "recipient", name="uq_deliveries_event_recipient"),
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        Index("ix_deliveries_created", "created_at", "id"),
    )


outbox, inbox = bus_tables(metadata)
