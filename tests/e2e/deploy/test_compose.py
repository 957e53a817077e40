"""deploy/docker-compose.yml, read as YAML: which processes there are, what each runs with, in what
order they start, and which credentials each gets."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.e2e.deploy.files import (
    DEPLOY,
    GRANTED,
    HEALTHY,
    INIT_SCRIPT,
    MIGRATED,
    ONE_SHOTS,
    ROOT,
    SERVICES,
    WEBS,
    WORKERS,
    command_of,
    env_file,
    healthcheck_text,
    interpolate,
)


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
