#!/usr/bin/env python3
"""The local query engine (`reports query`, Polars SQL) beside DuckDB running the same SQL files
of sql/queries on the same Parquet lake, same run.

Uses the lake of the reports benchmark (benches/reports.py builds it: 10,000 accounts, a month
of costs, 10.3 million events). For each query file, with the same parameters:

  ours     release `reports query FILE --format csv`; the time is the query's, which the
           command prints (registering the lake's tables, planning, running, collecting the
           result: what DuckDB's figure covers), beside the whole command's (with the rendering
           of the CSV) and the process's peak RSS (GNU time's, when installed); the median of
           five runs, each beside DuckDB's (also medians)
  duckdb   in a child process: the lake's datasets as views (read_parquet with hive
           partitions as text, the partition column as the DDL declares it), then the same
           file's text; the time is the query's execution and fetch, threads=1 and every core,
           and the peak RSS the process's (every core)

Both must return the same number of rows. Usage:

  python3 benches/sql.py [--work /var/tmp/spa-bench] [--accounts 10000]

Needs `cargo build --release -p reports` (found in $CARGO_TARGET_DIR/release), the lake of
benches/reports.py, and `pip install duckdb pyarrow`.

With --smoke (what benches/smoke.py runs in CI) it needs no earlier run: when the work folder has
no such lake it builds the tiny one of `reports.py --smoke` itself (reports.prepare: 30 accounts,
3,000 synthetic events, with `fixtures` and `ingest`), then runs every query on it with the debug
binaries of $CARGO_TARGET_DIR/debug, in a new temporary work folder removed at the end (unless
--work); any failure, missing figure or different row count makes it exit non-zero. Its figures
are then meaningless.
"""

import os
import re
import statistics
import sys
from pathlib import Path

from ingest import ARROW_TABLE_DEF, binaries, harness_parser, run, run_full, smoke_setup  # benches/ingest.py
from reports import SMOKE_SIZES, prepare  # benches/reports.py

PARAMS = {
    "month": "2026-10",
    "snapshot": "2026-10-31",
    "from": "2026-10-01",
    "to": "2026-10-31",
    "until": "2026-10-31",
    "since": "2026-10-15",
    "before": "2026-10-30 00:00:00",
    "top": "5",
}

VIEWS = {
    "events": "dt",
    "costs": "month",
    "monthly_costs": "month",
    "accounts": "snapshot",
}


def declared(text):
    return [m for m in re.findall(r"^-- param (\w+)(?: \(\w+\))?:", text, flags=re.M)]


def fill(text):
    for name in declared(text):
        text = text.replace("${" + name + "}", PARAMS[name])
    return text


def duckdb_run(lake, text, threads):
    """DuckDB in a child process (so that its peak RSS is its own): the lake's datasets as views,
    then the query's execution and fetch, timed inside. Returns (seconds, rows, peak RSS MB)."""
    views = [
        f"CREATE VIEW {name} AS SELECT * REPLACE (CAST({key} AS VARCHAR) AS {key}) FROM "
        f"read_parquet('{lake}/{name}/{key}=*/*.parquet', hive_partitioning=true, "
        f"hive_types={{'{key}': 'VARCHAR'}})"
        for name, key in VIEWS.items()
    ]
    script = (
        f"import duckdb, time; {ARROW_TABLE_DEF}; con = duckdb.connect(); "
        f"con.execute('SET threads={threads}'); con.execute('SET enable_progress_bar=false'); "
        "con.execute(\"SET TimeZone='UTC'\"); "
        f"[con.execute(v) for v in {views!r}]; started = time.perf_counter(); "
        f"table = arrow_table(con, {text!r}); print(time.perf_counter() - started, table.num_rows)"
    )
    _, _, rss, out = run([sys.executable, "-c", script])
    seconds, rows = out.split()
    return float(seconds), int(rows), rss


def main():
    ap = harness_parser(__doc__)
    ap.add_argument("--accounts", type=int, default=10_000)
    args = ap.parse_args()
    target = binaries(args)
    work = smoke_setup(ap, args, target, ["fixtures", "ingest", "reports"], accounts=SMOKE_SIZES["accounts"])
    gen = work / f"reports-{args.accounts}"
    settings, lake = gen / "settings.yaml", gen / "lake"
    if args.smoke and not (lake / "events").exists():
        args.events = SMOKE_SIZES["events"]
        prepare(args, work, target, dict(os.environ, RUST_LOG="warn"))
    if not (lake / "events").exists():
        sys.exit(f"no lake in {lake}: run benches/reports.py first")
    queries = sorted((Path(__file__).parent.parent / "sql" / "queries").glob("*.sql"))
    env = dict(os.environ, RUST_LOG="warn")
    rows_out = []
    different = []
    for path in queries:
        text = path.read_text()
        cmd = [str(target / "reports"), "--settings", str(settings), "query", str(path), "--format", "csv"]
        for name in declared(text):
            cmd += ["--param", f"{name}={PARAMS[name]}"]
        # Each run five times (once with --smoke), the median: a single run varies by a
        # third here (the first touch of the binary's code and of the lake's pages).
        ours_runs, whole_runs, rss_runs, d1_runs, d2_runs, d2_rss_runs = [], [], [], [], [], []
        for _ in range(1 if args.smoke else 5):
            _, _, rss, _, stderr = run_full(cmd, env=env)
            m = re.search(r"(\d+) rows in ([\d.]+) s \(query ([\d.]+) s", stderr)
            if not m:
                sys.exit(f"{path.name}: no 'N rows in T s (query Q s' in the progress lines of reports query:\n{stderr}")
            ours_rows = int(m[1])
            ours_runs.append(float(m[3]))
            whole_runs.append(float(m[2]))
            rss_runs.append(rss)
            filled = fill(text)
            d1, n1, _ = duckdb_run(lake, filled, 1)
            d2, n2, d2_rss = duckdb_run(lake, filled, os.cpu_count())
            d1_runs.append(d1)
            d2_runs.append(d2)
            d2_rss_runs.append(d2_rss)
        ours, whole, rss, d1, d2, d2_rss = (statistics.median(r) for r in (
            ours_runs, whole_runs, rss_runs, d1_runs, d2_runs, d2_rss_runs))
        same = "yes" if ours_rows == n1 == n2 else f"NO ({ours_rows} vs {n1})"
        if same != "yes":
            different.append(path.stem)
        print(f"{path.stem}: ours {ours:.3f} s ({whole:.3f} s with the CSV, peak RSS {rss:.0f} MB), duckdb "
              f"{d1:.3f} s (1 thread) / {d2:.3f} s (peak RSS {d2_rss:.0f} MB); {ours_rows} rows, same count: {same}",
              flush=True)
        rows_out.append((path.stem, ours_rows, ours, whole, rss, d1, d2, d2_rss, same))
    print("\n| query | rows | ours s | ours with the CSV s | ours peak RSS MB | DuckDB 1 thread s | DuckDB all cores s "
          "| DuckDB all cores peak RSS MB | ours / DuckDB all cores | same rows |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for name, n, ours, whole, rss, d1, d2, d2_rss, same in rows_out:
        print(f"| {name} | {n} | {ours:.3f} | {whole:.3f} | {rss:.0f} | {d1:.3f} | {d2:.3f} | {d2_rss:.0f} | "
              f"{ours / d2:.2f} | {same} |")
    if args.smoke and different:
        sys.exit(f"smoke: ours and DuckDB return different row counts for {', '.join(different)}")


if __name__ == "__main__":
    main()
