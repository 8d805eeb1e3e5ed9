"""The embedded run: the whole suite on one machine with no other set-up, kept under ``var/``.

Starts PostgreSQL (unless every service has a ``SHOP_<NAME>_DATABASE_URL``) with one database per service
and applies each service's migrations, then NATS with JetStream (unless ``SHOP_NATS_URL`` is set), then the
five services and the gateway, each a separate process logging to ``var/logs/<name>.log``. Every process
is supervised: one that dies is restarted with back-off, the restart is logged and counted (the gateway's
``/healthz`` shows the counts), and the rest keeps serving. Ctrl-C or SIGTERM stops the gateway, the
services (each drains its calls), NATS, then PostgreSQL.

The data stays: PostgreSQL's cluster (``var/pgdata``) and the JetStream store (``var/nats``) survive stops,
crashes and restarts, and the next ``make run`` resumes with everything in them. Only ``make wipe``
(``python -m libs.suite wipe``) deletes them.

    python -m libs.suite            # what `make run` does
    python -m libs.suite wipe       # what `make wipe` does: delete the embedded data under var/
"""

from __future__ import annotations

import argparse
import json
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
from libs.embedded_nats import answers, server_command
from libs.embedded_pg import PostgresCluster
from libs.supervisor import ProcessSpec, Supervisor, die_with_parent, read_state

SERVICES = list(config.SERVICE_PORTS)
READY_TIMEOUT_SECONDS = 60.0
#: What `make wipe` deletes: the data, and what only makes sense with it.
DATA_FOLDERS = ("pgdata", "nats", "spans", "run", "logs")


def state_file(var: Path) -> Path:
    """The supervisor's state: which process runs, and how often each was restarted."""
    return var / "run" / "supervisor.json"


@dataclass
class Suite:
    """A supervised suite: its database server, broker, services and gateway."""

    env: dict[str, str]
    var: Path
    log: Callable[[str], None] = print
    supervisor: Supervisor = field(init=False)
    postgres: PostgresCluster | None = None

    def __post_init__(self) -> None:
        self.supervisor = Supervisor(state_file=state_file(self.var), log=self.log)
        self.env.setdefault("SHOP_VAR_DIR", str(self.var))
        self.env["SHOP_SUPERVISOR_STATE"] = str(state_file(self.var))

    @property
    def gateway_url(self) -> str:
        host = self.env.get("SHOP_GATEWAY_HOST", "127.0.0.1")
        return f"http://{host}:{self.env.get('SHOP_GATEWAY_PORT', config.GATEWAY_PORT)}"

    def _spec(self, name: str, argv: list[str], **options: object) -> ProcessSpec:
        return ProcessSpec(
            name=name,
            argv=argv,
            env=self.env,
            cwd=config.REPO_ROOT,
            log_path=self.var / "logs" / f"{name}.log",
            **options,  # type: ignore[arg-type]
        )

    def start(self) -> None:
        """Starts everything in dependency order; returns once every process is spawned."""
        self.var.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.var / "logs", ignore_errors=True)  # a run's logs; the data stays
        external_db = all(self.env.get(f"SHOP_{n.upper()}_DATABASE_URL") for n in SERVICES)
        if not external_db:
            self.log("starting PostgreSQL (data in var/pgdata) ...")
            cluster = PostgresCluster(self.var / "pgdata")
            cluster.init()
            self.postgres = cluster
            self.supervisor.add(
                self._spec(
                    "postgres",
                    cluster.command(),
                    user=cluster.user,
                    stop_signal=signal.SIGINT,  # fast shutdown: do not wait for clients to leave
                    stop_timeout=30.0,
                    ready=cluster.answers,
                )
            )
            self.supervisor.start("postgres")
            for name in SERVICES:
                key = f"SHOP_{name.upper()}_DATABASE_URL"
                if not self.env.get(key):
                    self.env[key] = cluster.create_database(f"shop_{name}")
        self._migrate()
        if not self.env.get("SHOP_NATS_URL"):
            port = int(self.env.get("SHOP_NATS_PORT", config.NATS_PORT))
            self.env["SHOP_NATS_URL"] = f"nats://127.0.0.1:{port}"
            self.log("starting NATS with JetStream (data in var/nats) ...")
            self.supervisor.add(
                self._spec(
                    "nats",
                    server_command(self.var / "nats", port),
                    ready=lambda: answers("127.0.0.1", port),
                )
            )
            self.supervisor.start("nats")
        for name in SERVICES:
            self.supervisor.add(self._spec(name, [sys.executable, "-m", f"services.{name}", "serve"]))
            self.supervisor.start(name, wait_ready=False)
        self.supervisor.add(self._spec("gateway", [sys.executable, "-m", "services.gateway"]))
        self.supervisor.start("gateway", wait_ready=False)

    def _migrate(self) -> None:
        self.log("applying migrations ...")
        logs = self.var / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        running: dict[str, subprocess.Popen[bytes]] = {}
        for name in SERVICES:
            with (logs / f"{name}-migrate.log").open("ab") as out:
                running[name] = subprocess.Popen(
                    [sys.executable, "-m", f"services.{name}", "migrate"],
                    env=self.env,
                    cwd=config.REPO_ROOT,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    preexec_fn=die_with_parent,
                )
        for name, proc in running.items():
            if proc.wait(timeout=120) != 0:
                raise RuntimeError(f"migrations of {name} failed: see {logs / (name + '-migrate.log')}")

    def wait_ready(
        self, timeout: float = READY_TIMEOUT_SECONDS, *, stop: Callable[[], bool] = lambda: False
    ) -> dict[str, object]:
        """Supervises while polling the gateway's /healthz until every service reports SERVING.

        Raises TimeoutError after ``timeout``, and InterruptedError as soon as ``stop()`` is true."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if stop():
                raise InterruptedError("stop requested while starting")
            self.supervisor.poll()
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

    def stop(self) -> None:
        """Gateway first (no new requests), then the services, NATS, and PostgreSQL last."""
        self.supervisor.stop_all()


def wipe(var: Path) -> int:
    """Deletes the embedded data; refused while a suite runs on it."""
    state = read_state(state_file(var))
    if state is not None:
        pid = state.get("supervisor_pid")
        if isinstance(pid, int) and _alive(pid):
            print(f"error: a suite (pid {pid}) is running on {var}: stop it first", file=sys.stderr)
            return 1
    for name in DATA_FOLDERS:
        shutil.rmtree(var / name, ignore_errors=True)
    print(f"deleted the embedded data under {var}")
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m libs.suite", description="Run the suite on this machine."
    )
    parser.add_argument("command", nargs="?", choices=["run", "wipe"], default="run")
    args = parser.parse_args(argv)
    var = config.var_dir()
    if args.command == "wipe":
        return wipe(var)
    suite = Suite(env=dict(os.environ), var=var)
    stop_requested = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        suite.start()
        health = suite.wait_ready(stop=lambda: stop_requested)
        print(f"suite ready: {health}")
        print(f"gateway {suite.gateway_url}  logs {var / 'logs'}  traces: make trace  stop: Ctrl-C")
        suite.supervisor.run_until(lambda: stop_requested)
    except InterruptedError:
        pass
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
