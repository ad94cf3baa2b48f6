#!/usr/bin/env python3
"""All monthly reports of a large organization in one run, beside DuckDB computing the same
aggregates from the same Parquet files, same run.

Builds once (seeded, cached under --work): an organization of 10,000 accounts in 50 OUs and 200
cost centers, its month of Cost Explorer pages (31 days x 30 services) and its EventBridge events
(sign-ins, on-boardings, maintenances), ingested with the release `ingest` into a local lake
(costs, the accounts snapshot, events); then DuckDB adds 10 million synthetic CloudTrail API
events (the events schema, one object per day, one in 500 a console sign-in) to the same
lake, since generating and ingesting that many records is the ingest benchmark's business.

Then, each a child process measured for wall, CPU and peak RSS (GNU time's, when installed):
  ours     `reports --month 2026-10` (cost and activity reports, CSV, Excel and HTML for every cost
           center and the organization): after a first run that warms the file cache, three runs
           with the pages and three with --no-html in turn (medians), so that what the HTML pages
           add shows as a ratio; the progress lines of each run give the time of its two Polars
           aggregations (median of the six runs)
  duckdb   the same two aggregations in SQL on the same files: costs joined with the snapshot
           and summed per cost center, OU, account, name, service, usage type, record type and
           currency; the month's labelled events (plus the 7 days before), one per event id;
           threads=1, then every core, three runs each (medians)

Usage: python3 benches/reports.py [--work /var/tmp/spa-bench] [--events 10000000]
Needs `cargo build --release -p reports -p ingest -p spa-fixtures` (found in $CARGO_TARGET_DIR/release)
and `pip install duckdb`.

With --smoke (what benches/smoke.py runs in CI) it builds and reports a tiny lake (30 accounts,
3,000 synthetic events) with the debug binaries of $CARGO_TARGET_DIR/debug, in a new temporary
work folder removed at the end (unless --work), and exits non-zero on any failure or missing
figure; its figures are then meaningless. benches/sql.py --smoke builds the same lake (prepare).
"""

import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from ingest import ARROW_TABLE_DEF, arrow_table, binaries, folder_bytes, harness_parser, run, run_full, smoke_setup  # benches/ingest.py

MONTH = "2026-10"
# The tiny lake of --smoke (sql.py --smoke builds the same one).
SMOKE_SIZES = {"accounts": 30, "events": 3000}
LABELS = ["ConsoleLogin", "FailedConsoleLogin", "CreatedAccount", "ExpiredAccount", "ReleasedAccount",
          "FailedOnBoarding", "FailedMaintenance", "AssignedAccount"]

COSTS_SQL = """
SELECT COALESCE(a.cost_center, 'NoCostTag') AS cost_center, COALESCE(a.ou_name, 'Unknown') AS ou_name,
       c.account_id, COALESCE(a.name, 'Unknown') AS name, c.service, COALESCE(c.usage_type, '') AS usage_type,
       c.record_type, c.currency, SUM(c.unblended) AS unblended
FROM read_parquet('{lake}/costs/month={month}/*.parquet') c
LEFT JOIN (SELECT account_id, name, ou_name, cost_center
           FROM read_parquet('{lake}/accounts/snapshot={snapshot}/*.parquet')) a USING (account_id)
GROUP BY ALL
"""

EVENTS_SQL = """
SELECT DISTINCT ON (event_id) event_time, account_id, activity, actor_type, actor_name
FROM read_parquet([{files}])
WHERE activity IN ({labels})
ORDER BY event_id, event_time
"""


SYNTHETIC_EVENTS_SQL = """
SELECT * FROM (
    SELECT
      'synthetic-' || i AS event_id,
      TIMESTAMPTZ '2026-10-01 00:00:00+00' + to_seconds(CAST(i * 2678400 // {n} AS BIGINT)) AS event_time,
      ['ec2.amazonaws.com', 's3.amazonaws.com', 'iam.amazonaws.com', 'sts.amazonaws.com',
       'lambda.amazonaws.com', 'signin.amazonaws.com'][1 + i % 6] AS source,
      'AWS API Call via CloudTrail' AS detail_type,
      ['RunInstances', 'GetObject', 'ListRoles', 'AssumeRole', 'Invoke', 'ConsoleLogin'][1 + i % 6] AS event_name,
      '5' || lpad(CAST((i * 7919) % {accounts} AS VARCHAR), 11, '0') AS account_id,
      '5' || lpad(CAST((i * 7919) % {accounts} AS VARCHAR), 11, '0') AS recipient_account_id,
      'eu-west-1' AS region,
      CASE WHEN i % 6 = 5 AND i % 7 = 0 THEN 'IAMUser' ELSE 'AssumedRole' END AS actor_type,
      'user-' || (i % 5000) AS actor_name,
      '203.0.113.' || (i % 250) AS source_ip,
      'aws-cli/2.15.0 Python/3.11' AS user_agent,
      CASE WHEN i % 97 = 0 THEN 'AccessDenied' END AS error_code,
      CASE WHEN i % 500 = 5 THEN 'ConsoleLogin' END AS activity,
      'synthetic' AS origin,
      '{{"eventVersion":"1.09","eventID":"synthetic-' || i || '","eventSource":"' ||
        ['ec2', 's3', 'iam', 'sts', 'lambda', 'signin'][1 + i % 6] ||
        '.amazonaws.com","awsRegion":"eu-west-1","requestParameters":{{"n":' || (i % 1000) || '}}}}' AS raw
    FROM range({lo}, {hi}) t(i)
)
"""


def prepare(args, work, target, env):
    gen = work / f"reports-{args.accounts}"
    spec = ["--out", str(gen), "--accounts", str(args.accounts), "--units", "50", "--cost-centers", "200",
            "--services", "30", "--month", MONTH]
    if not (gen / "events").exists():
        subprocess.run([str(target / "fixtures"), *spec, "--only", "org,events"], check=True)
    if not (gen / "costs").exists():
        subprocess.run([str(target / "fixtures"), *spec, "--only", "costs"], check=True)
    lake = gen / "lake"
    settings = gen / "settings.yaml"
    if not (lake / "events").exists():
        print("ingesting the month into", lake, "...", flush=True)
        shutil.rmtree(lake, ignore_errors=True)
        for cmd in (["costs", "--month", MONTH], ["accounts", "--date", f"{MONTH}-31"], [str(gen / "events")]):
            started = time.perf_counter()
            out = subprocess.run([str(target / "ingest"), "--settings", str(settings), *cmd], env=env,
                                 capture_output=True, text=True)
            if out.returncode not in ((0,) if args.smoke else (0, 3)):
                sys.exit(f"ingest {cmd} failed:\n{out.stderr}")
            print(f"  ingest {cmd[0]}: {time.perf_counter() - started:.0f} s", flush=True)
    if (lake / "costs").exists() and not (lake / "monthly_costs").exists():
        # A lake ingested before the month's sums (monthly_costs, cost_totals) were written
        # beside its costs.
        subprocess.run([str(target / "ingest"), "--settings", str(settings), "costs", "--month", MONTH], env=env,
                       check=True, capture_output=True)
    if not any(lake.glob("events/dt=*/part-synthetic.parquet")):
        import duckdb

        import pyarrow as pa
        import pyarrow.parquet as pq

        started = time.perf_counter()
        con = duckdb.connect()
        for day in range(1, 32):
            # DuckDB computes the rows; pyarrow writes them with the lake's "UTC" time zone.
            table = arrow_table(con, SYNTHETIC_EVENTS_SQL.format(n=args.events, accounts=args.accounts,
                                                                 lo=(day - 1) * args.events // 31, hi=day * args.events // 31))
            table = table.set_column(1, "event_time", table["event_time"].cast(pa.timestamp("us", tz="UTC")))
            folder = lake / "events" / f"dt=2026-10-{day:02}"
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, folder / "part-synthetic.parquet", compression="zstd")
        print(f"  {args.events:,} synthetic API events: {time.perf_counter() - started:.0f} s", flush=True)
    return gen, lake, settings


def lake_harness(doc, needs=("fixtures", "ingest", "reports")):
    """What every harness over this benchmark's lake starts with: its options (--accounts,
    --events, --skip-duckdb and the shared ones), the binaries, a quiet environment, and the lake
    built or reused. Returns (args, target, env, gen, lake, settings)."""
    ap = harness_parser(doc)
    ap.add_argument("--accounts", type=int, default=10_000)
    ap.add_argument("--events", type=int, default=10_000_000, help="synthetic API events in the month")
    ap.add_argument("--skip-duckdb", action="store_true")
    args = ap.parse_args()
    target = binaries(args)
    work = smoke_setup(ap, args, target, list(needs), **SMOKE_SIZES)
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, RUST_LOG="warn")
    gen, lake, settings = prepare(args, work, target, env)
    return args, target, env, gen, lake, settings


def main():
    args, target, env, gen, lake, settings = lake_harness(__doc__)
    work = gen.parent
    events = sorted(lake.glob("events/dt=*/*.parquet"))
    days = [f for f in events if "2026-09-24" <= f.parent.name[3:] <= f"{MONTH}-31"]
    print(f"\nlake: {folder_bytes(lake / 'costs') / 1e6:.0f} MB costs, "
          f"{folder_bytes(lake / 'events') / 1e6:.0f} MB events in {len(events)} objects")

    out_dir = work / "reports-out"
    shutil.rmtree(out_dir, ignore_errors=True)
    plain_dir = work / "reports-out-no-html"
    # A first run with the progress lines captured (run() keeps stdout; they are on stderr); it
    # also warms the file cache for the measured runs.
    proc = subprocess.run([str(target / "reports"), "--settings", str(settings), "--month", MONTH,
                           "--out", str(out_dir)], env=env, capture_output=True, text=True)
    if args.smoke and proc.returncode != 0:
        sys.exit(f"smoke: reports failed ({proc.returncode}) on its second run:\n{proc.stderr}")
    # The aggregations, read from the progress lines of a run: the costs' Polars query (without
    # turning its sums into report lines) and the activities' query.
    patterns = (r"Polars ([\d.]+) s", r"activities .*query ([\d.]+) s")

    def queries_of(stderr):
        found = [re.search(pattern, stderr) for pattern in patterns]
        if not all(found):
            sys.exit(f"no '{patterns}' in the progress lines of reports:\n{stderr}")
        return [float(f[1]) for f in found]

    # Then the runs measured, with and without the HTML pages in turn (3 of each; 1 with --smoke):
    # the median of each figure, the queries' over all six runs (single runs vary by 2x).
    def measured(extra, folder):
        shutil.rmtree(folder, ignore_errors=True)
        wall, cpu, rss, _, stderr = run_full([str(target / "reports"), "--settings", str(settings), "--month",
                                              MONTH, "--out", str(folder)] + extra, env=env)
        return wall, cpu, rss, queries_of(stderr)
    pairs = [(measured([], out_dir), measured(["--no-html"], plain_dir)) for _ in range(1 if args.smoke else 3)]
    wall, cpu, rss = (statistics.median(p[0][i] for p in pairs) for i in range(3))
    wall_p, cpu_p, rss_p = (statistics.median(p[1][i] for p in pairs) for i in range(3))
    queries = [statistics.median(r[3][i] for p in pairs for r in p) for i in range(2)]
    lines = [l for l in proc.stderr.splitlines() if l.startswith(("costs", "activities"))]
    files = sum(1 for f in out_dir.rglob("*") if f.is_file())
    if args.smoke and not files:
        sys.exit(f"smoke: reports wrote nothing into {out_dir}")
    print("\n".join(lines))
    print(f"ours: {files} files ({folder_bytes(out_dir) / 1e6:.0f} MB) in {wall:.1f} s wall, {cpu:.1f} s CPU, "
          f"peak RSS {rss:.0f} MB; queries {queries[0]:.2f} s (costs) + {queries[1]:.2f} s (activities), "
          "medians of the measured runs")
    rows = [("ours: all monthly reports", wall, cpu, rss, sum(queries))]
    pages = sum(1 for f in out_dir.rglob("*.html"))
    if args.smoke and not pages:
        sys.exit(f"smoke: reports wrote no HTML page into {out_dir}")

    # What the pages cost: the runs without them beside.
    facts = re.search(r"forecast and pages ([\d.]+) s", proc.stderr)
    print(f"ours without the HTML pages (--no-html): {wall_p:.1f} s wall, {cpu_p:.1f} s CPU, peak RSS {rss_p:.0f} MB; "
          f"the {pages} pages ({folder_bytes(out_dir) / 1e6 - folder_bytes(plain_dir) / 1e6:.0f} MB) add "
          f"{(wall / wall_p - 1) * 100:.1f} % wall, {(cpu / cpu_p - 1) * 100:.1f} % CPU, "
          f"{(rss / rss_p - 1) * 100:.1f} % peak RSS (forecast and pages' reads with pages: {facts[1] if facts else '?'} s)")
    shutil.rmtree(plain_dir, ignore_errors=True)
    rows.append(("ours: the same without the HTML pages", wall_p, cpu_p, rss_p, sum(queries)))

    if not args.skip_duckdb:
        costs_sql = COSTS_SQL.format(lake=lake, month=MONTH, snapshot=f"{MONTH}-31")
        events_sql = EVENTS_SQL.format(files=", ".join(f"'{f}'" for f in days),
                                       labels=", ".join(f"'{l}'" for l in LABELS))
        for threads in (1, os.cpu_count()):
            script = (
                f"import duckdb, time; {ARROW_TABLE_DEF}; c = duckdb.connect(); "
                f"c.execute('SET threads={threads}'); c.execute('SET enable_progress_bar=false'); t = time.perf_counter(); "
                f"a = arrow_table(c, {costs_sql!r}); t1 = time.perf_counter(); "
                f"b = arrow_table(c, {events_sql!r}); t2 = time.perf_counter(); "
                "print(a.num_rows, b.num_rows, t1 - t, t2 - t1)"
            )
            # Three runs (one with --smoke): the median of each figure.
            runs = [run([sys.executable, "-c", script]) for _ in range(1 if args.smoke else 3)]
            if args.smoke and len(runs[0][3].split()) != 4:
                sys.exit(f"smoke: not the 4 figures expected in the output of DuckDB:\n{runs[0][3]}")
            wall_d, cpu_d, rss_d = (statistics.median(r[i] for r in runs) for i in range(3))
            n_costs, n_events = runs[0][3].split()[:2]
            q_costs, q_events = (statistics.median(float(r[3].split()[i]) for r in runs) for i in (2, 3))
            print(f"duckdb, {threads} thread(s): {n_costs} cost sums, {n_events} events; "
                  f"queries {float(q_costs):.2f} s (costs) + {float(q_events):.2f} s (events); "
                  f"process {wall_d:.1f} s, peak RSS {rss_d:.0f} MB")
            rows.append((f"duckdb, {threads} thread(s): the two aggregations", wall_d, cpu_d, rss_d,
                         float(q_costs) + float(q_events)))

    print("\n| run | wall s | CPU s | peak RSS MB | aggregation s |")
    print("|---|---:|---:|---:|---:|")
    for label, w, c, r, q in rows:
        print(f"| {label} | {w:.1f} | {c:.1f} | {r:.0f} | {q:.2f} |")
    for label, _, _, _, q in rows[2:]:
        print(f"aggregation: ours / {label.split(':')[0]} = {rows[0][4] / q:.2f} (below 1: ours is faster)")


if __name__ == "__main__":
    main()
