"""Audit's table: the append-only, hash-chained trail of every event."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.db import NAMING, UTCDateTime, bus_tables

metadata = MetaData(naming_convention=NAMING)


class Base(DeclarativeBase):
    metadata = metadata


class TrailEntry(Base):
    __tablename__ = "trail"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
                                     autoincrement=False)
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


outbox, inbox = bus_tables(metadata)
