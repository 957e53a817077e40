"""``whistle audit``: verify an export offline, grant the insert-only role, sign a checkpoint now.

whistle audit verify FILE --key PUBKEY   verify a JSON Lines export (exit 0 when it holds)
whistle audit grant ROLE                 create/grant the insert-only PostgreSQL role (as owner)
whistle audit checkpoint                 sign the current head now
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def cmd_verify(args) -> int:
    from tqdm import tqdm

    from .checkpoints import load_public_key
    from .export import BadExport, read_lines, verify_export

    try:
        public_key = load_public_key(Path(args.key).read_bytes())
    except (OSError, ValueError) as exc:
        print(f"whistle audit verify: cannot read the public key: {exc}", file=sys.stderr)
        return 2
    path = Path(args.file)
    # The bar only shows on a terminal and for files worth waiting for.
    with (
        path.open("rb") as handle,
        tqdm(
            total=path.stat().st_size,
            unit="B",
            unit_scale=True,
            desc="verify",
            disable=None if path.stat().st_size > 1 << 20 else True,
            file=sys.stderr,
        ) as bar,
    ):
        try:
            verdict = verify_export(read_lines(handle, bar.update), public_key)
        except (BadExport, ValueError, KeyError) as exc:
            print(f"whistle audit verify: {exc}", file=sys.stderr)
            return 1
    print(json.dumps(verdict, ensure_ascii=False))
    return 0 if verdict["ok"] else 1


def _owner_settings():
    from services.common.config import Settings

    return Settings.load("audit")  # WHISTLE_AUDIT_DATABASE_URL: the owner, as for `whistle migrate`


def cmd_grant(args) -> int:
    from services.common.db import make_engine

    from .roles import grant_insert_only

    engine = make_engine(_owner_settings().database_url)
    try:
        grant_insert_only(engine, args.role, login=not args.nologin)
    except ValueError as exc:
        print(f"whistle audit grant: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(
        f"audit: role {args.role} may read and insert, never update or delete; connect the web and worker "
        f"with WHISTLE_AUDIT_APP_DATABASE_URL=postgresql://{args.role}@<host>/<database>"
    )
    return 0


def cmd_checkpoint(args) -> int:
    from services.common.config import Settings
    from services.common.db import utcnow
    from services.common.runtime import Runtime

    from .app import app_config
    from .checkpoints import Signer, checkpoint_if_due
    from .models import metadata

    settings = Settings.load("audit", app_config(None))
    runtime = Runtime.build(settings, metadata)
    with runtime.transaction() as session:
        checkpoint = checkpoint_if_due(session, Signer.from_settings(settings), utcnow(), force=True)
    runtime.engine.dispose()
    print(json.dumps(checkpoint.as_dict()) if checkpoint else "audit: nothing new to sign")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("audit", help="audit: verify exports, grant the insert-only role")
    sub = parser.add_subparsers(dest="audit_command", required=True)
    p = sub.add_parser("verify", help="verify a JSON Lines export offline")
    p.add_argument("file")
    p.add_argument("--key", required=True, help="the PEM public key from GET /audit/v1/checkpoints/key")
    p.set_defaults(func=cmd_verify)
    p = sub.add_parser("grant", help="create the insert-only PostgreSQL role and grant it (run as owner)")
    p.add_argument("role")
    p.add_argument("--nologin", action="store_true", help="a group role rather than a login")
    p.set_defaults(func=cmd_grant)
    p = sub.add_parser("checkpoint", help="sign a checkpoint of the current head now")
    p.set_defaults(func=cmd_checkpoint)
