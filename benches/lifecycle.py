#!/usr/bin/env python3
"""`lifecycle plan` over a large organization: against the local organization file and against
AWS Organizations served by moto, same run.

Builds once (seeded, cached under --work) an organization of 10,000 accounts in 50 managed OUs
with the `fixtures` generator. Then, each a child process measured with wait4 (wall, CPU, peak
RSS):

  local    `lifecycle plan` on the organization file (the shipped default adapter)
  moto     the same organization created in a moto server (units, accounts moved into them,
           their tags), then `lifecycle plan` with `organization.adapter: aws`; the command
           prints the Organizations requests it made, which gives the requests per account
           (target: one tag read per account plus pagination, nothing more)

Both plans must find the same number of accounts due. Usage:

  python3 benches/lifecycle.py [--work /var/tmp/spa-bench] [--accounts 10000]

Needs `cargo build --release -p lifecycle -p spa-fixtures` (found in $CARGO_TARGET_DIR/release)
and, in the Python that runs it, `pip install 'moto[server]' boto3`.

With --smoke (what benches/smoke.py runs in CI) it does the same, its own moto server included,
for an organization of 20 accounts with the debug binaries of $CARGO_TARGET_DIR/debug, in a new
temporary work folder removed at the end (unless --work), and exits non-zero on any failure or
missing figure; its figures are then meaningless.
"""

import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from ingest import binaries, harness_parser, run_full, smoke_setup  # benches/ingest.py
from motoserver import moto_server  # benches/motoserver.py


def load_yaml(path):
    import yaml  # PyYAML comes with moto

    with open(path) as f:
        return yaml.safe_load(f)


def populate(endpoint, org):
    """Creates `org` (the organization file's content) in moto; returns the OU id mapping and
    the new account ids (moto picks its own)."""
    import boto3

    kw = dict(endpoint_url=endpoint, region_name="eu-west-1", aws_access_key_id="testing",
              aws_secret_access_key="testing")
    client = boto3.client("organizations", **kw)
    client.create_organization(FeatureSet="ALL")
    root = client.list_roots()["Roots"][0]["Id"]
    units = {org["root_id"]: root}
    pending = list(org["units"])
    while pending:
        unit = pending.pop(0)
        if unit["parent"] not in units:
            pending.append(unit)
            continue
        made = client.create_organizational_unit(ParentId=units[unit["parent"]], Name=unit["name"])
        units[unit["id"]] = made["OrganizationalUnit"]["Id"]

    def one(account):
        c = boto3.client("organizations", **kw)
        status = c.create_account(AccountName=account["name"], Email=account["email"])["CreateAccountStatus"]
        new = status["AccountId"]
        if units[account["parent"]] != root:
            c.move_account(AccountId=new, SourceParentId=root, DestinationParentId=units[account["parent"]])
        tags = [{"Key": k, "Value": v} for k, v in (account.get("tags") or {}).items()]
        if tags:
            c.tag_resource(ResourceId=new, Tags=tags)
        if account.get("status", "ACTIVE") != "ACTIVE":
            c.close_account(AccountId=new)  # moto: SUSPENDED, as the lifecycle sees it
        return new

    members = [a for a in org["accounts"] if a["id"] != org["management_account_id"]]
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(one, members))
    return units, ids


def due(stderr):
    m = re.search(r"(\d+) accounts: (\d+) due", stderr)
    return (int(m[1]), int(m[2])) if m else (0, 0)


def smoke_figure(args, pattern, stderr):
    """With --smoke, exits unless the progress lines of `lifecycle plan` match `pattern`."""
    if args.smoke and not re.search(pattern, stderr):
        sys.exit(f"smoke: no '{pattern}' in the progress lines of lifecycle plan:\n{stderr}")


def main():
    ap = harness_parser(__doc__)
    ap.add_argument("--accounts", type=int, default=10_000)
    args = ap.parse_args()
    target = binaries(args)
    gen = smoke_setup(ap, args, target, ["fixtures", "lifecycle"], accounts=20) / f"lifecycle-{args.accounts}"
    if not (gen / "organization.yaml").exists():
        subprocess.run([str(target / "fixtures"), "--out", str(gen), "--accounts", str(args.accounts),
                        "--units", "50", "--cost-centers", "200", "--only", "org"], check=True)
    settings = gen / "settings.yaml"
    lifecycle = str(target / "lifecycle")
    env = dict(os.environ, RUST_LOG="warn")
    rows = []

    wall, cpu, rss, out, err = run_full([lifecycle, "--settings", str(settings), "plan"], env=env)
    smoke_figure(args, r"(\d+) accounts: (\d+) due", err)
    accounts, n_due = due(err)
    print(f"local file: {accounts} accounts, {n_due} due, {len(out.splitlines()) - 1} plan lines; "
          f"{wall:.2f} s wall, peak RSS {rss:.0f} MB")
    rows.append(("local organization file", accounts, n_due, wall, cpu, rss, 0))

    with moto_server() as endpoint:
        org = load_yaml(gen / "organization.yaml")
        started = time.perf_counter()
        units, _ = populate(endpoint, org)
        print(f"moto: organization created in {time.perf_counter() - started:.0f} s", flush=True)
        text = settings.read_text()
        for ours, theirs in units.items():
            text = text.replace(ours, theirs)
        text = text.replace("  adapter: local\n  file: organization.yaml\n", "  adapter: aws\n")
        text += f"\naws:\n  endpoint_url: {endpoint}\n"
        aws_settings = gen / "settings-moto.yaml"
        aws_settings.write_text(text)
        moto_env = dict(env, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
        # The management account in moto is 123456789012, not the file's.
        text = text.replace(f'management_account_id: "{org["management_account_id"]}"',
                            'management_account_id: "123456789012"')
        aws_settings.write_text(text)
        for concurrency in (1, 8):
            cmd = [lifecycle, "--settings", str(aws_settings), "--concurrency", str(concurrency), "plan"]
            wall, cpu, rss, _, err = run_full(cmd, env=moto_env)
            smoke_figure(args, r"(\d+) Organizations requests", err)
            smoke_figure(args, r"(\d+) accounts: (\d+) due", err)
            requests = int(re.search(r"(\d+) Organizations requests", err)[1])
            accounts_m, due_m = due(err)
            print(f"moto, {concurrency} tag reads at once: {accounts_m} accounts, {due_m} due; {requests} requests "
                  f"({requests / max(accounts_m, 1):.3f} per account); {wall:.1f} s wall, peak RSS {rss:.0f} MB")
            rows.append((f"AWS Organizations on moto, concurrency {concurrency}", accounts_m, due_m, wall, cpu,
                         rss, requests))

    print("\n| plan over | accounts | due | wall s | CPU s | peak RSS MB | requests | per account |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, a, d, w, c, r, q in rows:
        print(f"| {label} | {a} | {d} | {w:.2f} | {c:.2f} | {r:.0f} | {q} | {q / max(a, 1):.3f} |")
    if len({(a, d) for _, a, d, *_ in rows}) != 1:
        sys.exit("the plans disagree")


if __name__ == "__main__":
    main()
