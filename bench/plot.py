"""A small PNG of one benchmark run: requests/s per case (the Go peer in cyan), the ratio to the ceiling round by round,
and p99 latency."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on CI or in a container

import matplotlib.pyplot as plt

_COLOURS = {"ceiling": "#9e9e9e", "endpoint": "#1f77b4", "log-info": "#ff7f0e", "scaling": "#2ca02c",
            "go": "#17becf", "burst": "#1f77b4", "go-burst": "#17becf"}


def render(result: dict[str, Any], path: Path) -> None:
    cases = result["cases"]
    names = [c["name"] for c in cases]
    colours = [_COLOURS.get(c["role"], "#1f77b4") for c in cases]
    rows = range(len(cases))
    targets = result.get("plan", {})

    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(14, 0.45 * len(cases) + 2), sharey=True)
    left.barh(rows, [c["rps"] for c in cases], color=colours)
    ceiling = result["ceiling_rps"]
    left.axvline(ceiling, color="#616161", linestyle="-", linewidth=1, label=f"ceiling {ceiling:,.0f}")
    left.axvline(0.6 * ceiling, color="#d62728", linestyle="--", linewidth=1, label="target: 0.6 x ceiling")
    for row, case in zip(rows, cases, strict=True):
        left.text(case["rps"], row, f" {case['rps']:,.0f}", va="center", fontsize=8)
    left.set_yticks(list(rows), names, fontsize=8)
    left.invert_yaxis()
    left.set_xlabel("requests/s")
    left.set_xlim(0, max(c["rps"] for c in cases) * 1.2)

    # The median ratio as a bar, each round as a dot: how far the rounds agree.
    rated = [(row, case) for row, case in zip(rows, cases, strict=True) if case.get("ratio_to_ceiling") is not None]
    middle.barh([row for row, _ in rated], [case["ratio_to_ceiling"] for _, case in rated],
                color=[_COLOURS.get(case["role"], "#1f77b4") for _, case in rated])
    for row, case in rated:
        each = [r["ratio_to_ceiling"] for r in case.get("rounds", [])]
        middle.plot(each, [row] * len(each), "o", color="#212121", markersize=3)
        middle.text(max([case["ratio_to_ceiling"], *each]), row, f" {case['ratio_to_ceiling']:.2f}", va="center",
                    fontsize=8)
    middle.axvline(0.6, color="#d62728", linestyle="--", linewidth=1)
    rounds = result.get("plan", {}).get("rounds", 1)
    middle.set_xlabel(f"vs ceiling (bar: median of {rounds} round{'s' * (rounds > 1)}, dots: rounds)")
    middle.set_xlim(0, max([1.0, *(r["ratio_to_ceiling"] for _, c in rated for r in c.get("rounds", []))]) * 1.2)

    p99 = [c["latency_ms"]["p99"] for c in cases]
    right.barh(rows, p99, color=colours)
    right.axvline(3.0, color="#d62728", linestyle="--", linewidth=1, label="target: p99 < 3 ms")
    for row, value in zip(rows, p99, strict=True):
        right.text(value, row, f" {value:.2f}", va="center", fontsize=8)
    right.set_xlabel("p99 latency (ms)")
    right.set_xlim(0, max([*p99, 3.0]) * 1.2)
    fig.legend(loc="lower center", ncol=3, fontsize=7, frameon=False)

    short = " (short run)" if targets.get("short") else ""
    fig.suptitle(f"connectionpool-webhook bench {result['started']}{short}: TLS keep-alive, "
                 f"{targets.get('connections', '?')} connections, ~2 KB AdmissionReviews", fontsize=9)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)
