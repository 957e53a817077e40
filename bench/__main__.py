"""`python -m bench [--quick]`: run the benchmark and write its table, JSON and chart (bench/README.md).

Run from the repository root, where ``bench`` is importable; `make bench` and `make bench-quick` do so
in the benchmark's own environment, `.venv-bench`.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from . import report

RESULTS = Path(__file__).resolve().parent / "results"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench", description="benchmark the platform as real processes (bench/README.md)"
    )
    p.add_argument("--quick", action="store_true", help="a shorter run, under two minutes")
    p.add_argument("--rates", default=None, help="open-loop rates in cases/s, e.g. 25,50,100,200")
    p.add_argument("--out", default=str(RESULTS))
    # ---- per-service figures (bench/micro.py) ----
    p.add_argument("--micro-only", action="store_true", help="only the per-service figures, each beside its floor")
    # ---- where a case's CPU goes (bench/burst.py) ----
    p.add_argument("--burst", type=int, metavar="N", help="only a burst of N cases: CPU and database work a case")
    p.add_argument("--py-spy", action="store_true", help="with --burst: sample the workers with py-spy meanwhile")
    return p


def run_bench(args) -> int:
    if args.micro_only:
        return run_micro_only(args)
    if args.burst:
        from .burst import run_burst

        return run_burst(args.burst, args.py_spy, Path(args.out))
    from .run import Bench

    rates = (
        [float(r) for r in args.rates.split(",")]
        if args.rates
        else ([25, 50, 100] if args.quick else [25, 50, 100, 200])
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    results = Bench(args.quick, rates, out).run()
    results["wall_s"] = round(time.time() - started, 1)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    report.write_json(out / f"bench-{stamp}.json", results)
    report.write_json(out / "latest.json", results)
    charted = report.chart(out / "latency.png", results["open_loop"])
    print(report.summary(results))
    print(f"\nwritten: {out / 'latest.json'}" + (f", {out / 'latency.png'}" if charted else ""))
    report.write_readme(results)
    print(f"rewritten: {report.README}, its latest figures")
    return 0


# ---- per-service figures (bench/micro.py) ----
def run_micro_only(args) -> int:
    from .micro import run_micro
    from .micro import summary as micro_summary
    from .run import commit

    out = Path(args.out)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    started, began = datetime.now(UTC).isoformat(), time.time()
    version = commit()
    results = run_micro(args.quick, out / f"micro-{stamp}")
    data = {
        "started": started,
        "commit": version,
        "quick": args.quick,
        "wall_s": round(time.time() - began, 1),
        "results": results,
    }
    report.write_json(out / f"micro-{stamp}.json", data)
    print(micro_summary(results))
    print(f"\nwritten: {out / f'micro-{stamp}.json'} ({time.time() - began:.0f} s)")
    report.write_readme(data)
    print(f"rewritten: {report.README}, its per-service figures")
    return 0 if all(r.get("pass") is not False for r in results.values()) else 1


def main(argv: list[str] | None = None) -> int:
    return run_bench(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
