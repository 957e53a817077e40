"""``whistle``: one command for every process and chore.

whistle dev [--port N] [--data-dir DIR]   the whole platform in one process (development)
whistle migrate SERVICE|all               apply a service's database migrations
whistle token --role ROLE [...]           issue a bearer token
whistle serve SERVICE                     a service's web process (gunicorn)
whistle worker SERVICE                    a service's worker: consumer, relay, timers
whistle dlq list|replay|purge SERVICE     inspect and replay dead letters
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys

from services.common.config import SERVICES, Settings

EXTENSIONS = ("services.audit.cli",)


def cmd_migrate(args) -> int:
    from services.common.migrations import upgrade

    for service in SERVICES if args.service == "all" else [args.service]:
        settings = Settings.load(service)
        upgrade(service, settings.database_url)
        if service == "dispatch":
            from services.common.runtime import Runtime
            from services.dispatch.models import metadata
            from services.dispatch.seed import seed_defaults

            runtime = Runtime.build(settings, metadata)
            with runtime.transaction() as session:
                seed_defaults(session, settings.get("RULES_FILE"))
            runtime.engine.dispose()
        print(f"{service}: migrated")
    return 0


def cmd_token(args) -> int:
    from services.common.auth import issue_token

    settings = Settings.load("intake")
    try:
        print(
            issue_token(
                settings.jwt_secret,
                role=args.role,
                sub=args.sub,
                department=args.department,
                community=args.community,
                ttl=args.ttl,
            )
        )
    except ValueError as exc:
        print(f"whistle token: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_dev(args) -> int:
    from services.common.devserver import run_dev

    return run_dev(port=args.port, data_dir=args.data_dir, host=args.host)


def cmd_serve(args) -> int:
    from services.common.processes import serve

    return serve(args.service)


def cmd_worker(args) -> int:
    from services.common.processes import run_worker

    return run_worker(args.service, port=args.port)


def cmd_dlq(args) -> int:
    from services.common.dlq import main as dlq_main

    return dlq_main(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="whistle", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("dev", help="run all four services in one process")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--data-dir", default=os.environ.get("WHISTLE_DATA_DIR", "var"))
    p.set_defaults(func=cmd_dev)

    p = sub.add_parser("migrate", help="apply database migrations")
    p.add_argument("service", choices=[*SERVICES, "all"])
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("token", help="issue a bearer token")
    p.add_argument("--role", required=True)
    p.add_argument("--department")
    p.add_argument("--community")
    p.add_argument("--sub")
    p.add_argument("--ttl", type=int, default=12 * 3600)
    p.set_defaults(func=cmd_token)

    p = sub.add_parser("serve", help="run a service's web process under gunicorn")
    p.add_argument("service", choices=SERVICES)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("worker", help="run a service's consumer, relay and timers")
    p.add_argument("service", choices=SERVICES)
    p.add_argument("--port", type=int, default=None, help="health and metrics port")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("dlq", help="dead letters: list, replay, purge")
    p.add_argument("action", choices=["list", "replay", "purge"])
    p.add_argument("service", choices=SERVICES)
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--yes", action="store_true", help="purge without asking")
    p.set_defaults(func=cmd_dlq)

    # Commands a service or tool adds for itself (e.g. `whistle audit verify`, `whistle bench`):
    # a module with register(subparsers).
    for module in EXTENSIONS:
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # its package is not installed (e.g. bench/ outside a checkout)
            found = False
        if found:
            importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args) or 0


if __name__ == "__main__":
    sys.exit(main())
