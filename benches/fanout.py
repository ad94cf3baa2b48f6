#!/usr/bin/env python3
"""A maintenance window through the lifecycle queue beside the direct path, on moto, same run.

Creates in a moto server an organization with two managed units of --accounts / 2 released
accounts each (tags as the lifecycle leaves them after an on-boarding; in each member account the
purge project a deployment's member stack creates), the lifecycle queue and its dead-letter
queue. Then, each a child process measured with wait4 (wall, CPU, peak RSS):

  queue    unit A: `lifecycle maintenance --yes --via-queue` (reads the organization, one
           message per account due), then `lifecycle work`, which works the queue exactly as
           the worker function does (ten messages a batch, the same code), until it is empty
  direct   unit B: `lifecycle maintenance --yes`, the whole window in one process (what the
           function did before the queue, and what the command does for a small organization)

Each command prints the requests it made (AWS Organizations, CodeBuild, member accounts whose
role it assumed, retried, throttled); the harness checks that every account of each unit is
expired with one purge started (`lifecycle queue` must report the run with every account done,
nothing failed, and `lifecycle plan` nothing due any more) and prints, per expiring account, our
CPU time and the requests (targets: at most 3 Organizations requests and 1 CodeBuild start per
account, CPU under 5 ms per account). The purge's regions come from `automation.purge_regions`
(moto has no Account API; with it, each purge adds one `ListRegions` request in the member
account). moto's own time dominates the wall time (a Python server whose Organizations calls slow
down with the organization's size); our CPU time is what the figures are about.

  python3 benches/fanout.py [--accounts 10000] [--work /var/tmp/spa-bench]

Needs `cargo build --release -p lifecycle` (found in $CARGO_TARGET_DIR/release) and moto[server]
with boto3 in the Python that runs it. With --smoke (benches/smoke.py, CI) it does every step for
20 accounts with the debug binary, in a new temporary work folder, failing on any error.
"""

import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ingest import binaries, harness_parser, run_full, smoke_setup  # benches/ingest.py
from motoserver import moto_server  # benches/motoserver.py

ENV = "spa-bench"
ROLE = "OrganizationAccountAccessRole"
REPO = Path(__file__).resolve().parent.parent


def populate(endpoint, per_unit):
    """Two managed units of `per_unit` released accounts, each with the purge project; the
    lifecycle queue and its dead-letter queue. Returns the management account and unit ids."""
    import boto3

    kw = dict(endpoint_url=endpoint, region_name="eu-west-1", aws_access_key_id="testing",
              aws_secret_access_key="testing")
    org = boto3.client("organizations", **kw)
    org.create_organization(FeatureSet="ALL")
    management = org.describe_organization()["Organization"]["MasterAccountId"]
    root = org.list_roots()["Roots"][0]["Id"]
    units = [org.create_organizational_unit(ParentId=root, Name=name)["OrganizationalUnit"]["Id"]
             for name in ("Sandboxes A", "Sandboxes B")]
    spec = (REPO / "buildspecs" / "purge-account.yaml").read_text()

    def one(item):
        i, unit = item
        c = boto3.client("organizations", **kw)
        name = f"sandbox-{i:05d}"
        account = c.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]["AccountId"]
        c.move_account(AccountId=account, SourceParentId=root, DestinationParentId=unit)
        c.tag_resource(ResourceId=account, Tags=[
            {"Key": "account-state", "Value": "released"},
            {"Key": "account-since", "Value": "2026-09-26T18:30:00Z"},
            {"Key": "account-holder", "Value": f"{name}@example.com"},
        ])
        creds = boto3.client("sts", **kw).assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/{ROLE}", RoleSessionName="bench")["Credentials"]
        cb = boto3.client("codebuild", endpoint_url=endpoint, region_name="eu-west-1",
                          aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                          aws_session_token=creds["SessionToken"])
        # As the member stack creates it (moto wants a source location even for NO_SOURCE).
        cb.create_project(
            name=f"{ENV}-purge-account",
            source={"type": "NO_SOURCE", "location": "buildspecs", "buildspec": spec},
            artifacts={"type": "NO_ARTIFACTS"},
            environment={"type": "LINUX_CONTAINER", "image": "aws/codebuild/amazonlinux-x86_64-standard:5.0",
                         "computeType": "BUILD_GENERAL1_SMALL"},
            serviceRole=f"arn:aws:iam::{account}:role/{ENV}-build")
        return account

    items = [(i, units[i % 2]) for i in range(2 * per_unit)]
    started = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        for n, _ in enumerate(pool.map(one, items), 1):
            if n % 500 == 0:
                print(f"  {n} accounts created ({time.perf_counter() - started:.0f} s)", flush=True)
    sqs = boto3.client("sqs", **kw)
    dead = sqs.create_queue(QueueName=f"{ENV}-lifecycle-dlq")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.create_queue(QueueName=f"{ENV}-lifecycle", Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 5}),
        "VisibilityTimeout": "900"})
    return management, units


class Runtime:
    """The Lambda runtime API for one warm process of a function binary: each `invoke` hands it a
    payload and returns its answer, as Lambda does, so the process keeps its clients and
    credentials between invocations. `stop` kills it and returns (wall s, CPU s, peak RSS MB)."""

    def __init__(self, binary, settings_path, env, log):
        import queue
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.payloads, self.answers = queue.Queue(), queue.Queue()
        runtime = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):  # /2018-06-01/runtime/invocation/next
                payload = runtime.payloads.get()
                body = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", f"req-{time.monotonic_ns()}")
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 900_000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                                 "arn:aws:lambda:eu-west-1:123456789012:function:lifecycle")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):  # .../response, .../error, /runtime/init/error
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()
                runtime.answers.put((self.path.rsplit("/", 1)[-1], body.decode()))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        port = self.server.server_address[1]
        self.started = time.perf_counter()
        self.proc = subprocess.Popen([binary], stdout=log, stderr=subprocess.STDOUT, env=dict(
            env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{port}", AWS_LAMBDA_FUNCTION_NAME="lifecycle",
            AWS_LAMBDA_FUNCTION_MEMORY_SIZE="512", AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
            AWS_LAMBDA_LOG_STREAM_NAME="bench", AWS_LAMBDA_LOG_GROUP_NAME="bench", SPA_SETTINGS=str(settings_path)))

    def invoke(self, payload):
        self.payloads.put(payload)
        kind, body = self.answers.get(timeout=900)
        if kind != "response":
            sys.exit(f"the function answered {kind}: {body}")
        return json.loads(body)

    def stop(self):
        self.proc.kill()
        _, _, usage = os.wait4(self.proc.pid, 0)
        self.server.shutdown()
        return time.perf_counter() - self.started, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def drain(runtime, sqs, url):
    """Feeds the queue's messages to the function ten at a time, as the event source mapping does:
    deletes those it did not report failed. Returns the summed answers, with the last one's
    `requests` (the process's, since it started)."""
    totals = {"done": 0, "skipped": 0, "failed": 0, "batches": 0}
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                  MessageSystemAttributeNames=["ApproximateReceiveCount"]).get("Messages", [])
        if not got:
            return totals
        records = [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                    "attributes": {"ApproximateReceiveCount": m["Attributes"]["ApproximateReceiveCount"]},
                    "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:lifecycle"}
                   for m in got]
        answer = runtime.invoke({"Records": records})
        failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
        done = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)
                if m["MessageId"] not in failed]
        if done:
            sqs.delete_message_batch(QueueUrl=url, Entries=done)
        totals["done"] += answer["done"]
        totals["skipped"] += answer["skipped"]
        totals["failed"] += len(failed)
        totals["batches"] += 1
        totals["requests"] = answer["requests"]  # since the process started
        if totals["batches"] % 100 == 0:
            print(f"  {totals['done'] + totals['skipped']} messages worked", flush=True)


def settings(work, endpoint, management, unit):
    path = work / f"settings-{unit}.yaml"
    path.write_text(f"""
environment_identifier: {ENV}
automation:
  account_id: "{management}"
  management_account_id: "{management}"
  region: eu-west-1
  maintenance_window: "cron(0 18 ? * SAT *)"
  account_role: {ROLE}
  purge_regions: [eu-west-1, eu-central-1, us-east-1]
defaults:
  purge:
    feature: enabled
organizational_units:
  {unit}:
    note: benchmark
lake: {work / "lake"}
organization:
  adapter: aws
events:
  adapter: aws
  bus: default
builds:
  adapter: aws
costs:
  source: aws
aws:
  endpoint_url: {endpoint}
""")
    return path


def main():
    ap = harness_parser(__doc__)
    ap.add_argument("--accounts", type=int, default=10_000, help="released accounts, half per unit")
    args = ap.parse_args()
    target = binaries(args)
    work = smoke_setup(ap, args, target, ["lifecycle", "lifecycle-lambda"], accounts=20) / f"fanout-{args.accounts}"
    work.mkdir(parents=True, exist_ok=True)
    lifecycle = str(target / "lifecycle")
    lambda_bin = str(target / "lifecycle-lambda")
    per_unit = args.accounts // 2
    env = dict(os.environ, RUST_LOG="warn", AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    env.pop("AWS_ENDPOINT_URL", None)
    rows = []
    with moto_server() as endpoint:
        started = time.perf_counter()
        management, (unit_a, unit_b) = populate(endpoint, per_unit)
        print(f"moto: {2 * per_unit} released accounts in two units, with their purge projects, "
              f"in {time.perf_counter() - started:.0f} s", flush=True)
        queue_settings = settings(work, endpoint, management, unit_a)
        direct_settings = settings(work, endpoint, management, unit_b)
        import boto3

        sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="eu-west-1", aws_access_key_id="testing",
                           aws_secret_access_key="testing")
        url = sqs.get_queue_url(QueueName=f"{ENV}-lifecycle")["QueueUrl"]

        # Through the queue: the schedule's invocation enqueues, then the same warm process
        # works the batches (one process stands for the function's concurrent instances).
        with open(work / "queue.log", "w") as log:
            runtime = Runtime(lambda_bin, queue_settings, env, log)
            enqueued = runtime.invoke({"action": "maintenance", "via_queue": True})
            if enqueued.get("enqueued") != per_unit:
                sys.exit(f"the run enqueued {enqueued.get('enqueued')} messages, not {per_unit}: {enqueued}")
            listing = enqueued["requests"]["organizations"]
            print(f"queue: {per_unit} messages enqueued ({listing} Organizations requests)", flush=True)
            totals = drain(runtime, sqs, url)
            last = totals.pop("requests")
            wall, cpu, rss = runtime.stop()
        if (totals["done"], totals["failed"]) != (per_unit, 0):
            sys.exit(f"the worker did not carry out every account: {totals}")
        print(f"queue: {wall:.1f} s wall, {cpu:.2f} s CPU, peak RSS {rss:.0f} MB; {totals}; {last}", flush=True)
        rows.append(("through the queue (enqueue, then batches of 10)", per_unit, wall, cpu, rss, last))
        _, _, _, out, err = run_full([lifecycle, "--settings", str(queue_settings), "queue"], env=env)
        if f"{per_unit} enqueued, {per_unit} done, 0 skipped, 0 failed, 0 pending" not in out:
            sys.exit(f"lifecycle queue does not report the run done:\n{out}{err}")

        # Direct: the whole window in one invocation, as before the queue.
        with open(work / "direct.log", "w") as log:
            runtime = Runtime(lambda_bin, direct_settings, env, log)
            answer = runtime.invoke({"action": "maintenance"})
            wall, cpu, rss = runtime.stop()
        if len(answer["changed"]) != per_unit or answer["failed"]:
            sys.exit(f"the direct window changed {len(answer['changed'])} accounts, failed {answer['failed']}")
        print(f"direct: {wall:.1f} s wall, {cpu:.2f} s CPU, peak RSS {rss:.0f} MB; {answer['requests']}",
              flush=True)
        rows.append(("direct, one invocation", per_unit, wall, cpu, rss, answer["requests"]))
        for path in (queue_settings, direct_settings):
            _, _, _, _, err = run_full([lifecycle, "--settings", str(path), "plan"], env=env)
            if not re.search(r"\d+ accounts: 0 due", err):
                sys.exit(f"accounts still due after the window ({path.name}):\n{err}")

    print(f"\nmaintenance window over {per_unit} released accounts per path, on moto")
    print("| path | accounts | wall s | CPU s | CPU ms per account | peak RSS MB | Organizations requests per account "
          "| CodeBuild requests per account | EventBridge requests per account | roles assumed | retried | throttled |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, n, wall, cpu, rss, r in rows:
        print(f"| {label} | {n} | {wall:.1f} | {cpu:.2f} | {1000 * cpu / n:.2f} | {rss:.0f} "
              f"| {r['organizations'] / n:.2f} | {r['codebuild'] / n:.2f} | {r['eventbridge'] / n:.2f} | {r['roles']} "
              f"| {r['retried']} | {r['throttled']} |")
    (_, n, _, cpu_q, _, q), (_, _, _, cpu_d, _, _) = rows
    print(f"\nthrough the queue, per expiring account: {1000 * cpu_q / n:.2f} ms CPU (target < 5; "
          f"{cpu_q / max(cpu_d, 1e-9):.2f}x the direct path's), {q['organizations'] / n:.2f} Organizations requests "
          f"(target <= 3), {q['codebuild'] / n:.2f} CodeBuild requests (one BatchGetProjects, one StartBuild)")


if __name__ == "__main__":
    main()
