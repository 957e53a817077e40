"""Notify's own settings (``WHISTLE_*``, or the factory's config dict in tests), read once at start."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from services.common.config import Settings, parse_duration

DEFAULT_BACKOFF = "0s,5s,30s,5m,30m"


def _flag(value) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class NotifyConfig:
    # Attempt n (1-based) is made backoff[n-1] after the previous one failed (the first at once);
    # after the last the delivery is ``failed``.
    backoff: tuple[timedelta, ...]
    connect_timeout: float
    read_timeout: float
    threads: int
    poll: float
    # Seconds the sender waits after the planner's commit wakes it, and its recorder while other
    # sends are under way: what the next few milliseconds bring shares the claim, or the commit.
    linger: float
    rotation_window: timedelta
    intake_url: str
    jwt_secret: str
    smtp_host: str
    smtp_port: int
    smtp_starttls: bool
    smtp_user: str
    smtp_password: str
    smtp_from: str
    sms_provider: str
    sms_gateway_url: str
    sms_gateway_key: str
    sms_file: Path

    @property
    def lease(self) -> timedelta:
        """How long a claimed delivery is left alone: longer than any send can take, so a crashed
        sender's claims are picked up again, and only then."""
        return timedelta(seconds=self.connect_timeout + self.read_timeout + 60)

    @property
    def per_recipient(self) -> int:
        """How many deliveries to one recipient (a webhook URL, an address, a number) one sender has
        in flight at most: a slow or dead receiver holds that many threads, never all of them."""
        return max(2, self.threads // 4)

    @classmethod
    def load(cls, settings: Settings) -> NotifyConfig:
        get = settings.get
        backoff = get("NOTIFY_BACKOFF", DEFAULT_BACKOFF)
        if isinstance(backoff, str):
            backoff = [parse_duration(d) for d in backoff.split(",") if d.strip()]
        gateway_url = get("SMS_GATEWAY_URL", "") or ""
        return cls(
            backoff=tuple(timedelta(seconds=float(s)) for s in backoff),
            connect_timeout=float(get("WEBHOOK_CONNECT_TIMEOUT", 3.0)),
            read_timeout=float(get("WEBHOOK_READ_TIMEOUT", 10.0)),
            threads=int(get("NOTIFY_THREADS", 16)),
            poll=float(get("NOTIFY_POLL", 0.25)),
            linger=float(get("NOTIFY_LINGER", 0.01)),
            rotation_window=timedelta(seconds=parse_duration(str(get("SECRET_ROTATION_WINDOW", "24h")))),
            intake_url=str(get("INTAKE_URL", "http://127.0.0.1:8000/intake")).rstrip("/"),
            jwt_secret=settings.jwt_secret,
            smtp_host=get("SMTP_HOST", "") or "",
            smtp_port=int(get("SMTP_PORT", 25) or 25),
            smtp_starttls=_flag(get("SMTP_STARTTLS", "false")),
            smtp_user=get("SMTP_USER", "") or "",
            smtp_password=get("SMTP_PASSWORD", "") or "",
            smtp_from=get("SMTP_FROM", "") or "whistle@localhost",
            # The HTTP gateway when one is configured, else the development file sink.
            sms_provider=get("SMS_PROVIDER", "") or ("http" if gateway_url else "file"),
            sms_gateway_url=gateway_url,
            sms_gateway_key=get("SMS_GATEWAY_KEY", "") or "",
            sms_file=Path(get("SMS_FILE", "") or settings.data_dir / "sms.jsonl"),
        )
