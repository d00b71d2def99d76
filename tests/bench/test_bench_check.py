"""``make bench-check`` works: its short form runs clean and judges what it generates (speed is not asserted)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support import ROOT

pytestmark = [pytest.mark.process]


def test_short_run() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "check_bench.py"), "--documents", "200",
                             "--rounds", "1"], capture_output=True, text=True, check=False, timeout=240)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "documents: 200 in one file" in out and "180 ConnectionPools" in out and "20 skipped" in out
    assert "documents/s" in out and "rules" in out and "parse" in out
