"""The embedded run: the whole suite on one machine with no other set-up.

Starts a throwaway PostgreSQL (unless every service has a ``SHOP_<NAME>_DATABASE_URL``), one database per
service, applies each service's migrations, then the five services and the gateway as separate processes,
each logging to ``var/logs/<name>.log``. Ctrl-C or SIGTERM stops the gateway, then the services (each
drains its calls), then PostgreSQL, and removes the database folder: nothing is left running or listening.

    python -m libs.suite            # what `make run` does
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from libs import config
from libs.embedded_pg import EmbeddedPostgres

SERVICES = list(config.SERVICE_PORTS)
READY_TIMEOUT_SECONDS = 60.0


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the launcher dies, so a killed launcher leaves no orphans (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


@dataclass
class Suite:
    """A running suite: its processes and, when embedded, its database server."""

    env: dict[str, str]
    var: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    postgres: EmbeddedPostgres | None = None
    log: Callable[[str], None] = print

    @property
    def gateway_url(self) -> str:
        return f"http://{self.env.get('SHOP_GATEWAY_HOST', '127.0.0.1')}:{self.env.get('SHOP_GATEWAY_PORT', config.GATEWAY_PORT)}"

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        logs = self.var / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with (logs / f"{name}.log").open("ab") as out:
            return subprocess.Popen(
                [sys.executable, *args],
                env=self.env,
                cwd=config.REPO_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches the launcher only, which stops things in order
                preexec_fn=_die_with_parent,
            )

    def start(self) -> None:
        self.var.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.var / "logs", ignore_errors=True)
        external = all(self.env.get(f"SHOP_{n.upper()}_DATABASE_URL") for n in SERVICES)
        if not external:
            self.log("starting embedded PostgreSQL ...")
            self.postgres = EmbeddedPostgres(self.var / "pgdata")
            for name in SERVICES:
                key = f"SHOP_{name.upper()}_DATABASE_URL"
                if not self.env.get(key):
                    self.env[key] = self.postgres.create_database(f"shop_{name}")
        self.log("applying migrations ...")
        migrations = {
            name: self._spawn(f"{name}-migrate", ["-m", f"services.{name}", "migrate"]) for name in SERVICES
        }
        for name, proc in migrations.items():
            if proc.wait(timeout=120) != 0:
                raise RuntimeError(
                    f"migrations of {name} failed: see {self.var / 'logs' / (name + '-migrate.log')}"
                )
        for name in SERVICES:
            self.processes[name] = self._spawn(name, ["-m", f"services.{name}", "serve"])
        self.processes["gateway"] = self._spawn("gateway", ["-m", "services.gateway"])

    def wait_ready(self, timeout: float = READY_TIMEOUT_SECONDS) -> dict[str, object]:
        """Polls the gateway's /healthz until every service reports SERVING."""
        import json

        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                with urllib.request.urlopen(self.gateway_url + "/healthz", timeout=2) as reply:
                    body: dict[str, object] = json.loads(reply.read())
                    return body
            except urllib.error.HTTPError as err:
                last = err.read().decode(errors="replace")
            except (urllib.error.URLError, OSError) as err:
                last = str(err)
            time.sleep(0.25)
        raise TimeoutError(f"suite not ready after {timeout:.0f}s: {last}")

    def check_alive(self) -> None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with code {proc.returncode}: see {self.var / 'logs' / (name + '.log')}"
                )

    def stop(self) -> None:
        """Gateway first (no new requests), then services, then the database."""
        order = ["gateway", *reversed(SERVICES)]
        for name in order:
            proc = self.processes.get(name)
            if proc and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        grace = float(self.env.get("SHOP_GRACE_SECONDS", "5")) + 5
        for name in order:
            proc = self.processes.get(name)
            if proc is None:
                continue
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.processes.clear()
        if self.postgres is not None:
            self.postgres.stop()
            self.postgres = None


def main() -> int:
    env = dict(os.environ)
    var = config.var_dir()
    env.setdefault("SHOP_VAR_DIR", str(var))
    shutil.rmtree(config.span_dir(), ignore_errors=True)  # a local run's trace store starts empty
    suite = Suite(env=env, var=var)
    stop_requested = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        suite.start()
        health = suite.wait_ready()
        print(f"suite ready: {health}")
        print(f"gateway {suite.gateway_url}  logs {var / 'logs'}  traces: make trace  stop: Ctrl-C")
        while not stop_requested:
            suite.check_alive()
            time.sleep(0.5)
    except (RuntimeError, TimeoutError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        print("stopping the suite ...")
        suite.stop()
        print("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
