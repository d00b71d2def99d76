"""``make bench-check``: how fast ``connectionpool-webhook check`` judges manifests, and where the time goes.

Writes N documents (default 10,000) like the ones people keep in Git (kubectl-style ConnectionPools, a fifth of them
invalid in a different way each, plus other kinds that are skipped) into one multi-document file and one file per
document, then times

- ``check`` in-process on the big file (best of ``--rounds``): documents per second;
- the same under cProfile, split into reading YAML the way kubectl does (kubeyaml), the rules (ruleset.admit)
  and the rest (walking, reporting);
- the real command line on the directory of small files, start-up included.

Figures are printed; nothing is asserted (a shared 2-core machine is too noisy for that).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from webhook.rules import wording  # noqa: E402
from webhook.rules.ruleset import ruleset  # noqa: E402
from webhook.tools import check  # noqa: E402

POOL = """\
# ConnectionPool {i}
apiVersion: aiven.io/v1alpha1
kind: ConnectionPool
metadata:
  name: pool-{i}
  namespace: team-{team}
  labels:
    app.kubernetes.io/name: pool-{i}
    app.kubernetes.io/part-of: payments
  annotations:
    example.com/owner: "platform@example.com"
spec:
  project: my-project
  serviceName: my-pg-{team}
  databaseName: defaultdb
  username: avnadmin
  poolMode: {mode}
  poolSize: {size}
  authSecretRef:
    name: aiven-token
    key: token
"""
BREAKAGES = [
    ("poolMode: {mode}", "poolMode: bogus"),
    ("project: my-project", "project: " + "p" * 64),
    ("poolSize: {size}", "poolSize: 2.5"),
    ("  username: avnadmin\n", ""),
    ("key: token", 'key: ""'),
]
OTHER = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings-{i}
data:
  ratio: "0.5"
  enabled: "yes"
"""


def documents(count: int) -> list[str]:
    docs = []
    for i in range(count):
        if i % 10 == 9:
            docs.append(OTHER.format(i=i))
            continue
        text = POOL
        if i % 5 == 4:  # a tenth of all documents: one of the breakages in turn
            old, new = BREAKAGES[i // 5 % len(BREAKAGES)]
            text = text.replace(old, new)
        docs.append(text.format(i=i, team=i % 7, mode=("session", "transaction", "statement")[i % 3], size=25))
    return docs


def timed_check(path: str, words: wording.Wording) -> tuple[float, check.Report]:
    start = time.perf_counter()
    report, _ = check.check_paths([path], ruleset(words=words))
    return time.perf_counter() - start, report


def profile(path: str, words: wording.Wording) -> dict[str, float]:
    profiler = cProfile.Profile()
    profiler.enable()
    check.check_paths([path], ruleset(words=words))
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    cumulative = {f"{Path(f).name}:{name}": ct for (f, _, name), (_, _, _, ct, _) in
                  stats.stats.items()}  # type: ignore[attr-defined]
    parse = cumulative.get("kubeyaml.py:load", 0.0)
    rules = cumulative.get("connectionpool.py:admit", 0.0)
    return {"total": total, "parse": parse, "rules": rules, "other": max(total - parse - rules, 0.0),
            "libyaml events": cumulative.get("kubeyaml.py:_events", 0.0),
            "composing": cumulative.get("kubeyaml.py:compose_first", 0.0),
            "resolving and converting": cumulative.get("kubeyaml.py:value", 0.0)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    words = wording.LATEST
    docs = documents(args.documents)
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "all.yaml"
        big.write_text("---\n".join(docs))
        small = Path(tmp) / "many"
        small.mkdir()
        for i, doc in enumerate(docs):
            (small / f"doc-{i:05d}.yaml").write_text(doc)

        times, report = [], None
        for _ in range(args.rounds):
            elapsed, report = timed_check(str(big), words)
            times.append(elapsed)
        assert report is not None
        best = min(times)
        summary = report.summary()
        print(f"documents: {args.documents} in one file ({big.stat().st_size / 1e6:.1f} MB); "
              f"{summary['checked']} ConnectionPools ({summary['denied']} denied), {summary['skipped']} skipped")
        print(f"check, in-process, best of {args.rounds}: {best:.2f} s = {args.documents / best:,.0f} documents/s")

        split = profile(str(big), words)
        total = split["total"]
        print("where the time goes (cProfile, which slows Python code down more than C):")
        for key in ("parse", "libyaml events", "composing", "resolving and converting", "rules", "other"):
            share = split[key] / total if total else 0.0
            indent = "    " if key in ("libyaml events", "composing", "resolving and converting") else "  "
            print(f"{indent}{key:<26} {split[key]:6.2f} s  {share:6.1%}")

        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "webhook", "check", str(small), "--output", "json"],
                                capture_output=True, text=True, check=False, cwd=ROOT)
        elapsed = time.perf_counter() - start
        print(f"command line, {args.documents} files in a directory: {elapsed:.2f} s = "
              f"{args.documents / elapsed:,.0f} documents/s (exit {result.returncode}, start-up included)")
        if result.returncode not in (0, 1):
            print(result.stderr, file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
