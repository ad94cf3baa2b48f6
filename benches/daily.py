#!/usr/bin/env python3
"""The daily spend run over the month of the reports benchmark, beside DuckDB computing the
figures it starts from, same run.

The lake is the reports benchmark's (built and cached the same way under --work: 10,000 accounts
in 50 OUs and 200 cost centers, 31 days x 30 services of costs, about 270,000 generated
EventBridge events and 10 million synthetic API events), with spend thresholds added to its
settings (daily limit 40, budget 600, jump 3x above 20). Each a child process measured with
wait4 (wall, CPU, peak RSS):
  ours     `reports daily --day 2026-10-20`: spend per account and day through the 20th, month
           to date, the trailing 7 days, the day's launch events, every account and cost center
           checked, the drivers of each alert, the day's workbook and CSV written, the alerts
           stored as exceptions (first run), then the same again (everything stored)
  duckdb   per account the day's spend, month to date and trailing mean from the same Parquet
           files (only the figures: no thresholds, drivers, files or storage): threads=1, then
           every core

Usage: python3 benches/daily.py [--work /var/tmp/spa-bench]
Needs `cargo build --release -p reports -p ingest -p spa-fixtures` and `pip install duckdb`.
With --smoke (benches/smoke.py in CI) everything runs at a tiny size on the debug binaries.
"""

import os
import re
import sys

from ingest import run  # benches/ingest.py
from reports import MONTH, lake_harness  # benches/reports.py

DAY = f"{MONTH}-20"
THRESHOLDS = (
    "defaults:\n  spend: { daily_limit: 40, monthly_budget: 600, jump: { factor: 3, min_amount: 20 } }\n"
    "reporting:\n  spend_prefix: reports/spend\n"
)

FIGURES_SQL = """
WITH d AS (
  SELECT account_id, day, sum(unblended) AS s
  FROM read_parquet('{lake}/costs/month={month}/*.parquet')
  WHERE record_type NOT IN ('Credit', 'Refund') AND day <= DATE '{day}'
  GROUP BY account_id, day)
SELECT account_id,
  sum(s) FILTER (WHERE day = DATE '{day}') AS spend,
  sum(s) AS month_to_date,
  sum(s) FILTER (WHERE day >= DATE '{day}' - INTERVAL 7 DAY AND day < DATE '{day}') / 7 AS trailing_mean
FROM d GROUP BY account_id
"""


def main():
    args, target, env, _, lake, settings = lake_harness(__doc__)
    daily_settings = settings.parent / "settings-daily.yaml"
    daily_settings.write_text(settings.read_text() + THRESHOLDS)

    command = [str(target / "reports"), "--settings", str(daily_settings), "daily", "--day", DAY]
    rows = []
    for label in ("first run", "again"):
        wall, cpu, rss, out = run(command, env=env)
        summary = [l for l in out.splitlines() if re.match(rf"{DAY}: \d+ accounts", l)]
        stored = re.search(r"(\d+) SpendAlert exceptions stored now", out)
        if not summary or not stored:
            sys.exit(f"no summary in the output of {' '.join(command)}:\n{out[-2000:]}")
        print(f"ours, {label}: {summary[0]}; {stored.group(0)}; "
              f"{wall:.2f} s wall, {cpu:.2f} s CPU, peak RSS {rss:.0f} MB", flush=True)
        rows.append((f"ours: reports daily, {label}", wall, cpu, rss))
        if label == "again" and stored.group(1) != "0":
            sys.exit(f"the second run stored {stored.group(1)} exceptions again")

    if not args.skip_duckdb:
        sql = FIGURES_SQL.format(lake=lake, month=MONTH, day=DAY)
        for threads in (1, os.cpu_count()):
            script = (
                "import duckdb, time; c = duckdb.connect(); "
                f"c.execute('SET threads={threads}'); c.execute('SET enable_progress_bar=false'); "
                f"t = time.perf_counter(); r = c.execute({sql!r}).fetchall(); print(len(r), time.perf_counter() - t)"
            )
            wall, cpu, rss, out = run([sys.executable, "-c", script])
            if len(out.split()) != 2:
                sys.exit(f"not the 2 figures expected in the output of DuckDB:\n{out}")
            n, query = out.split()
            print(f"duckdb, {threads} thread(s): figures of {int(n):,} accounts in {float(query):.2f} s; "
                  f"process {wall:.2f} s, peak RSS {rss:.0f} MB", flush=True)
            rows.append((f"duckdb, {threads} thread(s): the figures only", wall, cpu, rss))

    print("\n| run | wall s | CPU s | peak RSS MB |")
    print("|---|---:|---:|---:|")
    for label, w, c, r in rows:
        print(f"| {label} | {w:.2f} | {c:.2f} | {r:.0f} |")
    for label, w, _, _ in rows[2:]:
        print(f"wall: ours (first run) / {label.split(':')[0]} = {rows[0][1] / w:.2f} (below 1: ours is faster)")


if __name__ == "__main__":
    main()
