"""Supervised child processes: restarted with back-off when they die, stopped in order on request.

A :class:`Supervisor` runs each :class:`ProcessSpec` as a child in its own session, its output appended to
``log_path``. ``poll()`` reaps children that died and starts them again after a back-off that doubles on
each consecutive crash, from ``backoff_initial`` up to ``backoff_max``, and starts over at
``backoff_initial`` after a run of at least ``stable_after`` seconds. Every change is written to an
optional JSON state file that other processes read with :func:`read_state`. ``stop_all()`` stops the
children in the reverse of the order they were added.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import functools
import json
import os
import pwd
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_PR_SET_PDEATHSIG = 1
try:
    # Looked up in the parent: loading a library between fork and exec can deadlock.
    _LIBC: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
except (OSError, TypeError):
    _LIBC = None


def die_with_parent(parent_pid: int | None = None) -> None:
    """In the child (as ``preexec_fn``): get SIGTERM if the launcher dies, so it leaves no orphans (Linux).

    Popen changes the uid before calling ``preexec_fn``; a later uid change would clear the setting.
    """
    with contextlib.suppress(OSError, AttributeError):
        if _LIBC is not None:
            _LIBC.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)  # the launcher died before prctl: no signal would ever come


def describe_exit(returncode: int) -> str:
    """``"exit code 1"`` or, for a negative return code, ``"killed by SIGKILL"``."""
    if returncode >= 0:
        return f"exit code {returncode}"
    try:
        return f"killed by {signal.Signals(-returncode).name}"
    except ValueError:
        return f"killed by signal {-returncode}"


def read_state(path: Path) -> dict[str, Any] | None:
    """The content of a supervisor's state file, or None when it is missing, unreadable or not valid JSON."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _rfc3339(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class ProcessSpec:
    """How to run one supervised process."""

    name: str
    argv: Sequence[str]  # argv[0] is the executable
    env: Mapping[str, str]
    cwd: Path
    log_path: Path  # stdout and stderr, appended on every start
    user: str | None = None  # when root, run as this system user (its primary group, no other groups)
    stop_signal: int = signal.SIGTERM
    stop_timeout: float = 10.0  # then SIGKILL
    # Polled by start() and poll(), so it should answer quickly; None: ready once spawned; raising: not yet.
    ready: Callable[[], bool] | None = None
    ready_timeout: float = 60.0


@dataclass
class ProcessStatus:
    """What callers and the state file see of one process."""

    name: str
    state: str  # "starting" | "running" | "backoff" | "stopped"
    pid: int | None = None
    restarts: int = 0
    last_exit: str | None = None  # "exit code 1", "killed by SIGKILL", ...
    started_at: float | None = None  # time.time() of the last start


@dataclass
class _Child:
    spec: ProcessSpec
    status: ProcessStatus
    delay: float  # back-off before the next restart
    proc: subprocess.Popen[bytes] | None = None
    spawned: float = 0.0  # time.monotonic() of the last start
    restart_at: float | None = None  # time.monotonic() when a restart is due
    ready_warned: bool = False


class Supervisor:
    """Starts, restarts and stops child processes. Use it from one long-lived thread: Linux sends the
    parent-death signal when the thread that spawned a child exits."""

    def __init__(
        self,
        *,
        state_file: Path | None = None,
        log: Callable[[str], None] = print,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        stable_after: float = 30.0,
    ) -> None:
        self._children: dict[str, _Child] = {}
        self._state_file = state_file
        self._log = log
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._stable_after = stable_after
        self._stopped = False

    def add(self, spec: ProcessSpec) -> None:
        """Registers ``spec`` (not started yet); processes stop in the reverse of the order they were added."""
        if spec.name in self._children:
            raise ValueError(f"{spec.name} is already supervised")
        self._children[spec.name] = _Child(spec, ProcessStatus(spec.name, "stopped"), self._backoff_initial)
        self._write_state()

    def start(self, name: str, *, wait_ready: bool = True) -> None:
        """Spawns ``name``; with ``wait_ready``, blocks until its ``ready`` check passes.

        Raises TimeoutError after ``ready_timeout`` (the process keeps running: ``stop_all`` stops it) and
        RuntimeError if it exits while starting (it is then not restarted).
        """
        if self._stopped:
            raise RuntimeError("the supervisor is stopped")
        child = self._children[name]
        if child.status.state in ("starting", "running"):
            raise RuntimeError(f"{name} is already started")
        self._spawn(child)
        deadline = time.monotonic() + child.spec.ready_timeout
        while wait_ready and child.proc is not None and child.status.state == "starting":
            if self._check_ready(child):
                return
            code = child.proc.poll()
            if code is not None:
                child.proc, child.status.pid, child.status.state = None, None, "stopped"
                child.status.last_exit = describe_exit(code)
                self._write_state()
                raise RuntimeError(
                    f"{name} exited ({child.status.last_exit}) while starting: see {child.spec.log_path}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{name} not ready after {child.spec.ready_timeout:g} s: see {child.spec.log_path}"
                )
            time.sleep(0.05)

    def poll(self) -> None:
        """Reaps children that died and schedules their restart, starts those whose back-off has passed and
        notes which became ready. Does not wait (beyond the ``ready`` checks)."""
        if self._stopped:
            return
        for child in self._children.values():
            if child.proc is not None:
                code = child.proc.poll()
                if code is not None:
                    self._crashed(child, f"exited ({describe_exit(code)})", describe_exit(code))
                elif child.status.state == "starting":
                    self._check_ready(child)
            elif child.restart_at is not None and time.monotonic() >= child.restart_at:
                child.status.restarts += 1
                try:
                    self._spawn(child)
                except (OSError, KeyError, subprocess.SubprocessError) as err:
                    self._crashed(child, f"could not start ({err})", f"could not start: {err}")

    def run_until(self, stop: Callable[[], bool], interval: float = 0.2) -> None:
        """Calls ``poll()`` every ``interval`` seconds until ``stop()`` is true."""
        while not stop():
            self.poll()
            time.sleep(interval)

    def stop_all(self) -> None:
        """Stops every process in the reverse of the order they were added: its ``stop_signal``, then SIGKILL
        after ``stop_timeout``. Nothing restarts during or after; calling it again does nothing."""
        self._stopped = True
        for child in reversed(self._children.values()):
            proc, spec, status = child.proc, child.spec, child.status
            child.restart_at = None
            if proc is not None:
                if proc.poll() is None:
                    self._log(f"stopping {spec.name} (pid {proc.pid})")
                    proc.send_signal(spec.stop_signal)  # to the process only: e.g. PostgreSQL stops its own
                    try:
                        proc.wait(timeout=spec.stop_timeout)
                    except subprocess.TimeoutExpired:
                        self._log(f"{spec.name} did not stop within {spec.stop_timeout:g} s; killing it")
                        try:
                            os.killpg(proc.pid, signal.SIGKILL)  # its session too: leave no helpers behind
                        except OSError:
                            proc.kill()
                        proc.wait()
                    self._log(f"{spec.name} stopped ({describe_exit(proc.returncode)})")
                status.last_exit = describe_exit(proc.wait())
            if status.state != "stopped":
                child.proc, status.pid, status.state = None, None, "stopped"
                self._write_state()

    def status(self) -> dict[str, ProcessStatus]:
        """A copy of every process's status, in the order they were added."""
        return {name: dataclasses.replace(c.status) for name, c in self._children.items()}

    def pid(self, name: str) -> int | None:
        """The pid of ``name`` while it is starting or running, else None."""
        return self._children[name].status.pid

    def _spawn(self, child: _Child) -> None:
        spec, status = child.spec, child.status
        child.spawned, child.restart_at, child.ready_warned = time.monotonic(), None, False
        uid = gid = None
        if spec.user is not None and os.geteuid() == 0:
            entry = pwd.getpwnam(spec.user)
            uid, gid = entry.pw_uid, entry.pw_gid
        spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        with spec.log_path.open("ab") as out:
            child.proc = subprocess.Popen(
                list(spec.argv),
                env=dict(spec.env),
                cwd=spec.cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the supervisor only, which stops things in order
                preexec_fn=functools.partial(die_with_parent, os.getpid()),
                user=uid,
                group=gid,
                extra_groups=[] if uid is not None else None,  # drop root's supplementary groups
            )
        status.pid, status.started_at = child.proc.pid, time.time()
        status.state = "running" if spec.ready is None else "starting"
        self._log(f"{spec.name} started (pid {status.pid})")
        self._write_state()

    def _check_ready(self, child: _Child) -> bool:
        """Marks ``child`` running once its ready check passes; warns once when it takes too long."""
        try:
            ready = child.spec.ready is None or bool(child.spec.ready())
        except Exception:  # e.g. connection refused: not ready yet
            ready = False
        if ready:
            child.status.state = "running"
            self._write_state()
        elif not child.ready_warned and time.monotonic() - child.spawned > child.spec.ready_timeout:
            child.ready_warned = True
            self._log(
                f"{child.spec.name} not ready after {child.spec.ready_timeout:g} s: see {child.spec.log_path}"
            )
        return ready

    def _crashed(self, child: _Child, event: str, last_exit: str) -> None:
        """Records that ``child`` died and schedules its restart with back-off."""
        now = time.monotonic()
        if now - child.spawned >= self._stable_after:
            child.delay = self._backoff_initial  # it ran long enough: this crash is not a streak
        delay, child.delay = child.delay, min(child.delay * 2, self._backoff_max)
        child.proc, child.restart_at = None, now + delay
        status = child.status
        status.state, status.pid, status.last_exit = "backoff", None, last_exit
        self._log(f"{status.name} {event}; restart {status.restarts + 1} in {delay:g} s")
        self._write_state()

    def _write_state(self) -> None:
        """Replaces the state file atomically, so a reader never sees half of it."""
        if self._state_file is None:
            return
        doc = {
            "updated_at": _rfc3339(time.time()),
            "supervisor_pid": os.getpid(),
            "processes": {
                s.name: {
                    "state": s.state,
                    "pid": s.pid,
                    "restarts": s.restarts,
                    "last_exit": s.last_exit,
                    "started_at": _rfc3339(s.started_at),
                }
                for s in (c.status for c in self._children.values())
            },
        }
        folder = self._state_file.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{self._state_file.name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "w") as out:
                    os.fchmod(out.fileno(), 0o644)  # readable by a gateway running as another user
                    json.dump(doc, out)
                os.replace(tmp, self._state_file)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as err:
            self._log(f"cannot write {self._state_file}: {err}")
