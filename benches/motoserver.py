"""A moto server on a free 127.0.0.1 port, for the harnesses that measure against AWS APIs.

moto finds the account of every request by looking for its access key in the IAM data of every
account it knows: with thousands of member accounts that search costs it more than the request
itself (a third of its time at 1,000 accounts, by py-spy). The server started here is moto with
that answer remembered per key (keys are made before they are used, so it never changes), and
the key of every role assumed recorded as it is made (each would otherwise be searched for
once). The answers are the same; only moto's time changes.
"""

import contextlib
import socket
import subprocess
import sys
import time
from pathlib import Path


# moto's server, with the account of each access key remembered once found.
REMEMBERING = """
import sys
from moto.iam import models as iam
from moto.server import main

owners = {}
search = iam.get_account_id_from


def get_account_id_from(access_key):
    account = owners.get(access_key)
    if account is None:
        account = owners[access_key] = search(access_key)
    return account


iam.get_account_id_from = get_account_id_from

# A role's temporary key is known at once: the search would miss the cache once per role.
from moto.sts import models as sts
create_access_key = sts.STSBackend._create_access_key


def _create_access_key(self, role):
    account, key = create_access_key(self, role)
    owners[key.access_key_id] = account
    return account, key


sts.STSBackend._create_access_key = _create_access_key
sys.exit(main(sys.argv[1:]))
"""


@contextlib.contextmanager
def moto_server():
    """Starts `moto_server` (beside the Python running this), waits until it answers, yields its
    endpoint URL, and stops it at the end; exits with a message if it is missing or silent."""
    binary = Path(sys.executable).parent / "moto_server"
    if not binary.exists():
        sys.exit(f"no {binary}: moto[server] must be in the environment of the Python running this")
    binary = [sys.executable, "-c", REMEMBERING]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([*binary, "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            sys.exit(f"moto_server did not answer on port {port} within 10 s")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait()
