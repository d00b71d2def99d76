"""``make bench-cluster`` works: its short form lists, watches and looks up through the view and prints every figure
(speed and memory are not asserted)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support import ROOT

pytestmark = [pytest.mark.process, pytest.mark.slow]


def test_short_run() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "cluster_view_bench.py"), "--pools", "300", "1200",
                             "--lookups", "20", "--changes", "3"], capture_output=True, text=True, check=False,
                            timeout=240, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "the view of 300, 1,200 ConnectionPools" in out
    rows = [line.split() for line in out.splitlines() if line.strip().startswith(("300 ", "1,200 "))]
    assert [row[0] for row in rows] == ["300", "1,200"] and all(row[4].endswith("B") for row in rows)
    assert "freshness, change at the apiserver to the view (6 creations and deletions)" in out
    assert "Secret lookup through the view (20): median" in out
    assert "admission answer, CREATE (20 each): without cluster checks median" in out and "a lookup adds" in out


def test_cpu_per_answer_short_run() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "checks_cpu_bench.py"), "--pools", "300",
                             "--rounds", "1", "--duration", "1"], capture_output=True, text=True, check=False,
                            timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()
            if line.startswith(("create-no-secret ", "validate-update ", "create-2-lookups "))]
    # Each body on each server: off, on (300 pools), the Go peer; "vs off" only where the checks are on.
    assert [(row[0], " ".join(row[1:4])) for row in rows if "on," in row] == [
        ("create-no-secret", "checks on, 300"), ("validate-update", "checks on, 300"),
        ("create-2-lookups", "checks on, 300")]
    assert len(rows) == 9 and all(row[-2].endswith("%") for row in rows if "on," in row)
    assert "checks on at most +5% CPU per answer" in result.stdout
