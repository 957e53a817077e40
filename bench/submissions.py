"""Instructions a submitted case costs intake's web app, counted rather than timed.

This machine's speed moves between runs minutes apart by more than a change of a few per cent to
one process, so such a change cannot be shown with CPU seconds. Valgrind's callgrind counts the
instructions a process executes, which do not depend on how fast the machine is today: the same
code gives the same count to within a fraction of a per cent. This script submits the load generator's cases
through intake's Flask app in this process (its test client, on a fresh PostgreSQL database),
after a fixed warm-up; run it twice under callgrind with different counts, and the difference,
divided by the difference in cases, is what one submission costs — the warm-up, the imports and
the migrations cancel out:

    valgrind --tool=callgrind --callgrind-out-file=/dev/null .venv-bench/bin/python -m bench.submissions --count 50
    valgrind --tool=callgrind --callgrind-out-file=/dev/null .venv-bench/bin/python -m bench.submissions --count 250

("Collected : N" on each run's last line.) Without valgrind it prints the CPU time a submission
took, which is as noisy as the machine.
"""

from __future__ import annotations

import argparse
import os
import time

from .loadgen import case_body
from .micro_infra import JWT_SECRET, Databases, migrate, token

WARM_UP = 200  # pools, prepared statements and SQLAlchemy's caches filled; the same in every run


def staff_headers() -> dict[str, str]:
    """A JSON POST by staff of the load generator's community."""
    return {"Authorization": f"Bearer {token('staff', community='武泰闸社区')}", "Content-Type": "application/json"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=250, help="cases submitted after the warm-up")
    args = parser.parse_args()
    dbs = Databases()
    url = dbs.create("intake")
    migrate("intake", url)
    os.environ.update(
        {"WHISTLE_INTAKE_DATABASE_URL": url, "WHISTLE_JWT_SECRET": JWT_SECRET, "WHISTLE_LOG_LEVEL": "WARNING"}
    )
    from services.intake.app import create_app

    app = create_app()
    try:
        client = app.test_client()
        headers = staff_headers()
        for n in range(WARM_UP):
            assert client.post("/v1/cases", data=case_body(n), headers=headers).status_code == 201
        bodies = [case_body(WARM_UP + n) for n in range(args.count)]
        started = time.process_time()
        for body in bodies:
            assert client.post("/v1/cases", data=body, headers=headers).status_code == 201
        spent = time.process_time() - started
        print(f"{args.count} cases submitted after {WARM_UP}: {1000 * spent / max(args.count, 1):.2f} ms of CPU each")
    finally:
        app.extensions["whistle"].engine.dispose()
        dbs.drop_all()


if __name__ == "__main__":
    main()
