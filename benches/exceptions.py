#!/usr/bin/env python3
"""The exceptions sweep over the month of the reports benchmark, beside DuckDB selecting the same
candidate events from the same Parquet files, same run.

The lake is the reports benchmark's (built and cached the same way under --work: 10,000 accounts
in 50 OUs and 200 cost centers, their month of costs, about 270,000 generated EventBridge events
and 10 million synthetic API events, one in 500 of them a console sign-in). Then, each a child
process measured with wait4 (wall, CPU, peak RSS):
  cold     `reports exceptions --from 2026-10-01 --to 2026-10-31` on a lake without exceptions:
           every event of the month classified, the exceptions raised with their accounts and
           month-to-date costs, and stored
  warm     the same again: everything found is stored already, nothing is written
  duckdb   the candidate events (labelled, or Organizations calls) with their raw JSON, from the
           same files: threads=1, then every core (the read a user would start from)

Usage: python3 benches/exceptions.py [--work /var/tmp/spa-bench] [--events 10000000]
Needs `cargo build --release -p reports -p ingest -p spa-fixtures` and `pip install duckdb`.
With --smoke (benches/smoke.py in CI) everything runs at a tiny size on the debug binaries.
"""

import os
import re
import shutil
import sys

from ingest import ARROW_TABLE_DEF, binaries, folder_bytes, harness_parser, run, smoke_setup  # benches/ingest.py
from reports import MONTH, SMOKE_SIZES, prepare  # benches/reports.py

CANDIDATES_SQL = """
SELECT event_id, event_time, source, activity, account_id, raw
FROM read_parquet('{lake}/events/dt={month}-*/*.parquet')
WHERE activity IS NOT NULL OR source = 'organizations.amazonaws.com'
"""


def main():
    ap = harness_parser(__doc__)
    ap.add_argument("--accounts", type=int, default=10_000)
    ap.add_argument("--events", type=int, default=10_000_000, help="synthetic API events in the month")
    ap.add_argument("--skip-duckdb", action="store_true")
    args = ap.parse_args()
    target = binaries(args)
    work = smoke_setup(ap, args, target, ["fixtures", "ingest", "reports"], **SMOKE_SIZES)
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, RUST_LOG="warn")
    _, lake, settings = prepare(args, work, target, env)
    events = sorted(lake.glob(f"events/dt={MONTH}-*/*.parquet"))
    print(f"\nlake: {folder_bytes(lake / 'events') / 1e6:.0f} MB of events in {len(events)} objects")

    sweep = [str(target / "reports"), "--settings", str(settings), "exceptions",
             "--from", f"{MONTH}-01", "--to", f"{MONTH}-31"]
    shutil.rmtree(lake / "exceptions", ignore_errors=True)
    rows = []
    for label in ("cold", "warm"):
        wall, cpu, rss, out = run(sweep, env=env)
        summary = out.strip().splitlines()[-1] if out.strip() else ""
        found = re.match(r"(\d+) days, (\d+) events: (\d+) exceptions, (\d+) new stored", summary)
        if not found:
            sys.exit(f"no summary line in the output of {' '.join(sweep)}:\n{out[-2000:]}")
        days, n_events, n_found, n_new = map(int, found.groups())
        print(f"ours, {label}: {n_events:,} events of {days} days: {n_found:,} exceptions, {n_new:,} stored now; "
              f"{wall:.2f} s wall, {cpu:.2f} s CPU, peak RSS {rss:.0f} MB", flush=True)
        rows.append((f"ours: sweep, {label}", wall, cpu, rss))
        if args.smoke and label == "warm" and n_new != 0:
            sys.exit(f"smoke: the second sweep stored {n_new} exceptions again")

    if not args.skip_duckdb:
        sql = CANDIDATES_SQL.format(lake=lake, month=MONTH)
        for threads in (1, os.cpu_count()):
            script = (
                f"import duckdb, time; {ARROW_TABLE_DEF}; c = duckdb.connect(); "
                f"c.execute('SET threads={threads}'); c.execute('SET enable_progress_bar=false'); t = time.perf_counter(); "
                f"a = arrow_table(c, {sql!r}); print(a.num_rows, time.perf_counter() - t)"
            )
            wall, cpu, rss, out = run([sys.executable, "-c", script])
            if args.smoke and len(out.split()) != 2:
                sys.exit(f"smoke: not the 2 figures expected in the output of DuckDB:\n{out}")
            n, query = out.split()
            print(f"duckdb, {threads} thread(s): {int(n):,} candidate events with their JSON in {float(query):.2f} s; "
                  f"process {wall:.2f} s, peak RSS {rss:.0f} MB", flush=True)
            rows.append((f"duckdb, {threads} thread(s): candidate events only", wall, cpu, rss))

    print("\n| run | wall s | CPU s | peak RSS MB |")
    print("|---|---:|---:|---:|")
    for label, w, c, r in rows:
        print(f"| {label} | {w:.2f} | {c:.2f} | {r:.0f} |")
    for label, w, _, _ in rows[2:]:
        print(f"wall: ours (cold sweep) / {label.split(':')[0]} = {rows[0][1] / w:.2f} (below 1: ours is faster)")


if __name__ == "__main__":
    main()
