"""The soak (``make soak``) in its short form: 20 s of load with faults, two certificate swaps, SIGTERM at the end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT

pytestmark = [pytest.mark.process, pytest.mark.slow]


@pytest.mark.timeout(180)
def test_short_soak(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "soak.py"), "--duration", "20", "--connections", "6",
         "--out", str(out)],
        capture_output=True, text=True, check=False, timeout=150, cwd=ROOT,
    )
    assert out.exists(), result.stdout + result.stderr
    report = json.loads(out.read_text())
    assert result.returncode == 0, result.stdout + result.stderr
    assert report["ok"] is True and report["failures"] == []

    good = report["good"]
    assert good["sent"] > 1000  # real load, not a handful of requests
    assert good["answered_correctly"] == good["sent"]
    assert set(good["sent_by_kind"]) == {"validate-valid", "validate-invalid", "validate-update",
                                         "validate-delete", "mutate-default", "mutate-keep"}
    assert report["unexpected"] == {}
    # Every kind of fault was injected and drew the expected outcome.
    faults = report["faults_expected"]
    for outcome in ("400 malformed body", "413 declared too large", "415 wrong content type",
                    "client gone mid-body", "client left after sending"):
        assert faults.get(outcome, 0) > 0, faults

    swaps = report["cert_swaps"]
    assert swaps["performed"] == swaps["observed"] == swaps["new_ca_only_handshakes"] == 2
    assert swaps["old_cert_requests_after_swap"] > 0  # connections made before a swap kept working

    rss = report["rss"]
    assert rss["start_mib"] > 0 and rss["growth_mib"] <= rss["limit_mib"]

    down = report["shutdown"]
    assert down["clean"] is True and down["exit_code"] == 0
    assert down["answered_correctly"] == down["in_flight_fully_sent"] + down["in_flight_slow"] > 0
    assert down["exit_s"] <= down["graceful_timeout_s"]
