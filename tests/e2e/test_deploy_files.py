"""The deployment files hold together: compose (and its cluster overlay), the Dockerfile, the
gateway, gunicorn's config, the PostgreSQL init script, the Procfile and the page that
documents them. Nothing here needs a Docker daemon; the gateway runs for real under nginx
against stand-in services on loopback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, urlsplit

import psycopg
import pytest
import yaml

from tests import infra

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SERVICES = ("intake", "dispatch", "notify", "audit")
WEBS = [f"{s}-web" for s in SERVICES]
WORKERS = [f"{s}-worker" for s in SERVICES]
ONE_SHOTS = ["migrate", "audit-grant"]  # run to completion before the webs and workers
CLUSTER_NODES = ("rabbitmq-1", "rabbitmq-2", "rabbitmq-3")
HEALTHY = {"condition": "service_healthy"}
MIGRATED = {"condition": "service_completed_successfully"}
GRANTED = MIGRATED  # audit-grant, likewise exited 0


# --- helpers ----------------------------------------------------------------------------------

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def base() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def cluster() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.cluster.yml").read_text())


# --- docker-compose.yml -----------------------------------------------------------------------


def test_compose_defines_every_process(base):
    expected = {"rabbitmq", "postgres", "gateway", *ONE_SHOTS, *WEBS, *WORKERS}
    assert expected <= set(base["services"])


def test_compose_images(base):
    services = base["services"]
    assert services["rabbitmq"]["image"] == "rabbitmq:3.10-management"
    assert services["postgres"]["image"] == "postgres:15"
    assert services["gateway"]["image"].startswith("nginx:")
    for name in [*ONE_SHOTS, *WEBS, *WORKERS]:
        build = services[name]["build"]
        assert (DEPLOY / build["context"]).resolve() == ROOT, name
        assert build["dockerfile"] == "deploy/Dockerfile", name
    # One image for all: the processes differ by command only.
    assert len({services[n]["image"] for n in [*ONE_SHOTS, *WEBS, *WORKERS]}) == 1


@pytest.mark.parametrize("service", SERVICES)
def test_compose_commands_are_the_cli(base, service):
    services = base["services"]
    assert command_of(services[f"{service}-web"]) == f"whistle serve {service}"
    assert command_of(services[f"{service}-worker"]) == f"whistle worker {service}"


def test_compose_migrate_runs_once_before_everything(base):
    migrate = base["services"]["migrate"]
    assert command_of(migrate) == "whistle migrate all"
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {"postgres": HEALTHY}
    for service in SERVICES:
        database = urlsplit(interpolate(migrate["environment"][f"WHISTLE_{service.upper()}_DATABASE_URL"]))
        assert (database.username, database.path) == (f"whistle_{service}", f"/whistle_{service}")  # the owners
    assert "WHISTLE_AUDIT_APP_DATABASE_URL" not in migrate["environment"]


def test_compose_audit_grant_runs_as_the_owner_after_migrate(base):
    """docs/audit.md: migrate and grant as the owner; the web and worker as the insert-only role."""
    grant = base["services"]["audit-grant"]
    assert command_of(grant) == "whistle audit grant whistle_audit_app"
    assert grant["restart"] == "no"
    assert grant["depends_on"] == {"migrate": MIGRATED}
    env = grant["environment"]
    owner = urlsplit(interpolate(env["WHISTLE_AUDIT_DATABASE_URL"]))
    assert (owner.scheme, owner.hostname, owner.port) == ("postgresql", "postgres", 5432)
    assert (owner.username, owner.path) == ("whistle_audit", "/whistle_audit")
    assert env["WHISTLE_AUDIT_DATABASE_URL"] == base["services"]["migrate"]["environment"]["WHISTLE_AUDIT_DATABASE_URL"]
    # Only audit's owner URL: no other database, no broker, no JWT secret.
    assert set(env) == {"WHISTLE_LOG_LEVEL", "WHISTLE_AUDIT_DATABASE_URL"}

    # The role it grants is the one the web and worker log in as, and the one postgres-init makes
    # (${prefix}audit_app, with the default prefix whistle_).
    role = command_of(grant).split()[-1]
    for process in ("audit-web", "audit-worker"):
        app = urlsplit(interpolate(base["services"][process]["environment"]["WHISTLE_AUDIT_APP_DATABASE_URL"]))
        assert app.username == role, process
    assert '"${prefix}audit_app"' in INIT_SCRIPT.read_text()


def test_compose_gives_audits_roles_passwords_of_their_own(base):
    """No other service's credentials open audit's owner, and audit's web and worker cannot log in
    as the owner either: three passwords, in compose's defaults and in the shipped example."""
    example = env_file(DEPLOY / ".env.example")
    services = base["services"]
    urls = {
        "intake": services["intake-web"]["environment"]["WHISTLE_INTAKE_DATABASE_URL"],
        "audit owner": services["audit-grant"]["environment"]["WHISTLE_AUDIT_DATABASE_URL"],
        "audit app": services["audit-web"]["environment"]["WHISTLE_AUDIT_APP_DATABASE_URL"],
    }
    for env in ({}, example):
        passwords = {name: urlsplit(interpolate(url, env)).password for name, url in urls.items()}
        assert len(set(passwords.values())) == 3, passwords
    postgres = services["postgres"]["environment"]
    for name in ("WHISTLE_DB_PASSWORD", "WHISTLE_AUDIT_DB_PASSWORD", "WHISTLE_AUDIT_APP_DB_PASSWORD"):
        assert postgres[name] == f"${{{name}:-{interpolate(postgres[name])}}}"  # the same default as the URLs'
    assert urlsplit(interpolate(urls["audit owner"])).password == interpolate(postgres["WHISTLE_AUDIT_DB_PASSWORD"])
    assert urlsplit(interpolate(urls["audit app"])).password == interpolate(postgres["WHISTLE_AUDIT_APP_DB_PASSWORD"])


@pytest.mark.parametrize("process", WEBS + WORKERS)
def test_compose_environment(base, process):
    service = process.split("-")[0]
    env = base["services"][process]["environment"]

    broker = urlsplit(interpolate(env["WHISTLE_BROKER_URL"]))
    assert (broker.scheme, broker.hostname, broker.port) == ("amqp", "rabbitmq", 5672)

    if service == "audit":
        # The insert-only role, and not the owner's URL as well: it would win nothing (app.py
        # prefers the app URL) but a way round the role.
        database = urlsplit(interpolate(env["WHISTLE_AUDIT_APP_DATABASE_URL"]))
        assert database.username == "whistle_audit_app"
        assert "WHISTLE_AUDIT_DATABASE_URL" not in env
    else:
        database = urlsplit(interpolate(env[f"WHISTLE_{service.upper()}_DATABASE_URL"]))
        assert database.username == f"whistle_{service}"
        assert "WHISTLE_AUDIT_APP_DATABASE_URL" not in env
    assert database.scheme == "postgresql"
    assert (database.hostname, database.port) == ("postgres", 5432)
    assert database.path == f"/whistle_{service}"
    # Its own database only: no service reads another's tables.
    others = [f"WHISTLE_{o.upper()}_DATABASE_URL" for o in SERVICES if o != service]
    assert not set(others) & set(env)

    # A shared, required JWT secret: no default anyone could guess.
    assert env["WHISTLE_JWT_SECRET"].startswith("${WHISTLE_JWT_SECRET:?")
    with pytest.raises(KeyError):
        interpolate(env["WHISTLE_JWT_SECRET"])

    if service == "notify":
        assert interpolate(env["WHISTLE_INTAKE_URL"]) == "http://intake-web:8000"
        for name in ("HOST", "PORT", "USER", "PASSWORD", "STARTTLS", "FROM"):
            assert f"WHISTLE_SMTP_{name}" in env
        assert {"WHISTLE_SMS_GATEWAY_URL", "WHISTLE_SMS_GATEWAY_KEY"} <= set(env)
    if service == "audit":
        mounts = [v.split(":")[1] for v in base["services"][process]["volumes"]]
        for name in ("WHISTLE_AUDIT_CHECKPOINT_KEY", "WHISTLE_AUDIT_CHECKPOINT_DIR"):
            assert any(env[name].startswith(m + "/") for m in mounts), f"{name} not on a volume"


def test_compose_ports(base):
    services = base["services"]
    assert [interpolate(p) for p in services["gateway"]["ports"]] == ["8000:8000"]
    assert [p.rsplit(":", 2)[-2:] for p in services["rabbitmq"]["ports"]] == [["15672", "15672"]]
    # Webs and workers publish nothing: `--scale` would collide on a host port, and the
    # gateway is the one way in.
    for name in ["postgres", *ONE_SHOTS, *WEBS, *WORKERS]:
        assert "ports" not in services[name], name


def test_compose_healthchecks(base):
    services = base["services"]
    assert healthcheck_text(services["rabbitmq"]) == "CMD rabbitmq-diagnostics -q ping"
    assert "pg_isready" in healthcheck_text(services["postgres"])
    for web in WEBS:
        assert "http://127.0.0.1:8000/readyz" in healthcheck_text(services[web]), web
    for worker in WORKERS:
        assert "http://127.0.0.1:9000/readyz" in healthcheck_text(services[worker]), worker
    assert "/healthz" in healthcheck_text(services["gateway"])


def test_compose_start_order(base):
    services = base["services"]
    # audit's wait for the grant (itself after migrate): before it its role can read nothing.
    ready = {s: {"audit-grant": GRANTED} if s == "audit" else {"migrate": MIGRATED} for s in SERVICES}
    for service in SERVICES:
        # With the broker down a web keeps accepting (the outbox holds the events).
        web, worker = services[f"{service}-web"], services[f"{service}-worker"]
        assert web["depends_on"] == {"postgres": HEALTHY, **ready[service]}, service
        assert worker["depends_on"] == {"postgres": HEALTHY, "rabbitmq": HEALTHY, **ready[service]}, service
    assert services["migrate"]["depends_on"] == {"postgres": HEALTHY}
    assert services["audit-grant"]["depends_on"] == {"migrate": MIGRATED}
    assert services["gateway"]["depends_on"] == {web: HEALTHY for web in WEBS}


def test_compose_mounts_the_checked_in_configs(base):
    services = base["services"]
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in services["gateway"]["volumes"]
    assert "./postgres-init:/docker-entrypoint-initdb.d:ro" in services["postgres"]["volumes"]
    assert {"WHISTLE_DB_PASSWORD", "WHISTLE_AUDIT_DB_PASSWORD", "WHISTLE_AUDIT_APP_DB_PASSWORD"} <= set(
        services["postgres"]["environment"]
    )


def test_env_example_lists_every_setting():
    example = env_file(DEPLOY / ".env.example")
    used = compose_variables(DEPLOY / "docker-compose.yml") | compose_variables(DEPLOY / "docker-compose.cluster.yml")
    assert used == set(example), "deploy/.env.example and the compose files disagree"
    # The example as shipped satisfies every required variable.
    for path in ("docker-compose.yml", "docker-compose.cluster.yml"):
        interpolate((DEPLOY / path).read_text(), example)


# --- docker-compose.cluster.yml ---------------------------------------------------------------


def test_cluster_has_three_rabbitmq_nodes(base, cluster):
    services = cluster["services"]
    nodes = {
        "rabbitmq": services["rabbitmq"],
        "rabbitmq-2": services["rabbitmq-2"],
        "rabbitmq-3": services["rabbitmq-3"],
    }
    assert [n["hostname"] for n in nodes.values()] == list(CLUSTER_NODES)
    assert services["rabbitmq"]["networks"]["default"]["aliases"] == ["rabbitmq-1"]
    for name, node in nodes.items():
        image = node.get("image", base["services"].get(name, {}).get("image"))
        assert image == "rabbitmq:3.10-management", name
        assert "RABBITMQ_ERLANG_COOKIE" in node["environment"], name
        assert node["configs"][0]["target"].startswith("/etc/rabbitmq/conf.d/"), name
        assert "rabbitmq-diagnostics" in healthcheck_text(node), name
        assert len(node["volumes"]) == 1, name
    assert len({n["volumes"][0] for n in nodes.values()}) == 3  # a data volume per node

    config = cluster["configs"]["rabbitmq-cluster"]["content"]
    assert "cluster_formation.peer_discovery_backend = classic_config" in config
    listed = re.findall(r"^cluster_formation\.classic_config\.nodes\.\d+ = rabbit@(\S+)$", config, re.M)
    assert listed == list(CLUSTER_NODES)


@pytest.mark.parametrize("process", WEBS + WORKERS)
def test_cluster_broker_url_lists_every_node(cluster, process):
    overlay = cluster["services"][process]
    urls = [urlsplit(u) for u in interpolate(overlay["environment"]["WHISTLE_BROKER_URL"]).split(";")]
    assert [u.hostname for u in urls] == list(CLUSTER_NODES)
    assert {(u.scheme, u.port, u.username) for u in urls} == {("amqp", 5672, "whistle")}
    if process.endswith("-worker"):
        assert overlay["depends_on"] == {"rabbitmq-2": HEALTHY, "rabbitmq-3": HEALTHY}


def test_cluster_keeps_audit_on_its_insert_only_role(base, cluster):
    """Compose merges an overlay's environment and depends_on into the base's, key by key: the
    cluster changes the broker only, and the one-shots, which use no broker, not at all."""
    for name in ONE_SHOTS:
        assert name not in cluster["services"], name
    for process in ("audit-web", "audit-worker"):
        overlay = cluster["services"][process]
        assert set(overlay["environment"]) == {"WHISTLE_BROKER_URL"}, process
        merged = {**base["services"][process]["depends_on"], **overlay.get("depends_on", {})}
        assert merged["audit-grant"] == GRANTED and "migrate" not in merged, process


def _compose_command() -> list[str]:
    """Compose v2 (the Compose Specification); v1 rejects these files' `name` and `configs`."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        probe = subprocess.run(["docker-compose", "version", "--short"], capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip().lstrip("v").startswith("2"):
            return ["docker-compose"]
    pytest.skip(
        "Docker Compose v2 not installed (neither the `docker compose` plugin nor a v2 "
        "`docker-compose`); the files were checked as YAML above"
    )


@pytest.mark.parametrize(
    "files", [["docker-compose.yml"], ["docker-compose.yml", "docker-compose.cluster.yml"]], ids=["base", "cluster"]
)
def test_compose_config_validates(files):
    """`docker compose config` needs no daemon: it validates and resolves the files as given
    `cp .env.example .env`."""
    command = _compose_command()
    args = [*command, "--env-file", str(DEPLOY / ".env.example")]
    for name in files:
        args += ["-f", str(DEPLOY / name)]
    result = subprocess.run([*args, "config", "--format", "json"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    resolved = json.loads(result.stdout)["services"]
    assert resolved["intake-web"]["command"] == ["whistle", "serve", "intake"]
    assert resolved["audit-grant"]["command"] == ["whistle", "audit", "grant", "whistle_audit_app"]
    assert resolved["audit-grant"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    for process in ("audit-web", "audit-worker"):
        assert resolved[process]["depends_on"]["audit-grant"]["condition"] == "service_completed_successfully"
        app = urlsplit(resolved[process]["environment"]["WHISTLE_AUDIT_APP_DATABASE_URL"])
        assert (app.username, app.password) == ("whistle_audit_app", "change-me-whistle")
    hosts = [urlsplit(u).hostname for u in resolved["audit-worker"]["environment"]["WHISTLE_BROKER_URL"].split(";")]
    assert hosts == (list(CLUSTER_NODES) if len(files) == 2 else ["rabbitmq"])


# --- Dockerfile -------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines if line and not line.startswith("#")
    ]


def test_dockerfile_is_multi_stage_and_unprivileged():
    instructions = dockerfile_instructions()
    stages = [arg for op, arg in instructions if op == "FROM"]
    assert len(stages) >= 2
    assert stages[-1] == "python:3.11-slim"
    assert any(arg.startswith("--from=") for op, arg in instructions if op == "COPY")
    users = [arg for op, arg in instructions if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert ("EXPOSE", "8000 9000") in instructions
    # Compose states each whole command; an ENTRYPOINT would prefix (and hide) it.
    assert "ENTRYPOINT" not in {op for op, _ in instructions}


def test_dockerfile_copies_files_that_exist_and_sets_the_metrics_dir(base):
    instructions = dockerfile_instructions()
    for op, arg in instructions:
        if op == "COPY" and not arg.startswith("--from="):
            *sources, _ = arg.split()
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: no such path"
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(arg for op, arg in instructions if op == "ENV")))
    # Healthchecks, the gateway and a scraper on the compose network reach these ports.
    assert env["WHISTLE_BIND"] == "0.0.0.0:8000"
    assert (env["WHISTLE_WORKER_HOST"], env["WHISTLE_WORKER_PORT"]) == ("0.0.0.0", "9000")
    assert env["WHISTLE_GUNICORN_CONFIG"] == "/app/deploy/gunicorn.conf.py"
    metrics_dir = env["PROMETHEUS_MULTIPROC_DIR"]
    assert metrics_dir == "/tmp/prometheus"
    # compose mounts a fresh tmpfs exactly there, for every app container
    for name in [*WEBS, *WORKERS]:
        assert any(t.split(":")[0] == metrics_dir for t in base["services"][name]["tmpfs"]), name


# --- gunicorn.conf.py -------------------------------------------------------------------------


def gunicorn_config(monkeypatch, **env):
    """The settings gunicorn itself reads from the file, through its own loader."""
    from gunicorn.app.base import Application
    from gunicorn.config import Config

    class Probe(Application):
        def __init__(self):  # no argv parsing, no app
            self.cfg = Config()

        def init(self, parser, opts, args):
            return None

        def load(self):
            raise AssertionError("the config file must not load the app")

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delitem(sys.modules, "__config__", raising=False)
    probe = Probe()
    probe.load_config_from_module_name_or_filename(str(DEPLOY / "gunicorn.conf.py"))
    monkeypatch.delitem(sys.modules, "__config__", raising=False)
    return probe.cfg


def test_gunicorn_config(monkeypatch, base):
    monkeypatch.delenv("WHISTLE_BIND", raising=False)
    monkeypatch.delenv("WHISTLE_WEB_WORKERS", raising=False)
    monkeypatch.delenv("WHISTLE_WEB_MAX_REQUESTS", raising=False)
    cfg = gunicorn_config(monkeypatch)
    assert cfg.bind == ["127.0.0.1:8000"]
    assert cfg.workers == 2
    assert cfg.preload_app is False  # no broker or engine before fork
    assert (cfg.timeout, cfg.max_requests, cfg.max_requests_jitter) == (30, 20000, 2000)
    assert (cfg.accesslog, cfg.errorlog) == ("-", "-")
    grace = int(base["x-app"]["stop_grace_period"].rstrip("s"))
    assert cfg.graceful_timeout < grace, "Docker would SIGKILL before gunicorn finished"

    cfg = gunicorn_config(
        monkeypatch, WHISTLE_BIND="0.0.0.0:8123", WHISTLE_WEB_WORKERS="5", WHISTLE_WEB_MAX_REQUESTS="500"
    )
    assert (cfg.bind, cfg.workers, cfg.max_requests, cfg.max_requests_jitter) == (["0.0.0.0:8123"], 5, 500, 50)


_WRITE_METRICS = """
from prometheus_client import Counter, Gauge
Counter("whistle_test_requests", "requests").inc()
Gauge("whistle_test_busy", "busy", multiprocess_mode="livesum").set(1)
import os; print(os.getpid())
"""


def test_gunicorn_metrics_add_up_and_dead_workers_leave(monkeypatch, tmp_path):
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    (metrics_dir / "counter_99999.db").write_bytes(b"left over from the last run")
    cfg = gunicorn_config(monkeypatch, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))

    cfg.on_starting(None)
    assert list(metrics_dir.iterdir()) == []

    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    pids = [
        int(
            subprocess.run(
                [sys.executable, "-c", _WRITE_METRICS], env=env, check=True, capture_output=True, text=True
            ).stdout
        )
        for _ in range(2)
    ]

    def scrape() -> str:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(metrics_dir))
        return generate_latest(registry).decode()

    assert "whistle_test_requests_total 2.0" in scrape()  # two "workers", one total
    assert "whistle_test_busy 2.0" in scrape()

    cfg.child_exit(None, types.SimpleNamespace(pid=pids[0]))
    assert "whistle_test_busy 1.0" in scrape()  # the dead worker is not busy
    assert "whistle_test_requests_total 2.0" in scrape()  # but what it counted stays


# --- postgres-init ----------------------------------------------------------------------------


INIT_SCRIPT = DEPLOY / "postgres-init" / "10-create-databases.sh"


def test_init_script_is_executable():
    # The postgres image sources (instead of runs) a .sh file without the execute bit.
    assert os.access(INIT_SCRIPT, os.X_OK)
    subprocess.run(["sh", "-n", str(INIT_SCRIPT)], check=True)


def _connect(**params) -> psycopg.Connection:
    return psycopg.connect(autocommit=True, connect_timeout=5, **params)


def _whistle() -> str:
    """The `whistle` console script of the environment running the tests."""
    script = Path(sys.executable).with_name("whistle")
    found = str(script) if os.access(script, os.X_OK) else shutil.which("whistle")
    assert found, "the whistle command is not installed (pip install -e .)"
    return found


def _password_is(verifier: str, password: str) -> bool:
    """Whether PostgreSQL's stored ``verifier`` (pg_authid.rolpassword, SCRAM-SHA-256) is of ``password``."""
    assert verifier.startswith("SCRAM-SHA-256$"), verifier[:14]
    iterations_salt, keys = verifier.removeprefix("SCRAM-SHA-256$").split("$")
    iterations, salt = iterations_salt.split(":")
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    return base64.b64encode(hashlib.sha256(client_key).digest()).decode() == keys.split(":")[0]


_TRAIL_ROW = (
    "insert into trail (seq, event_id, type, source, actor_role, actor_id, outcome, occurred_at, recorded_at,"
    " canonical, leaf_hash, chain_hash) values (%s, %s, 'case.created', 'intake', 'system', 'test', 'ok',"
    " now(), now(), '\\x00', repeat('0', 64), repeat('0', 64))"
)


@pytest.mark.postgres
def test_init_script_creates_a_database_and_role_per_service():
    """Run the script as the image would, against this machine's PostgreSQL (tests/infra.py), then
    audit's part of compose: `whistle migrate audit` and `whistle audit grant` as the owner."""
    admin = urlsplit(infra.PG_ADMIN_URL)
    server = {"host": admin.hostname or "127.0.0.1", "port": admin.port or 5432}
    admin_login = {**server, "user": admin.username or "postgres", "password": admin.password}
    try:
        _connect(**admin_login, dbname="postgres").close()
    except Exception as exc:  # noqa: BLE001 - any failure means the server is not usable
        infra.unavailable("PostgreSQL", exc)
    if not shutil.which("psql"):
        infra.unavailable("psql", "not installed")

    prefix = f"whistle_t{infra.RUN_ID}_"  # roles are cluster-wide: a name per run
    app_role = f"{prefix}audit_app"
    password, owner_password, app_password = "it's a secret", "the owner's @ secret", "the app's secret"
    env = {
        **os.environ,
        "PGHOST": server["host"],
        "PGPORT": str(server["port"]),
        "PGPASSWORD": admin.password or "",
        "POSTGRES_USER": admin_login["user"],
        "WHISTLE_DB_PREFIX": prefix,
        "WHISTLE_DB_PASSWORD": password,
        "WHISTLE_AUDIT_DB_PASSWORD": owner_password,
        "WHISTLE_AUDIT_APP_DB_PASSWORD": app_password,
    }
    try:
        result = subprocess.run([str(INIT_SCRIPT)], env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        with _connect(**admin_login, dbname="postgres") as conn:
            owners = conn.execute(
                "select datname, pg_get_userbyid(datdba) from pg_database where datname like %s order by oid",
                (prefix + "%",),
            ).fetchall()
            roles = conn.execute(
                "select rolname, rolcanlogin, rolcreaterole, rolcreatedb, rolsuper from pg_roles"
                " where rolname like %s order by rolname",
                (prefix + "%",),
            ).fetchall()
        assert owners == [(f"{prefix}{s}", f"{prefix}{s}") for s in SERVICES]
        # Plain logins, all five: the owners make no roles (audit's is made here, above).
        assert roles == sorted((f"{prefix}{s}", True, False, False, False) for s in [*SERVICES, "audit_app"])

        # Each role logs in with the password and works in its own database...
        own = {**server, "user": f"{prefix}intake", "password": password}
        with _connect(**own, dbname=f"{prefix}intake") as conn:
            conn.execute("create table t (x int); drop table t")
        # ...and cannot even connect to another service's.
        with pytest.raises(psycopg.OperationalError, match="permission denied"):
            _connect(**own, dbname=f"{prefix}audit").close()

        # audit's insert-only role may connect to audit's database, and to no other.
        app = {**server, "user": app_role, "password": app_password, "dbname": f"{prefix}audit"}
        _connect(**app).close()
        with pytest.raises(psycopg.OperationalError, match="permission denied"):
            _connect(**{**app, "dbname": f"{prefix}intake"}).close()
        # Each role has its password, audit's two their own (read from the catalogue: a server
        # that trusts local logins, like this machine's, would let any password in).
        with _connect(**admin_login, dbname="postgres") as conn:
            kept = dict(
                conn.execute(
                    "select rolname, rolpassword from pg_authid where rolname like %s", (prefix + "%",)
                ).fetchall()
            )
        assert all(_password_is(kept[f"{prefix}{s}"], password) for s in SERVICES if s != "audit")
        assert _password_is(kept[f"{prefix}audit"], owner_password)
        assert _password_is(kept[app_role], app_password)
        assert not _password_is(kept[f"{prefix}audit"], password) and not _password_is(kept[app_role], owner_password)

        # What compose's migrate and audit-grant run, as the owner (who has no CREATEROLE: the
        # grant finds the role and only grants).
        owner_url = (
            f"postgresql://{prefix}audit:{quote(owner_password, safe='')}@"
            f"{server['host']}:{server['port']}/{prefix}audit"
        )
        cli_env = {k: v for k, v in os.environ.items() if not k.startswith("WHISTLE_AUDIT_")}
        cli_env["WHISTLE_AUDIT_DATABASE_URL"] = owner_url
        migrated = subprocess.run([_whistle(), "migrate", "audit"], env=cli_env, capture_output=True, text=True)
        assert migrated.returncode == 0, migrated.stderr
        with _connect(**app) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select count(*) from trail")  # nothing before the grant
        granted = subprocess.run([_whistle(), "audit", "grant", app_role], env=cli_env, capture_output=True, text=True)
        assert granted.returncode == 0, granted.stderr

        with _connect(**app) as conn:
            conn.execute(_TRAIL_ROW, (1, "00000000-0000-4000-8000-000000000001"))
            assert conn.execute("select seq, actor_id from trail").fetchall() == [(1, "test")]
            # Refused by the privileges, before the append-only triggers could be reached.
            for statement in ("update trail set actor_id = 'someone else'", "delete from trail", "truncate trail"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(statement)
            assert conn.execute("select count(*) from trail").fetchone() == (1,)
    finally:
        with _connect(**admin_login, dbname="postgres") as conn:
            for service in SERVICES:
                conn.execute(f'drop database if exists "{prefix}{service}" with (force)')
                conn.execute(f'drop role if exists "{prefix}{service}"')
            conn.execute(f'drop role if exists "{app_role}"')  # after the database its grants were in


# --- nginx.conf -------------------------------------------------------------------------------


def _nginx() -> str:
    binary = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    if not binary:
        pytest.skip("nginx is not installed (Debian: apt-get install nginx)")
    return binary


def test_gateway_upstreams_are_the_compose_webs(base):
    config = (DEPLOY / "nginx.conf").read_text()
    routes = dict(re.findall(r"^\s*(intake|dispatch|notify|audit)\s+(\S+):8000;$", config, re.M))
    assert routes == {s: f"{s}-web" for s in SERVICES}
    assert set(routes.values()) <= set(base["services"])
    assert "client_max_body_size 1m;" in config


def test_gateway_config_passes_nginx_t(tmp_path):
    # The file as shipped: upstream names resolve per request (resolver), so `nginx -t` needs
    # neither compose's DNS nor the webs.
    shutil.copy(DEPLOY / "nginx.conf", tmp_path / "nginx.conf")
    result = subprocess.run(
        [_nginx(), "-t", "-e", "stderr", "-p", f"{tmp_path}/", "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


class _Echo(BaseHTTPRequestHandler):
    """A stand-in service: answers with what reached it."""

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = json.dumps(
            {
                "service": self.server.name,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body_bytes": length,
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def gateway(tmp_path):
    """The real nginx.conf, run by nginx on loopback in front of four stand-in services.

    Only addresses change: upstream names become 127.0.0.1 ports (an IP needs no resolver) and
    the listen port a free one; temp paths go under tmp_path so no system directory is needed.
    """
    nginx = _nginx()
    backends = {}
    for service in SERVICES:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
        server.name = service
        threading.Thread(target=server.serve_forever, daemon=True).start()
        backends[service] = server

    config = (DEPLOY / "nginx.conf").read_text()
    port = free_port()
    replacements = {
        "listen 8000;": f"listen 127.0.0.1:{port};",
        "http {": "http {\n"
        + "".join(
            f"    {kind}_temp_path {tmp_path}/{kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        ),
    }
    replacements |= {f"{s}-web:8000;": f"127.0.0.1:{backends[s].server_port};" for s in SERVICES}
    for old, new in replacements.items():
        assert config.count(old) == 1, f"nginx.conf changed shape: {old!r}"
        config = config.replace(old, new)
    (tmp_path / "nginx.conf").write_text(config)

    # As root, nginx's workers would drop to `nobody`, who cannot enter pytest's private tmp_path.
    user = "user root;" if os.geteuid() == 0 else ""
    process = subprocess.Popen(
        [
            nginx,
            "-e",
            "stderr",
            "-p",
            f"{tmp_path}/",
            "-c",
            str(tmp_path / "nginx.conf"),
            "-g",
            f"daemon off; pid {tmp_path}/nginx.pid; {user}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"nginx did not start: {process.communicate()[1]}")
                time.sleep(0.05)
        yield types.SimpleNamespace(port=port, backends=backends)
    finally:
        process.send_signal(signal.SIGQUIT)
        try:
            process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
        for server in backends.values():
            server.shutdown()
            server.server_close()


def request(gateway, method, path, headers=None, body=None):
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        payload = response.read()
        return response.status, dict(response.getheaders()), payload
    finally:
        connection.close()


def test_gateway_routes_each_prefix_to_its_service(gateway):
    for service in SERVICES:
        status, _, body = request(gateway, "GET", f"/{service}/v1/things?limit=5&cursor=a%2Fb")
        seen = json.loads(body)
        assert status == 200
        assert seen["service"] == service
        assert seen["path"] == "/v1/things?limit=5&cursor=a%2Fb"  # prefix gone, query intact
        headers = seen["headers"]
        assert headers["x-forwarded-prefix"] == f"/{service}"
        assert headers["x-forwarded-for"] == "127.0.0.1"
        assert headers["x-forwarded-proto"] == "http"
        assert headers["host"] == f"127.0.0.1:{gateway.port}"


def test_gateway_keeps_or_mints_a_correlation_id(gateway):
    _, _, body = request(gateway, "GET", "/audit/healthz", {"X-Correlation-Id": "case-42-trace"})
    assert json.loads(body)["headers"]["x-correlation-id"] == "case-42-trace"

    minted = {json.loads(request(gateway, "GET", "/audit/healthz")[2])["headers"]["x-correlation-id"] for _ in range(2)}
    assert len(minted) == 2 and all(re.fullmatch(r"[0-9a-f]{32}", m) for m in minted)


def test_gateway_limits_bodies_to_one_mebibyte(gateway):
    status, _, body = request(
        gateway, "POST", "/intake/v1/cases", body=b"x" * 200_000, headers={"Content-Type": "application/json"}
    )
    assert status == 200 and json.loads(body)["body_bytes"] == 200_000

    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    try:  # announce 2 MiB; nginx refuses on the header, before any body is sent
        connection.putrequest("POST", "/intake/v1/cases")
        connection.putheader("Content-Length", str(2 * 1024 * 1024))
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == 413
        assert json.loads(response.read())["code"] == "PAYLOAD_TOO_LARGE"
    finally:
        connection.close()


def test_gateway_answers_in_the_error_shape(gateway):
    status, headers, body = request(gateway, "GET", "/nowhere")
    assert status == 404
    assert json.loads(body) == {
        "code": "NOT_FOUND",
        "status": 404,
        "errors": {},
        "message": json.loads(body)["message"],
    }
    assert headers["X-Correlation-Id"]

    status, headers, _ = request(gateway, "GET", "/dispatch?x=1")
    assert (status, headers["Location"].rsplit(":", 1)[-1]) == (308, f"{gateway.port}/dispatch/?x=1")

    gateway.backends["notify"].shutdown()
    gateway.backends["notify"].server_close()  # notify is down: connection refused
    status, _, body = request(gateway, "GET", "/notify/v1/deliveries")
    error = json.loads(body)
    assert (status, error["code"], error["status"]) == (502, "SERVICE_UNAVAILABLE", 502)
    assert "notify" in error["message"]
    assert request(gateway, "GET", "/intake/healthz")[0] == 200  # the others are unaffected


# --- Procfile ---------------------------------------------------------------------------------


def procfile() -> dict[str, str]:
    honcho = pytest.importorskip("honcho.environ")
    return honcho.parse_procfile((ROOT / "Procfile").read_text()).processes


def test_procfile_has_a_web_and_a_worker_per_service():
    processes = procfile()
    assert set(processes) == set(WEBS + WORKERS)
    for name, command in processes.items():
        service, kind = name.split("-")
        verb = "serve" if kind == "web" else "worker"
        assert command.endswith(f" whistle {verb} {service}"), name


def test_procfile_processes_get_their_own_ports_and_a_real_broker(tmp_path):
    """Run each line as honcho would (through the shell), with a stand-in `whistle` that
    records its arguments and environment."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "whistle"
    stub.write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        f'json.dump({{"argv": sys.argv[1:], "env": dict(os.environ)}}, sys.stdout)\n'
    )
    stub.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "WHISTLE_BROKER_URL"}
    env |= {"PATH": f"{bin_dir}{os.pathsep}{env['PATH']}", "PROMETHEUS_MULTIPROC_DIR": "/elsewhere"}

    seen = {}
    for name, command in procfile().items():
        result = subprocess.run(command, shell=True, env=env, cwd=ROOT, capture_output=True, text=True, check=True)
        seen[name] = json.loads(result.stdout)

    for index, service in enumerate(SERVICES, start=1):
        web, worker = seen[f"{service}-web"], seen[f"{service}-worker"]
        assert web["argv"] == ["serve", service]
        assert web["env"]["WHISTLE_BIND"] == f"127.0.0.1:{8000 + index}"
        assert web["env"]["PROMETHEUS_MULTIPROC_DIR"] == f"var/prometheus/{service}-web"
        assert worker["argv"] == ["worker", service]
        assert worker["env"]["WHISTLE_WORKER_PORT"] == str(9000 + index)
        assert "PROMETHEUS_MULTIPROC_DIR" not in worker["env"]
        assert worker["env"]["WHISTLE_BROKER_URL"].startswith("amqp://")  # never memory://
    assert (
        seen["notify-worker"]["env"]["WHISTLE_INTAKE_URL"]
        == seen["notify-web"]["env"]["WHISTLE_INTAKE_URL"]
        == "http://127.0.0.1:8001"
    )


# --- docs/deploy.md ---------------------------------------------------------------------------


def test_deploy_page_documents_every_variable(base):
    page = (ROOT / "docs" / "deploy.md").read_text()
    names = set(env_file(DEPLOY / ".env.example"))
    for name in [*WEBS, *WORKERS, *ONE_SHOTS]:
        names |= set(base["services"][name]["environment"])
    for name in ONE_SHOTS:
        assert f"| {name} | `{command_of(base['services'][name])}` |" in page, f"{name} not in the process table"
    missing = sorted(n for n in names if f"`{n}`" not in page)
    assert not missing, f"docs/deploy.md does not mention {missing}"
