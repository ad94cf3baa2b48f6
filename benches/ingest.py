#!/usr/bin/env python3
"""CloudTrail to Parquet: `ingest` beside DuckDB's read_json on the same gzip files, same run.

Two corpora, each made once per size (seeded) in the work folder:

  real       records resampled from the real trails in ../shared/data (see real_corpus): 500
             accounts, many small files (about 40 records each), delivered in time order, 5 % of
             the records delivered twice; what an organization trail looks like
  generator  the `fixtures` generator's organization trail (2,000 accounts, fewer and larger
             files)

then for each corpus and size runs, as child processes measured with wait4 (wall time, CPU time,
peak RSS):

  ours     release `ingest` with --parallel 1, then with every core
  duckdb   DuckDB (Python package) reading the same .json.gz files with read_json, splitting the
           records and extracting the same columns (plus the raw record), to zstd Parquet;
           threads=1, then every core

Figures are per CPU second (records/s and MB/s of JSON per core) so the comparison does not
depend on how many cores a run could use; a second table gives the time of each stage of ours,
as `ingest` prints it. Usage (from the repository root):

  python3 benches/ingest.py --sizes 100000 1000000 [--corpus real generator] [--work /var/tmp/spa-bench]

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
import math
import os
import random
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


# GNU time, to read a command's peak RSS: the one wait4 reports for a child of this process is
# at least this process's own, since exec records the high-water mark of the memory the child
# started with (a copy, or with vfork the very memory, of this process), which grows with the
# corpora this harness reads.
GNU_TIME = "/usr/bin/time"


def run_full(cmd, env=None):
    """Runs a command; returns (wall s, cpu s, peak RSS MB, stdout, stderr). Its output goes to
    temporary files, not pipes: a pipe nobody reads while we wait would stall a chatty child.
    The peak RSS is the one GNU time reads for the command (see GNU_TIME), if installed."""
    timed = os.path.exists(GNU_TIME)
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err, \
            tempfile.NamedTemporaryFile("r") as peak:
        start = time.perf_counter()
        wrapped = [GNU_TIME, "-q", "-f", "%M", "-o", peak.name, *cmd] if timed else cmd
        proc = subprocess.Popen(wrapped, stdout=out, stderr=err, env=env, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
        rss = int(peak.read().strip() or 0) / 1024 if timed else usage.ru_maxrss / 1024
    code = os.waitstatus_to_exitcode(status)
    if code not in EXIT_OK:
        sys.exit(f"{cmd[0]} failed ({code}):\n{stderr}")
    return wall, usage.ru_utime + usage.ru_stime, rss, stdout, stderr


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


# Where the real records come from: public CloudTrail log files kept beside the checkout
# (../shared/data; see its README), read, never copied.
REAL_SOURCES = ("invictus_aws_dataset", "umccr_flaws_slice")
# Regions a real organization trail delivers from, weighted (global services log in us-east-1).
REGIONS = (("us-east-1", 5), ("eu-west-1", 3), ("eu-central-1", 2), ("us-west-2", 1), ("ap-southeast-1", 1))
ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def real_records(data):
    """The records of the real trails under `data` (../shared/data), each as a template: its
    compact JSON with the account ids, eventID, requestID, eventTime and awsRegion as
    placeholders."""
    records = []
    for source in REAL_SOURCES:
        for f in sorted((data / source).rglob("*.json*")):
            opener = gzip.open if f.suffix == ".gz" else open
            with opener(f, "rt") as handle:
                try:
                    records += json.load(handle).get("Records", [])
                except (json.JSONDecodeError, AttributeError):
                    continue
    if not records:
        sys.exit(f"no CloudTrail records under {data} ({', '.join(REAL_SOURCES)}): "
                 "the real-shaped corpus needs ../shared/data beside the checkout")
    accounts = {r.get("recipientAccountId") for r in records} | \
        {(r.get("userIdentity") or {}).get("accountId") for r in records}
    accounts = sorted(a for a in accounts if a and len(a) == 12 and a.isdigit())
    templates = []
    for r in records:
        r = dict(r)
        r["eventID"], r["requestID"], r["eventTime"] = "@ID@", "@REQ@", "@TIME@"
        if "awsRegion" in r:
            r["awsRegion"] = "@REGION@"
        text = json.dumps(r, separators=(",", ":"))
        for a in accounts:
            text = text.replace(a, "@ACCT@")
        templates.append(text.replace("%", "%%").replace("@ACCT@", "%(a)s").replace("@ID@", "%(i)s")
                         .replace("@REQ@", "%(q)s").replace("@TIME@", "%(t)s").replace("@REGION@", "%(r)s"))
    return templates


def real_corpus(out, size, accounts, data, seed=7):
    """An organization trail of `size` records resampled from real ones: `accounts` member
    accounts, several regions, one file per account, region and five minutes, its record count
    log-normal (median 20, mean about 40, as a trail's many small deliveries), delivered in time
    order, a day per 200,000 records, and 5 % of the records delivered again in a later file
    (CloudTrail's at-least-once delivery: one of the last 200 records of the same account and
    region). Record ids, request ids and times are new; everything else is the real record."""
    rng = random.Random(seed)
    templates = real_records(data)
    ids = sorted({rng.randrange(10**11, 10**12) for _ in range(accounts * 2)})[:accounts]
    regions = [r for r, w in REGIONS for _ in range(w)]
    days = max(1, math.ceil(size / 200_000))
    uuid = lambda: "%08x-%04x-4%03x-%04x-%012x" % (rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(12),
                                                   0x8000 | rng.getrandbits(14), rng.getrandbits(48))
    written, recent = 0, {}
    start = 1793491200  # 2026-11-01T00:00:00Z, the first day of the corpus
    while written < size:
        n = min(size - written, max(1, min(3000, round(rng.lognormvariate(math.log(20), 1.2)))))
        account, region = str(rng.choice(ids)), rng.choice(regions)
        window = start + written * days * 288 // size * 300
        records = []
        for _ in range(n):
            if recent.get((account, region)) and rng.random() < 0.05:
                records.append(rng.choice(recent[account, region]))
                continue
            t = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(window - rng.randrange(300)))
            record = rng.choice(templates) % {"a": account, "i": uuid(), "q": uuid(), "t": t, "r": region}
            records.append(record)
            recent.setdefault((account, region), []).append(record)
        del recent[account, region][:-200]
        stamp = time.strftime("%Y%m%dT%H%MZ", time.gmtime(window))
        day = time.strftime("%Y/%m/%d", time.gmtime(window))
        folder = out / "AWSLogs" / "o-bench12345" / account / "CloudTrail" / region / day
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{account}_CloudTrail_{region}_{stamp}_{''.join(rng.choice(ALNUM) for _ in range(16))}.json.gz"
        with gzip.open(folder / name, "wt", compresslevel=6) as handle:
            handle.write('{"Records":[' + ",".join(records) + "]}")
        written += n


def corpus_of(kind, size, args, work, target):
    """The corpus folder of `kind` (`real` or `generator`) and `size` records, made once."""
    if kind == "real":
        folder = work / f"real-{size}-{args.real_accounts}" / "cloudtrail"
        if not folder.exists():
            print(f"making the real-shaped corpus of {size:,} records in {folder}", flush=True)
            partial = folder.with_name("cloudtrail.partial")
            shutil.rmtree(partial, ignore_errors=True)
            real_corpus(partial, size, args.real_accounts, Path(args.data))
            partial.rename(folder)
        return folder
    corpus = work / f"corpus-{size}"
    if not (corpus / "cloudtrail").exists():
        subprocess.run(
            [str(target / "fixtures"), "--out", str(corpus), "--accounts", str(args.accounts), "--units", "20",
             "--only", "cloudtrail", "--cloudtrail-records", str(size)],
            check=True,
        )
    return corpus / "cloudtrail"


def stages_of(out):
    """The stage times `ingest` prints (`stages: read 0.05 s (6 %), gunzip ...`), as
    {stage: seconds}."""
    line = next((l for l in out.splitlines() if l.startswith("stages:")), "")
    found = {}
    for part in line.removeprefix("stages:").split(","):
        words = part.split()
        if len(words) >= 2:
            found[words[0]] = float(words[1])
    return found


def main():
    ap = harness_parser(__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--corpus", nargs="+", choices=["real", "generator"], default=["real", "generator"],
                    help="real: records resampled from real trails (default first); generator: the fixtures generator's")
    ap.add_argument("--accounts", type=int, default=2000, help="accounts of the generator's corpus")
    ap.add_argument("--real-accounts", type=int, default=500, help="accounts of the real-shaped corpus")
    ap.add_argument("--data", default=str(Path(__file__).resolve().parent.parent.parent / "shared" / "data"),
                    help="the shared real data (default ../shared/data beside the checkout)")
    ap.add_argument("--skip-duckdb", action="store_true", help="only our runs (no comparison)")
    args = ap.parse_args()
    target = binaries(args)
    work = smoke_setup(ap, args, target, ["fixtures", "ingest"], sizes=[3000], accounts=40, real_accounts=40)
    work.mkdir(parents=True, exist_ok=True)
    import duckdb  # noqa: F401  (fail early if missing)

    cores = os.cpu_count()
    settings = work / "settings.yaml"
    base = Path.cwd() / "settings.yaml"
    settings.write_text(base.read_text().replace("lake: ./lake", f"lake: {work / 'lake'}")
                        .replace("fixtures/accounts-overlay.csv", str(Path.cwd() / "fixtures/accounts-overlay.csv")))
    rows, profiles = [], []
    for kind in args.corpus:
        for size in args.sizes:
            corpus = corpus_of(kind, size, args, work, target)
            gz = folder_bytes(corpus)
            files = sum(1 for _ in corpus.rglob("*.json.gz"))
            raw = json_bytes(corpus)
            print(f"\n{kind} corpus, {size:,} records in {files:,} files: {gz / 1e6:.0f} MB gzip, "
                  f"{raw / 1e6:.0f} MB JSON")

            for label, parallel in (("ours, 1 core", 1), (f"ours, {cores} cores", cores)):
                shutil.rmtree(work / "lake", ignore_errors=True)
                wall, cpu, rss, out = run([str(target / "ingest"), "--settings", str(settings),
                                           "--parallel", str(parallel), str(corpus)])
                written = [l for l in out.splitlines() if l.startswith("files")]
                if args.smoke and not (written and stages_of(out)):
                    sys.exit(f"smoke: no 'files ...' summary or 'stages:' line in the output of ingest:\n{out}")
                rows.append((kind, size, files, label, wall, cpu, rss, folder_bytes(work / "lake" / "events"),
                             size / cpu, raw / 1e6 / cpu))
                profiles.append((kind, size, label, stages_of(out)))
                print(f"  {label}: {written[0] if written else out.strip()}")
            for label, threads in () if args.skip_duckdb else (("duckdb, 1 thread", 1), (f"duckdb, {cores} threads", cores)):
                out_file = work / "duckdb.parquet"
                out_file.unlink(missing_ok=True)
                sql = DUCKDB_SQL.format(glob=corpus / "**" / "*.json.gz", out=out_file)
                script = f"import duckdb; c = duckdb.connect(); c.execute('SET threads={threads}'); c.execute({sql!r}); " \
                         f"print(c.execute(\"SELECT count(*) FROM '{out_file}'\").fetchone()[0])"
                wall, cpu, rss, out = run([sys.executable, "-c", script])
                if args.smoke and not out.strip().isdigit():
                    sys.exit(f"smoke: no row count in the output of DuckDB:\n{out}")
                rows.append((kind, size, files, label, wall, cpu, rss, out_file.stat().st_size, size / cpu,
                             raw / 1e6 / cpu))
                print(f"  {label}: {out.strip()} rows")

    print("\n| corpus | records | files | tool | wall s | CPU s | peak RSS MB | output MB | records/s per core "
          "| JSON MB/s per core |")
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for kind, size, files, label, wall, cpu, rss, outb, rps, mbps in rows:
        print(f"| {kind} | {size:,} | {files:,} | {label} | {wall:.1f} | {cpu:.1f} | {rss:.0f} | {outb / 1e6:.0f} "
              f"| {rps:,.0f} | {mbps:.1f} |")
    for kind in args.corpus:
        for size in [] if args.skip_duckdb else args.sizes:
            ours = next(r for r in rows if r[:2] == (kind, size) and r[3] == "ours, 1 core")
            duck = next(r for r in rows if r[:2] == (kind, size) and r[3] == "duckdb, 1 thread")
            print(f"{kind} corpus, {size:,} records: ours / DuckDB per core = {ours[8] / duck[8]:.2f}x, "
                  f"peak RSS {ours[6] / duck[6]:.2f}x")

    names = ["read", "gunzip", "parse", "columns", "encode", "store"]
    print("\nWhere ingest's time went (seconds per stage, summed over the groups in flight; "
          "store and read include waiting for the disk):\n")
    print("| corpus | records | run | " + " | ".join(names) + " |")
    print("|---|---:|---|" + "---:|" * len(names))
    for kind, size, label, stages in profiles:
        total = sum(stages.values()) or 1
        cells = " | ".join(f"{stages.get(n, 0):.2f} ({100 * stages.get(n, 0) / total:.0f} %)" for n in names)
        print(f"| {kind} | {size:,} | {label} | {cells} |")


if __name__ == "__main__":
    main()
