"""Where the deployment files are, what compose calls its processes, and how to read the files."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
INIT_SCRIPT = DEPLOY / "postgres-init" / "10-create-databases.sh"

SERVICES = ("intake", "dispatch", "notify", "audit")
WEBS = [f"{s}-web" for s in SERVICES]
WORKERS = [f"{s}-worker" for s in SERVICES]
ONE_SHOTS = ["migrate", "audit-grant"]  # run to completion before the webs and workers
CLUSTER_NODES = ("rabbitmq-1", "rabbitmq-2", "rabbitmq-3")

# What a depends_on entry waits for.
HEALTHY = {"condition": "service_healthy"}
MIGRATED = {"condition": "service_completed_successfully"}
GRANTED = MIGRATED  # audit-grant, likewise exited 0

_VARIABLE = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: str, env: dict[str, str] | None = None) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error}, resolved against ``env``."""
    env = env or {}

    def replace(match: re.Match) -> str:
        name, op, arg = match.groups()
        if env.get(name):
            return env[name]
        if op and op.endswith("-"):
            return arg
        if op and op.endswith("?"):
            raise KeyError(f"{name} is required: {arg}")
        return ""

    return _VARIABLE.sub(replace, value)


def compose_variables(path: Path) -> set[str]:
    return {m.group(1) for m in _VARIABLE.finditer(path.read_text())}


def command_of(service: dict) -> str:
    command = service.get("command")
    return " ".join(command) if isinstance(command, list) else command


def healthcheck_text(service: dict) -> str:
    test = service["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else test


def env_file(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs
