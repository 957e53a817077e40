"""Audit's tables: the append-only, hash-chained trail, its signed checkpoints, and who read it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.db import NAMING, BigId, UTCDateTime, bus_tables

metadata = MetaData(naming_convention=NAMING)


class Base(DeclarativeBase):
    metadata = metadata


class TrailEntry(Base):
    __tablename__ = "trail"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=False
    )
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    type: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[str | None] = mapped_column(String(36))
    department: Mapped[str | None] = mapped_column(String(64))
    actor_role: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the producer's event time
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when audit appended it
    # RFC 8785 canonical JSON of the row: hashed as stored, never re-encoded.
    canonical: Mapped[bytes] = mapped_column(LargeBinary)
    leaf_hash: Mapped[str] = mapped_column(String(64))
    chain_hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_trail_case", "case_id", "seq"),
        Index("ix_trail_department", "department", "seq"),
        Index("ix_trail_type", "type", "seq"),
        Index("ix_trail_actor", "actor_id", "seq"),
        Index("ix_trail_occurred", "occurred_at", "seq"),
    )


class CheckpointEntry(Base):
    """A signed statement "the trail had ``size`` rows and this head": a copy also lives outside the
    database (checkpoints.py), so rewriting or truncating the trail is caught even by its owner."""

    __tablename__ = "checkpoints"

    size: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=False
    )
    origin: Mapped[str] = mapped_column(String(200))
    head: Mapped[str] = mapped_column(String(64))  # chain_hash of row ``size``
    # The time exactly as signed (RFC 3339 text), so the signature re-verifies byte for byte.
    time: Mapped[str] = mapped_column(String(40))
    key_id: Mapped[str] = mapped_column(String(16))
    signature: Mapped[str] = mapped_column(String(100))  # base64 Ed25519


class AccessLogEntry(Base):
    """Every read of the trail (who, what, how much): outside the chain, readable by admins."""

    __tablename__ = "access_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    subject: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(String(300))
    query: Mapped[str] = mapped_column(Text)
    rows: Mapped[int] = mapped_column(Integer)
    status: Mapped[int] = mapped_column(Integer)


outbox, inbox = bus_tables(metadata)
