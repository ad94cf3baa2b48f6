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

Then a batch of 10,000 events (one in 500 a root sign-in) through the `ingest-lambda` binary and
a fake Lambda runtime API, timed from handing over the payload to the answer: with the live path
off, on (its exceptions new: stored and e-mailed to the outbox), and on again (stored already).
The batch is dated the last day of the month's costs, as a live event is (Cost Explorer's days
trail the events), so the month-to-date comes from the month's `cost_totals`; a last run sends a
batch dated ten days earlier (a late or replayed batch), whose month-to-date reads the costs.

Usage: python3 benches/exceptions.py [--work /var/tmp/spa-bench] [--events 10000000]
Needs `cargo build --release -p reports -p ingest -p spa-fixtures` (ingest-lambda included) and
`pip install duckdb`.
With --smoke (benches/smoke.py in CI) everything runs at a tiny size on the debug binaries.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time

from ingest import ARROW_TABLE_DEF, folder_bytes, run  # benches/ingest.py
from reports import MONTH, lake_harness  # benches/reports.py

CANDIDATES_SQL = """
SELECT event_id, event_time, source, activity, account_id, raw
FROM read_parquet('{lake}/events/dt={month}-*/*.parquet')
WHERE activity IS NOT NULL OR source = 'organizations.amazonaws.com'
"""


LIVE_EVENTS = 10_000


def live_payload(accounts, n, day="31", prefix="live"):
    """An SQS batch of one message holding `n` EventBridge envelopes (an array, as a rule's input
    transformer or a replay can send) of `day` in the month: API calls, with one root console
    sign-in in 500; event ids start with `prefix`."""
    envelopes = []
    for i in range(n):
        account = "5" + str((i * 7919) % accounts).rjust(11, "0")
        t = f"{MONTH}-{day}T{(i // 3600) % 24:02}:{(i // 60) % 60:02}:{i % 60:02}Z"
        if i % 500 == 0:
            detail = {"eventVersion": "1.08", "eventID": f"{prefix}-root-{i}", "eventTime": t,
                      "eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin", "eventType": "AwsConsoleSignIn",
                      "recipientAccountId": account, "sourceIPAddress": "203.0.113.7",
                      "responseElements": {"ConsoleLogin": "Success"},
                      "userIdentity": {"type": "Root", "principalId": account, "arn": f"arn:aws:iam::{account}:root", "accountId": account}}
            kind, source = "AWS Console Sign In via CloudTrail", "aws.signin"
        else:
            detail = {"eventVersion": "1.08", "eventID": f"{prefix}-{i}", "eventTime": t, "eventSource": "ec2.amazonaws.com",
                      "eventName": "DescribeInstances", "awsRegion": "eu-west-1", "recipientAccountId": account,
                      "sourceIPAddress": "203.0.113.9", "userAgent": "aws-cli/2.15.0",
                      "userIdentity": {"type": "AssumedRole", "accountId": account,
                                       "arn": f"arn:aws:sts::{account}:assumed-role/AWSReservedSSO_Admin/alice"}}
            kind, source = "AWS API Call via CloudTrail", "aws.ec2"
        envelopes.append({"version": "0", "id": f"eb-{prefix}-{i}", "detail-type": kind, "source": source,
                          "account": account, "time": t, "region": "eu-west-1", "resources": [], "detail": detail})
    return {"Records": [{"messageId": "m1", "receiptHandle": "r", "body": json.dumps(envelopes), "attributes": {},
                         "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                         "eventSourceARN": "arn:aws:sqs:eu-west-1:222222222222:ingest", "awsRegion": "eu-west-1"}]}


def invoke(binary, settings, payload):
    """One invocation of a Lambda function binary through a fake runtime API on 127.0.0.1;
    returns the seconds from handing over the payload to the answer, and the answer."""
    import http.server
    body = json.dumps(payload).encode()
    timing = {}

    class Runtime(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Lambda-Runtime-Aws-Request-Id", "req-1")
            self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 600_000))
            self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:eu-west-1:222222222222:function:f")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            timing["start"] = time.perf_counter()

        def do_POST(self):
            timing["end"] = time.perf_counter()
            n = int(self.headers.get("Content-Length", 0))
            timing["answer"] = self.rfile.read(n).decode()
            timing["path"] = self.path
            self.send_response(202)
            self.end_headers()

    server = http.server.HTTPServer(("127.0.0.1", 0), Runtime)
    env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_port}", AWS_LAMBDA_FUNCTION_NAME="f",
               AWS_LAMBDA_FUNCTION_MEMORY_SIZE="1024", AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
               AWS_LAMBDA_LOG_STREAM_NAME="s", AWS_LAMBDA_LOG_GROUP_NAME="g", SPA_SETTINGS=str(settings))
    child = subprocess.Popen([str(binary)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        server.handle_request()  # next
        server.handle_request()  # the answer
    finally:
        child.kill()
        child.wait()
        server.server_close()
    if not timing.get("path", "").endswith("/response"):
        sys.exit(f"the function failed: {timing}")
    return timing["end"] - timing["start"], timing["answer"]


def live(args, target, lake, settings, rows):
    """A batch of LIVE_EVENTS events through the ingest Lambda (a fake runtime API), with the
    live path off, then on (its exceptions new), then on again (stored already), then a late
    batch (new exceptions dated before the costs' last day); the objects the runs add to the
    lake are removed afterwards, so the lake stays the benchmark's."""
    n = LIVE_EVENTS if not args.smoke else 300
    payload = live_payload(args.accounts, n)
    late = live_payload(args.accounts, n, day="21", prefix="late")
    base = settings.read_text()
    before = {p for p in lake.rglob("*") if p.is_file()}
    outbox = settings.parent / "live-outbox"
    on = f"exceptions: {{ email: {{ to: [sre@example.com] }} }}\nmail: {{ outbox: {outbox} }}\n"
    variants = [("off", "exceptions: { live: false }\n", payload),
                ("on, exceptions new", on, payload),
                ("on, exceptions stored", on, payload),
                ("on, exceptions new, batch 10 days late", on, late)]
    times = []
    try:
        for label, extra, payload in variants:
            path = settings.parent / "settings-live.yaml"
            path.write_text(base + extra)
            seconds, answer = invoke(target / "ingest-lambda", path, payload)
            if json.loads(answer) != {"batchItemFailures": []}:
                sys.exit(f"the ingest Lambda failed messages: {answer}")
            times.append(seconds)
            print(f"ingest Lambda, {n:,} events, live path {label}: {seconds * 1000:.0f} ms", flush=True)
            rows.append((f"ours: ingest Lambda, {n:,} events, live {label}", seconds, float("nan"), float("nan")))
    finally:
        for p in {p for p in lake.rglob("*") if p.is_file()} - before:
            p.unlink()
        shutil.rmtree(outbox, ignore_errors=True)
    mails = n // 500
    print(f"the live path adds {(times[1] - times[0]) * 1000:.0f} ms with {mails} new exceptions "
          f"(stored, e-mailed), {(times[2] - times[0]) * 1000:.0f} ms when they are stored already, "
          f"{(times[3] - times[0]) * 1000:.0f} ms for a late batch's {mails} new exceptions", flush=True)


def main():
    args, target, env, _, lake, settings = lake_harness(__doc__, ("fixtures", "ingest", "reports", "ingest-lambda"))
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

    live(args, target, lake, settings, rows)

    print("\n| run | wall s | CPU s | peak RSS MB |")
    print("|---|---:|---:|---:|")
    for label, w, c, r in rows:
        print(f"| {label} | {w:.2f} | {c:.2f} | {r:.0f} |".replace("nan", "-"))
    for label, w, _, _ in rows[2:]:
        if label.startswith("duckdb"):
            print(f"wall: ours (cold sweep) / {label.split(':')[0]} = {rows[0][1] / w:.2f} (below 1: ours is faster)")


if __name__ == "__main__":
    main()
