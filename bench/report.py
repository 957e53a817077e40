"""Figures from raw timings: percentiles, the terminal table, the JSON file and the chart."""

from __future__ import annotations

import json
from pathlib import Path


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def latency_summary(values_s: list[float]) -> dict:
    ms = [v * 1000 for v in values_s]
    return {
        "n": len(ms),
        **{f"p{p}": _round(percentile(ms, p)) for p in (50, 90, 99)},
        "max": _round(max(ms) if ms else None),
    }


def _round(value):
    return None if value is None else round(value, 1)


def table(rows: list[list], headers: list[str]) -> str:
    cells = [[str(h) for h in headers]] + [["—" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_json(path: Path, results: dict) -> None:
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False))


def chart(path: Path, open_loop: list[dict]) -> bool:
    """Latency percentiles (accepted → webhook) against offered load; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rates = [r["rate"] for r in open_loop]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key, style in (("p50", "o-"), ("p90", "s-"), ("p99", "^-")):
        ax.plot(rates, [r["stages"]["accepted_to_webhook"][key] for r in open_loop], style, label=key)
    ax.set_xlabel("offered load (cases/s)")
    ax.set_ylabel("accepted → webhook received (ms)")
    ax.set_title("Whistle end-to-end latency against offered load")
    ax.axhline(500, color="grey", linestyle=":", linewidth=1)  # the target at 50 cases/s
    ax.set_yscale("log")  # from a few hundred milliseconds to tens of seconds
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
