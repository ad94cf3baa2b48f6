"""A moto server on a free 127.0.0.1 port, for the harnesses that measure against AWS APIs."""

import contextlib
import socket
import subprocess
import sys
import time
from pathlib import Path


@contextlib.contextmanager
def moto_server():
    """Starts `moto_server` (beside the Python running this), waits until it answers, yields its
    endpoint URL, and stops it at the end; exits with a message if it is missing or silent."""
    binary = Path(sys.executable).parent / "moto_server"
    if not binary.exists():
        sys.exit(f"no {binary}: moto[server] must be in the environment of the Python running this")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([str(binary), "-H", "127.0.0.1", "-p", str(port)],
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
