#!/usr/bin/env python3
"""CloudTrail to Parquet: `ingest` beside DuckDB's read_json on the same gzip files, same run.

Generates (once per size, seeded) an organization-trail corpus with the `fixtures` generator,
then for each size runs, as child processes measured with wait4 (wall time, CPU time, peak RSS):

  ours     release `ingest` with --parallel 1, then with every core
  duckdb   DuckDB (Python package) reading the same .json.gz files with read_json, splitting the
           records and extracting the same columns (plus the raw record), to zstd Parquet;
           threads=1, then every core

Figures are per CPU second (records/s and MB/s of JSON per core) so the comparison does not
depend on how many cores a run could use. Usage (from the repository root):

  python3 benches/ingest.py --sizes 100000 1000000 [--work /var/tmp/spa-bench]

It needs a release build (`cargo build --release -p ingest -p spa-fixtures`, found in
$CARGO_TARGET_DIR/release, default /var/tmp/spa-target/release) and `pip install duckdb`
in the Python that runs it.

With --smoke (what benches/smoke.py runs in CI) it does every step at a tiny size (3,000 records
of 40 accounts) on the debug binaries of $CARGO_TARGET_DIR/debug, in a new temporary work folder
removed at the end (unless --work), and exits non-zero on any failure, an ingest exit status 3
(quarantined input) included; its figures are then meaningless. This file also holds the
--smoke plumbing the other harnesses share (smoke_setup).
"""

import argparse
import atexit
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

DUCKDB_SQL = """
COPY (
  SELECT
    json_extract_string(r, '$.eventID') AS event_id,
    CAST(json_extract_string(r, '$.eventTime') AS TIMESTAMPTZ) AS event_time,
    json_extract_string(r, '$.eventSource') AS source,
    json_extract_string(r, '$.eventName') AS event_name,
    json_extract_string(r, '$.recipientAccountId') AS account_id,
    json_extract_string(r, '$.awsRegion') AS region,
    json_extract_string(r, '$.userIdentity.type') AS actor_type,
    json_extract_string(r, '$.userIdentity.userName') AS actor_name,
    json_extract_string(r, '$.sourceIPAddress') AS source_ip,
    json_extract_string(r, '$.userAgent') AS user_agent,
    json_extract_string(r, '$.errorCode') AS error_code,
    CAST(r AS VARCHAR) AS raw
  FROM (
    SELECT unnest(Records) AS r
    FROM read_json('{glob}', columns = {{'Records': 'JSON[]'}}, format = 'auto',
                   compression = 'gzip', maximum_object_size = 1073741824)
  )
) TO '{out}' (FORMAT parquet, COMPRESSION zstd)
"""

WORK = "/var/tmp/spa-bench"
WORK_HELP = f"work folder (default {WORK}; with --smoke a new temporary folder, removed at the end)"
SMOKE_HELP = "every step at a tiny size on the debug binaries, failing on any error (benches/smoke.py)"


def harness_parser(doc):
    """The argument parser of a harness, with the --work and --smoke every harness takes."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", help=WORK_HELP)
    ap.add_argument("--smoke", action="store_true", help=SMOKE_HELP)
    return ap


def binaries(args):
    """Where the binaries are: $CARGO_TARGET_DIR/release, or its debug folder with --smoke."""
    return Path(os.environ.get("CARGO_TARGET_DIR", "/var/tmp/spa-target")) / ("debug" if args.smoke else "release")
# Exit statuses of a child that run_full accepts (ingest's 3: some inputs quarantined);
# smoke_setup makes it 0 only.
EXIT_OK = (0, 3)


def smoke_setup(ap, args, target, binaries, **sizes):
    """Returns the work folder: --work, default /var/tmp/spa-bench. With --smoke, first: the
    options in `sizes` left at their defaults take the tiny values given; the binaries must be
    in `target`; a child's exit status must be 0; an uncaught error ends with a line naming the
    harness; the work folder, unless --work, is a new temporary one removed at exit."""
    if not args.smoke:
        return Path(args.work or WORK)
    global EXIT_OK
    EXIT_OK = (0,)
    name = Path(sys.argv[0]).name
    for key, value in sizes.items():
        if getattr(args, key) == ap.get_default(key):
            setattr(args, key, value)
    missing = [b for b in binaries if not (target / b).is_file()]
    if missing:
        sys.exit(f"smoke: {name}: no {', '.join(missing)} in {target} (`cargo test --workspace` builds them)")

    def hook(kind, value, tb):
        traceback.print_exception(kind, value, tb)
        print(f"smoke: {name} failed: {kind.__name__}: {value}", file=sys.stderr, flush=True)

    sys.excepthook = hook
    if args.work:
        work = Path(args.work)
    else:
        work = Path(tempfile.mkdtemp(prefix="spa-smoke-"))
        atexit.register(shutil.rmtree, work, ignore_errors=True)
    shown = ", ".join(f"--{key.replace('_', '-')} {getattr(args, key)}" for key in sizes)
    print(f"smoke run of {name} ({shown}) with {target}, work folder {work}: "
          "the figures below are meaningless at this size", flush=True)
    return work


# A query's result as a pyarrow Table: con.execute(sql).fetch_arrow_table() as always, or, in DuckDB
# 2.0 (which has no fetch_arrow_table and copies the rows of an execute() result once more),
# con.sql(sql).to_arrow_table(). ARROW_TABLE_DEF defines arrow_table in `python -c` scripts.
ARROW_TABLE_DEF = ("arrow_table = lambda c, q: c.execute(q).fetch_arrow_table() if hasattr(c, 'fetch_arrow_table') "
                   "else c.sql(q).to_arrow_table()")


def arrow_table(con, sql):
    return con.execute(sql).fetch_arrow_table() if hasattr(con, "fetch_arrow_table") else con.sql(sql).to_arrow_table()


def run(cmd, env=None):
    """Runs a command; returns (wall s, cpu s, peak RSS MB, stdout)."""
    return run_full(cmd, env)[:4]


def run_full(cmd, env=None):
    """Runs a command; returns (wall s, cpu s, peak RSS MB, stdout, stderr). Its output goes to
    temporary files, not pipes: a pipe nobody reads while we wait would stall a chatty child."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    code = os.waitstatus_to_exitcode(status)
    if code not in EXIT_OK:
        sys.exit(f"{cmd[0]} failed ({code}):\n{stderr}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, stdout, stderr


def folder_bytes(path):
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def json_bytes(corpus):
    """Uncompressed JSON bytes of the corpus (the work both tools do is proportional to it)."""
    total = 0
    for f in Path(corpus).rglob("*.json.gz"):
        with gzip.open(f, "rb") as g:
            while chunk := g.read(1 << 20):
                total += len(chunk)
    return total


def main():
    ap = harness_parser(__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--accounts", type=int, default=2000)
    ap.add_argument("--skip-duckdb", action="store_true", help="only our runs (no comparison)")
    args = ap.parse_args()
    target = binaries(args)
    work = smoke_setup(ap, args, target, ["fixtures", "ingest"], sizes=[3000], accounts=40)
    work.mkdir(parents=True, exist_ok=True)
    import duckdb  # noqa: F401  (fail early if missing)

    cores = os.cpu_count()
    rows = []
    for size in args.sizes:
        corpus = work / f"corpus-{size}"
        if not (corpus / "cloudtrail").exists():
            subprocess.run(
                [str(target / "fixtures"), "--out", str(corpus), "--accounts", str(args.accounts), "--units", "20",
                 "--only", "cloudtrail", "--cloudtrail-records", str(size)],
                check=True,
            )
        gz = folder_bytes(corpus / "cloudtrail")
        files = sum(1 for _ in (corpus / "cloudtrail").rglob("*.json.gz"))
        raw = json_bytes(corpus / "cloudtrail")
        print(f"\n{size} records in {files} files: {gz / 1e6:.0f} MB gzip, {raw / 1e6:.0f} MB JSON")

        settings = work / "settings.yaml"
        base = Path.cwd() / "settings.yaml"
        settings.write_text(base.read_text().replace("lake: ./lake", f"lake: {work / 'lake'}")
                            .replace("fixtures/accounts-overlay.csv", str(Path.cwd() / "fixtures/accounts-overlay.csv")))
        for label, parallel in (("ours, 1 core", 1), (f"ours, {cores} cores", cores)):
            shutil.rmtree(work / "lake", ignore_errors=True)
            wall, cpu, rss, out = run([str(target / "ingest"), "--settings", str(settings), "--parallel", str(parallel),
                                       str(corpus / "cloudtrail")])
            written = [l for l in out.splitlines() if l.startswith("files")]
            if args.smoke and not written:
                sys.exit(f"smoke: no 'files ...' summary in the output of ingest:\n{out}")
            rows.append((size, label, wall, cpu, rss, folder_bytes(work / "lake" / "events"), size / cpu, raw / 1e6 / cpu))
            print(f"  {label}: {written[0] if written else out.strip()}")
        for label, threads in () if args.skip_duckdb else (("duckdb, 1 thread", 1), (f"duckdb, {cores} threads", cores)):
            out_file = work / "duckdb.parquet"
            out_file.unlink(missing_ok=True)
            sql = DUCKDB_SQL.format(glob=corpus / "cloudtrail" / "**" / "*.json.gz", out=out_file)
            script = f"import duckdb; c = duckdb.connect(); c.execute('SET threads={threads}'); c.execute({sql!r}); " \
                     f"print(c.execute(\"SELECT count(*) FROM '{out_file}'\").fetchone()[0])"
            wall, cpu, rss, out = run([sys.executable, "-c", script])
            if args.smoke and not out.strip().isdigit():
                sys.exit(f"smoke: no row count in the output of DuckDB:\n{out}")
            rows.append((size, label, wall, cpu, rss, out_file.stat().st_size, size / cpu, raw / 1e6 / cpu))
            print(f"  {label}: {out.strip()} rows")

    print("\n| records | tool | wall s | CPU s | peak RSS MB | output MB | records/s per core | JSON MB/s per core |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for size, label, wall, cpu, rss, outb, rps, mbps in rows:
        print(f"| {size:,} | {label} | {wall:.1f} | {cpu:.1f} | {rss:.0f} | {outb / 1e6:.0f} | {rps:,.0f} | {mbps:.1f} |")
    for size in [] if args.skip_duckdb else args.sizes:
        ours = next(r for r in rows if r[0] == size and r[1] == "ours, 1 core")
        duck = next(r for r in rows if r[0] == size and r[1] == "duckdb, 1 thread")
        print(f"{size:,} records: ours / DuckDB per core = {ours[6] / duck[6]:.2f}x")


if __name__ == "__main__":
    main()
