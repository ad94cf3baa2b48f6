#!/usr/bin/env python3
"""Every benchmark harness at a tiny size on the debug binaries, so that CI notices a harness
that no longer runs (`.ci/run` runs this after the tests).

Runs, one after the other, `<this Python> benches/<name>.py --smoke` for ingest, costs, reports,
lifecycle, fanout, sql, exceptions and daily, from the repository root, with their output as they go; then prints each
one's wall time and exits non-zero, naming them, if any failed (a non-zero exit, or no exit
within --timeout). Each harness works in its own new temporary folder, removed at its end (made
under a temporary TMPDIR this script removes, which catches what a harness stopped on timeout
leaves): sql.py --smoke builds its tiny lake itself (the one reports.py --smoke builds), so no
harness depends on another's run. The figures they print say nothing about speed at that size.

  python3 benches/smoke.py [NAME ...] [--timeout SECONDS]     e.g. python3 benches/smoke.py sql

Needs the debug binaries ingest, reports, lifecycle, lifecycle-lambda and fixtures in $CARGO_TARGET_DIR/debug
(default /var/tmp/spa-target/debug; `cargo test --workspace` builds them), and duckdb, pyarrow
and moto[server] in the Python that runs it (.ci/requirements.txt; moto_server beside it).
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HARNESSES = ["ingest", "costs", "reports", "lifecycle", "fanout", "sql", "exceptions", "daily"]


def stop(proc, sig):
    """Sends `sig` to the harness's process group (the harness and what it started), then reaps it."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", metavar="NAME", help=f"only these harnesses, of {', '.join(HARNESSES)}")
    ap.add_argument("--timeout", type=float, default=600, help="seconds a harness may take (default 600)")
    args = ap.parse_args()
    unknown = [n for n in args.names if n not in HARNESSES]
    if unknown:
        ap.error(f"no harness {', '.join(unknown)} (there are {', '.join(HARNESSES)})")
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="spa-smoke-") as tmp:
        # Unbuffered: the harnesses' lines and their children's stay in order in a CI log.
        results = run_all(args, root, dict(os.environ, PYTHONUNBUFFERED="1", TMPDIR=tmp))

    print("\nsmoke runs of the benchmark harnesses (tiny sizes, debug binaries):")
    for name, outcome, wall in results:
        print(f"  {name + '.py':<13} {wall:6.1f} s  {outcome}")
    failed = [name for name, outcome, _ in results if outcome != "ok"]
    if failed:
        sys.exit(f"smoke: {len(failed)} of {len(results)} harnesses failed: {', '.join(f + '.py' for f in failed)}")
    print(f"all {len(results)} harnesses ran", flush=True)


def run_all(args, root, env):
    """Runs the harnesses one after the other; returns (name, "ok" or why not, wall s) of each."""
    results = []
    for name in args.names or HARNESSES:
        script = root / "benches" / f"{name}.py"
        print(f"\n=== {script.relative_to(root)} --smoke", flush=True)
        started = time.perf_counter()
        # A session of its own, so that a timeout ends the harness with everything it started
        # (moto_server, DuckDB) and nothing else.
        proc = subprocess.Popen([sys.executable, str(script), "--smoke"], cwd=root, env=env, start_new_session=True)
        try:
            code = proc.wait(timeout=args.timeout)
            outcome = "ok" if code == 0 else f"FAILED (exit status {code})"
        except subprocess.TimeoutExpired:
            stop(proc, signal.SIGKILL)
            outcome = f"FAILED (no end within {args.timeout:g} s)"
        except BaseException:  # e.g. Ctrl-C, which the harness's own session does not receive
            stop(proc, signal.SIGTERM)
            raise
        wall = time.perf_counter() - started
        results.append((name, outcome, wall))
        print(f"=== {name}.py --smoke: {outcome}, {wall:.1f} s", flush=True)
    return results


if __name__ == "__main__":
    main()
