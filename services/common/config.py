"""Settings read from the environment (``WHISTLE_*``) with working defaults.

Read only inside an application factory or a worker bootstrap, never at import time, so that
tests and processes can each bring their own environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SERVICES = ("intake", "dispatch", "notify", "audit")
DEV_JWT_SECRET = "whistle-dev-secret-not-for-production"


def parse_duration(text: str) -> float:
    """'500ms', '5s', '30s', '5m', '2h' or a bare number of seconds → seconds."""
    text = text.strip().lower()
    for suffix, factor in (("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)):
        if text.endswith(suffix) and text[: -len(suffix)].replace(".", "", 1).isdigit():
            return float(text[: -len(suffix)]) * factor
    return float(text)


@dataclass(frozen=True)
class Settings:
    service: str
    database_url: str
    broker_url: str
    jwt_secret: str
    data_dir: Path
    topology_prefix: str = ""
    prefetch: int = 100
    batch_size: int = 50
    batch_linger: float = 0.04
    batch_linger_busy: float = 0.12  # the linger on a machine whose CPUs are saturated (cpu_load.py)
    heartbeat: int = 10
    confirm_timeout: float = 10.0
    retry_delays: tuple[float, ...] = (5.0, 30.0, 300.0)
    relay_poll: float = 0.05
    relay_linger: float = 0.03
    relay_batch: int = 500
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def uses_memory_bus(self) -> bool:
        return self.broker_url.startswith("memory://")

    def get(self, name: str, default: Any = None) -> Any:
        """A service-specific setting: an override passed to the factory, else ``WHISTLE_<NAME>``."""
        if name in self.extra:
            return self.extra[name]
        return os.environ.get(f"WHISTLE_{name}", default)

    @classmethod
    def load(cls, service: str, overrides: dict[str, Any] | None = None) -> Settings:
        overrides = dict(overrides or {})

        def pick(name: str, default: Any) -> Any:
            if name in overrides:
                return overrides.pop(name)
            return os.environ.get(f"WHISTLE_{name}", default)

        data_dir = Path(pick("DATA_DIR", "var")).resolve()
        default_db = f"sqlite:///{data_dir / (service + '.db')}"
        delays = pick("RETRY_DELAYS", "5s,30s,5m")
        if isinstance(delays, str):
            delays = tuple(parse_duration(d) for d in delays.split(",") if d.strip())
        return cls(
            service=service,
            database_url=pick(f"{service.upper()}_DATABASE_URL", default_db),
            broker_url=pick("BROKER_URL", "memory://"),
            jwt_secret=pick("JWT_SECRET", DEV_JWT_SECRET),
            data_dir=data_dir,
            topology_prefix=pick("TOPOLOGY_PREFIX", ""),
            prefetch=int(pick("PREFETCH", 100)),
            batch_size=int(pick("BATCH_SIZE", 50)),
            batch_linger=float(pick("BATCH_LINGER", 0.04)),
            batch_linger_busy=float(pick("BATCH_LINGER_BUSY", 0.12)),
            heartbeat=int(pick("BROKER_HEARTBEAT", 10)),
            confirm_timeout=float(pick("CONFIRM_TIMEOUT", 10.0)),
            retry_delays=tuple(delays),
            relay_poll=float(pick("RELAY_POLL", 0.05)),
            relay_linger=float(pick("RELAY_LINGER", 0.03)),
            relay_batch=int(pick("RELAY_BATCH", 500)),
            extra=overrides,
        )
