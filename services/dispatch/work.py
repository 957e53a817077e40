"""What every dispatch rule works with: the open transaction, the outbox, the time and the tiers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from services.common.outbox import Outbox

from .tiers import DEFAULT_TIERS, Tier


@dataclass
class Work:
    session: Session
    outbox: Outbox
    now: datetime
    tiers: dict[str, Tier] = field(default_factory=lambda: dict(DEFAULT_TIERS))
    by: str = "system"  # who acts, as written in histories: "department:water", "staff:<sub>"

    def emit(self, event_type: str, data: dict[str, Any]) -> None:
        # Event time is the rules' time, so that a test clock and the trail agree.
        self.outbox.emit(self.session, event_type, data, time=self.now)

    def entry(self, status: str, note: str | None = None) -> dict[str, Any]:
        """One history line, the same shape for cases and tasks."""
        return {"at": self.now.isoformat(), "status": status, "by": self.by, "note": note}
