"""Verifying the trail: re-hash every stored canonical row, re-link the chain, and hold the result
against the signed checkpoints. One code path for the API (rows from the database) and for
``whistle audit verify`` (rows from an export), so that both say the same thing."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import chain
from .checkpoints import Checkpoint
from .models import TrailEntry

YIELD_PER = 5000  # rows fetched per round trip while verifying (a server-side cursor on PostgreSQL)


@dataclass
class ChainScan:
    """The outcome of walking rows in seq order."""

    checked: int = 0
    head_seq: int = 0
    head_hash: bytes = chain.GENESIS
    first_bad_seq: int | None = None
    reason: str | None = None
    heads: dict[int, str] = field(default_factory=dict)  # chain hash at each checkpoint size reached


def scan(rows: Iterable[tuple], *, start_seq: int = 1, previous: bytes = chain.GENESIS,
         sizes: Iterable[int] = (), contiguous: bool = True) -> ChainScan:
    """Walk ``rows`` = (seq, canonical, leaf_hex, chain_hex, columns, prev_hex); stop at the first bad one.

    ``columns`` are the stored query columns, held against the canonical row (None in an export).
    ``prev_hex`` is the predecessor's chain hash as an export states it (None from the database);
    with ``contiguous=False`` (a filtered export) a gap in seq is allowed and the stated predecessor
    is used instead, checked whenever the predecessor itself is present.
    """
    result = ChainScan(head_seq=start_seq - 1, head_hash=previous)
    wanted = set(sizes)
    sha256 = hashlib.sha256
    expected = start_seq
    checked = 0
    for seq, canonical, leaf_hex, chain_hex, columns, prev_hex in rows:
        problem = None
        if seq != expected:
            if contiguous or seq < expected or prev_hex is None:
                result.first_bad_seq, result.reason = expected, f"row {expected} is missing or out of order"
                break
            previous = bytes.fromhex(prev_hex)
        elif prev_hex is not None and prev_hex != previous.hex():
            problem = "its stated predecessor is not the previous row"
        checked += 1
        leaf = sha256(b"\x00" + canonical).digest()
        link = sha256(previous + leaf).digest()
        if problem:
            pass
        elif leaf.hex() != leaf_hex:
            problem = "its content does not match its leaf hash"
        elif link.hex() != chain_hex:
            problem = "its chain hash does not follow from the previous row"
        else:
            problem = _seq_problem(seq, canonical)
            if problem is None and columns is not None:
                problem = _columns_problem(canonical, columns)
        if problem:
            result.first_bad_seq, result.reason = seq, f"row {seq}: {problem}"
            break
        previous = link
        expected = seq + 1
        if seq in wanted:
            result.heads[seq] = chain_hex
    result.checked = checked
    if checked:  # the head is the last row that verified
        result.head_seq, result.head_hash = expected - 1, previous
    return result


def _seq_problem(seq: int, canonical: bytes) -> str | None:
    """Does the hashed row name this seq? JCS sorts keys, so the top-level "seq" comes after "data",
    and no string can hold an unescaped quote: its last occurrence is the top-level one. A byte
    search, where parsing every row as JSON would halve verification speed."""
    at = canonical.rfind(b',"seq":')
    stated = canonical[at + 7: canonical.find(b",", at + 7)] if at >= 0 else b""
    return None if stated == b"%d" % seq else f"its content says seq {stated.decode(errors='replace') or '?'}"


def _json(value: str | None) -> bytes:
    # json's C string encoder escapes exactly as RFC 8785 does (quote, backslash, control characters).
    return b"null" if value is None else encode_basestring(value).encode()


def _columns_problem(canonical: bytes, columns: tuple) -> str | None:
    """Do the stored query columns (event_id, type, case_id, department, actor_id, outcome) say what
    the hashed row says? Byte comparisons, relying on JCS: keys sorted, so "actor" and "case_id"
    open the row and "department", "event_id", "outcome" and "type" follow "data", which they can
    only do as top-level keys (a string cannot hold an unescaped quote)."""
    event_id, kind, case_id, department, actor_id, outcome = columns
    opening = canonical[:canonical.find(b',"correlation_id":')]
    at = canonical.rfind(b',"department":')
    closing = canonical[at:]
    if not (opening.endswith(b',"case_id":' + _json(case_id))
            and b'"id":' + _json(actor_id) + b',"role":' in opening
            and closing.startswith(b',"department":' + _json(department) + b',"event_id":' + _json(event_id) + b",")
            and b',"outcome":' + _json(outcome) + b"," in closing
            and closing.endswith(b',"type":' + _json(kind) + b"}")):
        return "a query column differs from the hashed row"
    return None


def judge(result: ChainScan, checkpoints: list[Checkpoint], public_key: Ed25519PublicKey, *,
          trail_head: int, start_seq: int = 1, end_seq: int | None = None,
          complete: bool = True) -> dict[str, Any]:
    """The verdict, in the API's shape, from a scan and every known checkpoint.

    A checkpoint must carry a valid signature, must not be larger than the trail (deleting the
    newest rows), and where the scan reached its size must name the same head (a rewritten chain).
    """
    first_bad, reasons = result.first_bad_seq, [result.reason] if result.reason else []
    latest_ok = None
    last_good_size = start_seq - 1
    for cp in sorted(checkpoints, key=lambda c: c.size):
        ok: bool | None = True
        if not cp.signature_ok(public_key):
            ok, why = False, f"checkpoint {cp.size}: signature not valid under the published key"
        elif complete and cp.size > trail_head:
            ok, why = False, f"checkpoint {cp.size} was signed but the trail ends at {trail_head}"
            first_bad = min(first_bad or trail_head + 1, trail_head + 1)
        elif cp.size in result.heads:
            if result.heads[cp.size] != cp.head:
                ok, why = False, f"checkpoint {cp.size}: the chain hash there differs from the signed head"
                first_bad = min(first_bad or last_good_size + 1, last_good_size + 1)
            else:
                last_good_size = cp.size
        elif complete and start_seq <= cp.size <= (end_seq or trail_head):
            ok = None  # the chain broke before reaching it: nothing to compare
        if ok is False:
            reasons.append(why)
        latest_ok = ok
    latest = max(checkpoints, key=lambda c: c.size) if checkpoints else None
    verdict = {
        "ok": not reasons,
        "checked": result.checked,
        "head": {"seq": result.head_seq, "chain_hash": result.head_hash.hex() if result.head_seq else None},
        "first_bad_seq": first_bad,
        "checkpoint": {"size": latest.size, "ok": latest_ok} if latest else None,
        "problems": reasons,
    }
    return verdict


def verify_trail(session: Session, checkpoints: list[Checkpoint], public_key: Ed25519PublicKey,
                 from_seq: int | None = None, to_seq: int | None = None) -> dict[str, Any]:
    """Verify rows ``from_seq``..``to_seq`` (default: all) as stored, streaming them."""
    start = from_seq or 1
    previous = chain.GENESIS
    if start > 1:
        stated = session.scalar(select(TrailEntry.chain_hash).where(TrailEntry.seq == start - 1))
        previous = bytes.fromhex(stated) if stated else chain.GENESIS
    t = TrailEntry
    query = (select(t.seq, t.canonical, t.leaf_hash, t.chain_hash, t.event_id, t.type, t.case_id, t.department,
                    t.actor_id, t.outcome)
             .where(t.seq >= start).order_by(t.seq).execution_options(yield_per=YIELD_PER))
    if to_seq:
        query = query.where(t.seq <= to_seq)
    # Core on the session's connection, not the ORM: no per-row ORM bookkeeping on a million rows.
    with session.connection().execute(query) as stream:  # closes the server-side cursor when stopping early
        rows = ((r[0], r[1], r[2], r[3], r[4:], None) for r in stream)
        result = scan(rows, start_seq=start, previous=previous, sizes=[c.size for c in checkpoints])
    head = session.scalar(select(func.max(TrailEntry.seq))) or 0
    return judge(result, checkpoints, public_key, trail_head=head, start_seq=start, end_seq=to_seq)
