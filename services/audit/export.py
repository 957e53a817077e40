"""Exports of the trail, streamed row by row, and their offline verification.

JSON Lines: a header (format, filters, every known checkpoint), one line per row carrying its
canonical text exactly as hashed with its leaf hash, its chain hash and its predecessor's chain
hash, and an ``end`` line with the row count (a cut-off download is then visible). With the
published public key, ``whistle audit verify FILE --key PUBKEY`` re-checks all of it offline.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.orm import Session

from .checkpoints import Checkpoint
from .queries import with_predecessor
from .verify import ChainScan, judge, scan

FORMAT = "whistle-audit-export/1"
CSV_COLUMNS = (
    "seq",
    "event_id",
    "type",
    "case_id",
    "department",
    "actor_role",
    "actor_id",
    "outcome",
    "occurred_at",
    "recorded_at",
    "canonical",
    "leaf_hash",
    "prev_chain_hash",
    "chain_hash",
)
CHUNK = 500  # rows per yielded piece of the response


def _rows(session: Session, args: dict[str, Any]):
    return session.execute(with_predecessor(args).execution_options(yield_per=CHUNK))


def jsonl(
    session: Session, args: dict, filters: dict, checkpoints: list[Checkpoint], counted: Callable[[int], None]
) -> Iterator[str]:
    header = {"kind": "header", "format": FORMAT, "filters": filters, "checkpoints": [c.as_dict() for c in checkpoints]}
    yield json.dumps(header, ensure_ascii=False) + "\n"
    count, lines = 0, []
    with _rows(session, args) as rows:  # closed early too, when the client goes away
        for entry in rows:
            lines.append(
                json.dumps(
                    {
                        "kind": "row",
                        "seq": entry.seq,
                        "canonical": entry.canonical.decode(),
                        "leaf_hash": entry.leaf_hash,
                        "prev_chain_hash": entry.prev_chain_hash,
                        "chain_hash": entry.chain_hash,
                    },
                    ensure_ascii=False,
                )
            )
            count += 1
            if len(lines) >= CHUNK:
                yield "\n".join(lines) + "\n"
                lines = []
                counted(count)
    if lines:
        yield "\n".join(lines) + "\n"
    counted(count)
    yield json.dumps({"kind": "end", "rows": count}) + "\n"


def csv_rows(session: Session, args: dict, counted: Callable[[int], None]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    count = 0
    with _rows(session, args) as rows:
        for entry in rows:
            writer.writerow(
                [
                    entry.seq,
                    entry.event_id,
                    entry.type,
                    entry.case_id,
                    entry.department,
                    entry.actor_role,
                    entry.actor_id,
                    entry.outcome,
                    entry.occurred_at.isoformat().replace("+00:00", "Z"),
                    entry.recorded_at.isoformat().replace("+00:00", "Z"),
                    entry.canonical.decode(),
                    entry.leaf_hash,
                    entry.prev_chain_hash or "",
                    entry.chain_hash,
                ]
            )
            count += 1
            if count % CHUNK == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
                counted(count)
    yield buffer.getvalue()
    counted(count)


class BadExport(ValueError):
    pass


def verify_export(lines: Iterable[str], public_key: Ed25519PublicKey) -> dict[str, Any]:
    """The API's verdict, recomputed from an export alone."""
    lines = iter(lines)
    try:
        header = json.loads(next(lines))
    except (StopIteration, ValueError) as exc:
        raise BadExport("not a Whistle audit export (no header line)") from exc
    if header.get("kind") != "header" or header.get("format") != FORMAT:
        raise BadExport(f"not a Whistle audit export ({FORMAT} header expected)")
    complete = not header.get("filters")
    checkpoints = [Checkpoint.from_dict(c) for c in header.get("checkpoints", [])]
    seen = {"rows": 0, "last": 0, "end": None}

    def rows():
        for line in lines:
            item = json.loads(line)
            if item.get("kind") == "end":
                seen["end"] = item.get("rows")
                continue
            seen["rows"] += 1
            seen["last"] = max(seen["last"], item["seq"])
            yield (
                item["seq"],
                item["canonical"].encode(),
                item["leaf_hash"],
                item["chain_hash"],
                None,
                None if complete else item.get("prev_chain_hash"),
            )

    stream = rows()
    result: ChainScan = scan(stream, sizes=[c.size for c in checkpoints], contiguous=complete)
    for _ in stream:  # read to the end: the trail's real head and the end line
        pass
    verdict = judge(result, checkpoints, public_key, trail_head=seen["last"], complete=complete)
    if seen["end"] != seen["rows"]:
        verdict["ok"] = False
        verdict["problems"].append(f"the export is incomplete: {seen['rows']} rows, end line says {seen['end']}")
    return verdict


def read_lines(handle: IO[bytes], progress: Callable[[int], None] | None = None) -> Iterator[str]:
    for raw in handle:
        if progress:
            progress(len(raw))
        if raw.strip():
            yield raw.decode()
