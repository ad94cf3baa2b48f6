#!/usr/bin/env python3
"""Costs into the lake: Cost Explorer pages through a local stub, and a 10-million-row CUR export
beside DuckDB on the same Parquet, same run.

1. Cost Explorer: the `fixtures` generator writes the GetCostAndUsage pages of an organization
   of --accounts accounts (default 10,000) x 31 days x 30 services (the three queries: by
   service, by record type and by usage type). A stub on 127.0.0.1 answers the SDK's requests with those pages, following
   NextPageToken exactly as Cost Explorer does. `ingest costs --month 2026-10` with
   `costs.source: aws` fetches and stores the month; the same pages read from disk
   (`costs.source: local`) show what the HTTP and SDK layers cost.
2. CUR: DuckDB writes (once) a synthetic legacy CUR export of --cur-rows rows (hourly line
   items, extra columns ours ignores), then
     ours     `ingest costs --month 2026-10 --from-cur FILE`
     duckdb   the same aggregation in SQL (day, account, service, record type, usage type,
              currency; SUM of the cost as DECIMAL(38,12)) written to zstd Parquet;
              threads=1, then every core
   and checks that both wrote the same number of rows and the same total.

Every run is a child process measured with wait4 (wall time, CPU time, peak RSS). Usage:

  python3 benches/costs.py [--accounts 10000] [--cur-rows 10000000] [--work /var/tmp/spa-bench]

Needs a release build (`cargo build --release -p ingest -p spa-fixtures`, found in
$CARGO_TARGET_DIR/release, default /var/tmp/spa-target/release) and `pip install duckdb`.

With --smoke (what benches/smoke.py runs in CI) both parts run at a tiny size (30 accounts,
5,000 CUR rows) on the debug binaries of $CARGO_TARGET_DIR/debug, in a new temporary work folder
removed at the end (unless --work); any failure, a missing figure or a DuckDB result different
from ours makes it exit non-zero. Its figures are then meaningless.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ingest import binaries, folder_bytes, harness_parser, run, smoke_setup  # noqa: E402  (benches/ingest.py)

MONTH = "2026-10"

CUR_SQL = """
COPY (
  SELECT
    CAST(100000000000 + (i % 13441) % 500 AS VARCHAR) AS line_item_usage_account_id,
    CASE WHEN i % 97 = 0 THEN 'Tax' WHEN i % 89 = 0 THEN 'Credit' ELSE 'Usage' END
      AS line_item_line_item_type,
    TIMESTAMP '2026-10-01' + to_hours(CAST(i // 13441 AS INTEGER)) AS line_item_usage_start_date,
    TIMESTAMP '2026-10-01' + to_hours(CAST(i // 13441 + 1 AS INTEGER)) AS line_item_usage_end_date,
    'Service ' || ((i % 13441) // 500) AS product_product_name,
    'SVC' || ((i % 13441) // 500) AS line_item_product_code,
    'USD' AS line_item_currency_code,
    'EU-Usage-' || (i % 3) AS line_item_usage_type,
    CASE WHEN i % 89 = 0 AND i % 97 <> 0 THEN -1 ELSE 1 END
      * ((i * 7919) % 1000003) / 1e7 AS line_item_unblended_cost,
    (i % 1000) / 10.0 AS line_item_usage_amount,
    'arn:aws:ec2:eu-west-1:' || i AS line_item_resource_id,
    'payer' AS bill_payer_account_id
  FROM range({rows}) t(i)
) TO '{out}' (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 1000000)
"""

DUCKDB_SQL = """
COPY (
  SELECT
    CAST(line_item_usage_start_date AS DATE) AS usage_date,
    line_item_usage_account_id AS account_id,
    COALESCE(NULLIF(product_product_name, ''), line_item_product_code) AS service,
    line_item_line_item_type AS record_type,
    line_item_usage_type AS usage_type,
    SUM(CAST(line_item_unblended_cost AS DECIMAL(38, 12))) AS unblended_cost,
    CAST(NULL AS DECIMAL(38, 12)) AS amortized_cost,
    COALESCE(line_item_currency_code, 'USD') AS currency,
    CAST(NULL AS BOOLEAN) AS estimated,
    'cur' AS source
  FROM read_parquet('{src}')
  WHERE line_item_unblended_cost IS NOT NULL
  GROUP BY ALL
  ORDER BY 1, 2, 3, 4, 5, 8
) TO '{out}' (FORMAT parquet, COMPRESSION zstd)
"""


def stub(pages: Path):
    """A Cost Explorer stand-in serving the generator's pages; returns (server, request counter)."""
    count = {"requests": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            keys = [g["Key"] for g in body.get("GroupBy", [])]
            folder = {"SERVICE": "by-service", "RECORD_TYPE": "by-record-type",
                      "USAGE_TYPE": "by-usage-type"}[keys[1]]
            token = body.get("NextPageToken") or "page-1"
            n = int(re.fullmatch(r"page-(\d+)", token).group(1))
            data = (pages / folder / f"page-{n:05}.json").read_bytes()
            count["requests"] += 1
            self.send_response(200)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, count


def settings_file(work: Path, name: str, costs: str, endpoint: str = "") -> Path:
    base = (Path.cwd() / "settings.yaml").read_text()
    text = base.replace("lake: ./lake", f"lake: {work / 'lake'}").replace(
        "fixtures/accounts-overlay.csv", str(Path.cwd() / "fixtures/accounts-overlay.csv"))
    text = re.sub(r"\ncosts:\n(  .*\n)+", "\ncosts:\n" + costs, text)
    path = work / name
    if endpoint:
        text = text.replace("  # endpoint_url: http://127.0.0.1:5000", f"  endpoint_url: {endpoint}")
    path.write_text(text)
    return path


def summary(out: str) -> str:
    return next((l for l in out.splitlines() if l.startswith("costs ")), out.strip())


def smoke_summary(args, line: str, out: str):
    """With --smoke, exits unless `line` (summary's) has the figures read from it."""
    if args.smoke and not re.search(r": (\d+) rows, (-?[\d.]+) in all", line):
        sys.exit(f"smoke: no 'costs ...: N rows, T in all' line in the output of ingest costs:\n{out}")


def cost_explorer(args, work, target, env, table):
    corpus = work / f"ce-{args.accounts}"
    if not (corpus / "costs" / "by-usage-type").exists():
        subprocess.run([str(target / "fixtures"), "--out", str(corpus), "--accounts", str(args.accounts),
                        "--units", "50", "--cost-centers", "200", "--services", "30", "--month", MONTH,
                        "--only", "costs"], check=True)
    pages = corpus / "costs"
    n_pages = sum(1 for _ in pages.rglob("*.json"))
    print(f"\nCost Explorer: {args.accounts:,} accounts x 31 days x 30 services, {n_pages} pages, "
          f"{folder_bytes(pages) / 1e6:.0f} MB of JSON")
    server, count = stub(pages)
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    aws = settings_file(work, "settings-ce.yaml", "  source: aws\n", endpoint)
    local = settings_file(work, "settings-saved.yaml", f"  source: local\n  path: {pages}\n")
    for label, settings in (("ours, Cost Explorer API (stub)", aws), ("ours, saved responses", local)):
        shutil.rmtree(work / "lake", ignore_errors=True)
        wall, cpu, rss, out = run([str(target / "ingest"), "--settings", str(settings), "costs", "--month", MONTH],
                                  env=env)
        line = summary(out)
        smoke_summary(args, line, out)
        rows = int(re.search(r": (\d+) rows", line).group(1))
        table.append(("Cost Explorer", label, wall, cpu, rss, rows, folder_bytes(work / "lake" / "costs")))
        print(f"  {label}: {line}")
        print(f"  {label}: {cpu / n_pages * 1000:.1f} ms of CPU per page ({n_pages} pages)")
        ours = re.search(r"(\d+) GetCostAndUsage requests; reading their pages into rows took ([\d.]+) ms", out)
        if ours:
            print(f"  {label}: {ours.group(1)} requests; our reading of a page into rows (the SDK's "
                  f"HTTP and JSON parse not counted): {ours.group(2)} ms")
    print(f"  stub answered {count['requests']} requests for {n_pages} pages")
    server.shutdown()


def cur_export(args, work, target, env, table):
    import duckdb

    cur = work / f"cur-{args.cur_rows}.parquet"
    if not cur.exists():
        print(f"\nwriting a synthetic CUR export of {args.cur_rows:,} rows ...")
        duckdb.connect().execute(CUR_SQL.format(rows=args.cur_rows, out=cur))
    print(f"\nCUR: {args.cur_rows:,} rows, {cur.stat().st_size / 1e6:.0f} MB Parquet")
    settings = settings_file(work, "settings-cur.yaml", f"  source: cur\n  path: {cur}\n")
    shutil.rmtree(work / "lake", ignore_errors=True)
    wall, cpu, rss, out = run([str(target / "ingest"), "--settings", str(settings), "costs", "--month", MONTH],
                              env=env)
    line = summary(out)
    smoke_summary(args, line, out)
    ours_rows = int(re.search(r": (\d+) rows", line).group(1))
    ours_total = Decimal(re.search(r"rows, (-?[\d.]+) in all", line).group(1))
    table.append(("CUR", "ours", wall, cpu, rss, ours_rows, folder_bytes(work / "lake" / "costs")))
    print(f"  ours: {line}")
    for label, threads in () if args.skip_duckdb else (("duckdb, 1 thread", 1), (f"duckdb, {os.cpu_count()} threads",
                                                                               os.cpu_count())):
        out_file = work / "duckdb-cur.parquet"
        out_file.unlink(missing_ok=True)
        sql = DUCKDB_SQL.format(src=cur, out=out_file)
        script = (f"import duckdb; c = duckdb.connect(); c.execute('SET threads={threads}'); "
                  f"c.execute('SET enable_progress_bar=false'); c.execute({sql!r}); "
                  f"print(*c.execute(\"SELECT count(*), SUM(unblended_cost) FROM '{out_file}'\").fetchone())")
        wall, cpu, rss, out = run([sys.executable, "-c", script])
        if args.smoke and len(out.split()) < 2:
            sys.exit(f"smoke: no row count and total in the output of DuckDB:\n{out}")
        n, total = out.split()[-2:]
        table.append(("CUR", label, wall, cpu, rss, int(n), out_file.stat().st_size))
        same = "same rows and total" if int(n) == ours_rows and Decimal(total) == ours_total else \
            f"DIFFERENT: {n} rows, {total} (ours {ours_rows}, {ours_total})"
        print(f"  {label}: {n} rows, {total} in all: {same}")
        if args.smoke and same != "same rows and total":
            sys.exit(f"smoke: CUR: {label} and ours differ")


def main():
    ap = harness_parser(__doc__)
    ap.add_argument("--accounts", type=int, default=10_000)
    ap.add_argument("--cur-rows", type=int, default=10_000_000)
    ap.add_argument("--skip-duckdb", action="store_true", help="only our runs (no comparison)")
    ap.add_argument("--only", choices=["ce", "cur"], help="only one of the two parts")
    args = ap.parse_args()
    target = binaries(args)
    work = smoke_setup(ap, args, target, ["fixtures", "ingest"], accounts=30, cur_rows=5000)
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", RUST_LOG="warn")
    table = []
    if args.only != "cur":
        cost_explorer(args, work, target, env, table)
    if args.only != "ce":
        cur_export(args, work, target, env, table)

    print("\n| input | tool | wall s | CPU s | peak RSS MB | rows written | output MB |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for source, label, wall, cpu, rss, rows, size in table:
        print(f"| {source} | {label} | {wall:.1f} | {cpu:.1f} | {rss:.0f} | {rows:,} | {size / 1e6:.1f} |")
    ours = next((r for r in table if r[1] == "ours"), None)
    for duck in (r for r in table if r[1].startswith("duckdb")):
        print(f"CUR: ours / {duck[1]}: wall time {ours[2] / duck[2]:.2f}, CPU time {ours[3] / duck[3]:.2f}, "
              f"peak RSS {ours[4] / duck[4]:.2f} (below 1: ours is faster or smaller)")


if __name__ == "__main__":
    main()
