"""Per-service speed figures, each next to a floor measured in the same run and as a ratio to it.

``run_micro(quick, workdir)`` returns ``{name: {figure, unit, target, pass, floor, floor_name, ratio,
...}}`` (or ``{skipped: why}``). The parts: intake (bench/micro_intake.py), notify
(bench/micro_notify.py), dispatch (bench/micro_dispatch.py), audit (bench/micro_audit.py). Each part
gets its own PostgreSQL databases, dropped at the end whatever happens; one part failing is reported
as that part's failure and the others still run. Load goes to 127.0.0.1 only, bounded in count and
time. ``python -m bench --micro-only [--quick]`` runs just this.
"""

from __future__ import annotations

import importlib
import time
import traceback
from pathlib import Path

from . import report
from .micro_infra import Databases, Web

PARTS = ("intake", "notify", "dispatch", "audit")


def run_micro(quick: bool, workdir: Path) -> dict:
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    echo = Web(workdir, None)  # the HTTP floor, shared by every part of the run
    try:
        for part in PARTS:
            started = time.time()
            print(f"micro: {part}", flush=True)
            dbs = Databases()
            try:
                module = importlib.import_module(f"bench.micro_{part}")
                results.update(module.run(dbs, workdir, quick, echo))
            except Exception as exc:  # one part's failure is its result; the others still run
                (workdir / f"micro-{part}-error.txt").write_text(traceback.format_exc())
                results[f"{part}.error"] = {"error": f"{type(exc).__name__}: {exc}"[:500], "pass": False}
            finally:
                dbs.drop_all()
            print(f"micro: {part} done in {time.time() - started:.0f}s", flush=True)
    finally:
        echo.close()
    return results


def rows(results: dict) -> list[list]:
    """One row a figure: its name, value, target, verdict, floor and ratio (``skipped`` or ``error``
    in the value's place)."""
    rows = []
    for name, r in results.items():
        if "skipped" in r or "error" in r:
            rows.append([name, r.get("skipped") or r.get("error"), None, None, None, None])
            continue
        verdict = "pass" if r["pass"] else "MISS"
        rows.append(
            [
                name,
                f"{r['figure']} {r['unit']}",
                r["target"],
                verdict,
                f"{r['floor']} ({r['floor_name']})" if r["floor"] is not None else None,
                r["ratio"],
            ]
        )
    return rows


HEADERS = ["figure", "value", "target", "", "floor", "ratio"]


def summary(results: dict) -> str:
    return report.table(rows(results), HEADERS)


def markdown(data: dict) -> str:
    """A ``--micro-only`` results file (``{started, commit, quick, wall_s, results}``) for bench/README.md."""
    quick = " --quick" if data.get("quick") else ""
    commit = f" at {data['commit']}" if data.get("commit") else ""
    intro = (
        f"`python -m bench --micro-only{quick}`{commit}, started {report.started_at(data)}: {data['wall_s']:g} s. "
        "Each figure beside its floor measured in the same run, and its ratio to it."
    )
    headers = ["figure", "value", "target", "met", "floor (same run)", "ratio"]
    return f"{intro}\n\n{report.markdown_table(rows(data['results']), headers)}"
