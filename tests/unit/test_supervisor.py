"""The process supervisor with real child processes: restarts and back-off, ordered stop, readiness, the
state file, and no orphans when the supervisor itself is killed."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pwd
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import pytest

from libs.supervisor import ProcessSpec, Supervisor, describe_exit, read_state

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 10.0  # generous: the machine may be busy
SLEEP = "import time; time.sleep(60)"
# Records which signal stopped it (in the file argv[1], as argv[2]) and says "ready" once it listens.
RECORD_STOP = """
import signal, sys, time
def stop(signum, frame):
    with open(sys.argv[1], "a") as out:
        out.write(f"{sys.argv[2]} {signal.Signals(signum).name}\\n")
    sys.exit(0)
signal.signal(signal.SIGINT, stop)
signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
time.sleep(60)
"""
IGNORE_TERM = """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
time.sleep(60)
"""
# Crashes on its first three runs (counted in the file argv[1]), then keeps running.
CRASH_THRICE = """
import pathlib, sys, time
runs = pathlib.Path(sys.argv[1])
n = int(runs.read_text()) if runs.exists() else 0
runs.write_text(str(n + 1))
sys.exit(1) if n < 3 else time.sleep(60)
"""
# A supervisor in its own process: runs `sleep 60` (as argv[2] when given) and prints the child's pid.
SUPERVISOR = """
import shutil, sys, time
from pathlib import Path
from libs.supervisor import ProcessSpec, Supervisor
sup = Supervisor(log=lambda line: print(line, file=sys.stderr))
sup.add(ProcessSpec(name="child", argv=[shutil.which("sleep"), "60"], env={}, cwd=Path("/"),
                    log_path=Path(sys.argv[1]), user=sys.argv[2] or None))
sup.start("child")
print(sup.pid("child"), flush=True)
time.sleep(60)
"""


class Recorder:
    """Collects the supervisor's log lines with the time each was written."""

    def __init__(self) -> None:
        self.entries: list[tuple[float, str]] = []

    def __call__(self, line: str) -> None:
        self.entries.append((time.monotonic(), line))

    @property
    def lines(self) -> list[str]:
        return [line for _, line in self.entries]


@pytest.fixture
def log() -> Recorder:
    return Recorder()


@pytest.fixture
def make(log: Recorder) -> Iterator[Callable[..., Supervisor]]:
    """Builds supervisors with tiny back-off values and stops them all after the test."""
    made: list[Supervisor] = []

    def factory(**kwargs: Any) -> Supervisor:
        kwargs = {"backoff_initial": 0.05, "backoff_max": 1.0, "stable_after": 30.0, **kwargs}
        made.append(Supervisor(log=log, **kwargs))
        return made[-1]

    yield factory
    for sup in made:
        sup.stop_all()


def python(tmp_path: Path, name: str, code: str = SLEEP, *args: str, **kwargs: Any) -> ProcessSpec:
    return ProcessSpec(
        name=name,
        argv=[sys.executable, "-c", code, *args],
        env=dict(os.environ),
        cwd=tmp_path,
        log_path=tmp_path / "logs" / f"{name}.log",
        **kwargs,
    )


def printed(path: Path, word: str) -> Callable[[], bool]:
    return lambda: path.exists() and word in path.read_text()


def wait_for(sup: Supervisor, condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    sup.run_until(lambda: condition() or time.monotonic() > deadline, interval=0.02)
    assert condition(), f"not reached within {timeout} s: {sup.status()}"


def gone(pid: int) -> bool:
    """Ended: no such process, or a zombie nobody reaped yet (PID 1 of a container may not reap)."""
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def test_a_killed_child_is_restarted_with_a_new_pid_counted_and_logged(make, log, tmp_path):
    sup = make()
    sup.add(python(tmp_path, "worker"))
    sup.start("worker")
    old = sup.pid("worker")
    assert old is not None and sup.status()["worker"].state == "running"

    os.kill(old, signal.SIGKILL)
    wait_for(sup, lambda: sup.status()["worker"].restarts == 1 and sup.status()["worker"].state == "running")

    status = sup.status()["worker"]
    assert status.pid not in (None, old) and psutil.Process(status.pid).is_running()
    assert (status.restarts, status.last_exit) == (1, "killed by SIGKILL")
    assert "worker exited (killed by SIGKILL); restart 1 in 0.05 s" in log.lines
    assert f"worker started (pid {status.pid})" in log.lines


def test_consecutive_crashes_back_off_doubling_up_to_the_cap(make, log, tmp_path):
    sup = make(backoff_initial=0.05, backoff_max=0.2)
    sup.add(python(tmp_path, "crasher", "import sys; sys.exit(3)"))
    sup.start("crasher", wait_ready=False)
    wait_for(sup, lambda: sup.status()["crasher"].restarts >= 5)

    pattern = re.compile(r"crasher exited \(exit code 3\); restart (\d+) in ([\d.]+) s")
    crashes = [(t, m) for t, line in log.entries if (m := pattern.fullmatch(line))]
    assert [int(m[1]) for _, m in crashes[:5]] == [1, 2, 3, 4, 5]
    assert [float(m[2]) for _, m in crashes[:5]] == pytest.approx([0.05, 0.1, 0.2, 0.2, 0.2])
    starts = [t for t, line in log.entries if line.startswith("crasher started")]
    for (crashed_at, m), restarted_at in zip(crashes[:5], starts[1:], strict=False):
        assert restarted_at - crashed_at >= float(m[2]) - 0.01  # the delay is really waited
    assert sup.status()["crasher"].last_exit == "exit code 3"


def test_a_stable_run_starts_the_back_off_over(make, log, tmp_path):
    sup = make(backoff_initial=0.05, backoff_max=5.0, stable_after=1.0)
    sup.add(python(tmp_path, "flaky", CRASH_THRICE, str(tmp_path / "runs")))
    sup.start("flaky", wait_ready=False)

    def stable() -> bool:
        status = sup.status()["flaky"]
        return status.state == "running" and status.restarts == 3 and time.time() - status.started_at > 1.2

    wait_for(sup, stable)
    pid = sup.pid("flaky")
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_for(sup, lambda: sup.status()["flaky"].restarts == 4)

    delays = [float(m[1]) for line in log.lines if (m := re.search(r"flaky exited .* in ([\d.]+) s", line))]
    assert delays == pytest.approx([0.05, 0.1, 0.2, 0.05])  # 0.4 without the stable run


def test_stop_all_stops_in_reverse_order_with_each_stop_signal(make, log, tmp_path):
    order = tmp_path / "order"
    sup = make()
    for name, stop_signal in [("db", signal.SIGINT), ("api", signal.SIGTERM), ("gateway", signal.SIGTERM)]:
        spec = python(tmp_path, name, RECORD_STOP, str(order), name, stop_signal=stop_signal)
        sup.add(dataclasses.replace(spec, ready=printed(spec.log_path, "ready")))
        sup.start(name)
        assert sup.status()[name].state == "running"
    pids = [sup.pid(name) for name in ("db", "api", "gateway")]

    sup.stop_all()

    assert order.read_text().splitlines() == ["gateway SIGTERM", "api SIGTERM", "db SIGINT"]
    for status in sup.status().values():
        assert (status.state, status.pid, status.last_exit) == ("stopped", None, "exit code 0")
    assert all(pid is not None and gone(pid) for pid in pids)
    assert f"stopping gateway (pid {pids[2]})" in log.lines


def test_stop_all_kills_a_child_that_ignores_its_stop_signal(make, log, tmp_path):
    sup = make()
    spec = python(tmp_path, "stubborn", IGNORE_TERM, stop_timeout=0.3)
    sup.add(dataclasses.replace(spec, ready=printed(spec.log_path, "ready")))
    sup.start("stubborn")
    pid = sup.pid("stubborn")
    assert pid is not None

    began = time.monotonic()
    sup.stop_all()

    assert time.monotonic() - began < TIMEOUT
    assert sup.status()["stubborn"].last_exit == "killed by SIGKILL"
    assert "stubborn did not stop within 0.3 s; killing it" in log.lines
    assert gone(pid)


def test_nothing_restarts_after_stop_all(make, log, tmp_path):
    sup = make(backoff_initial=0.2)
    sup.add(python(tmp_path, "steady"))
    sup.add(python(tmp_path, "crasher", "import sys; sys.exit(1)"))
    sup.start("steady")
    sup.start("crasher", wait_ready=False)
    wait_for(sup, lambda: sup.status()["crasher"].state == "backoff")

    sup.stop_all()
    logged = len(log.lines)
    deadline = time.monotonic() + 0.5  # past the crasher's back-off
    sup.run_until(lambda: time.monotonic() > deadline, interval=0.02)
    sup.stop_all()

    assert len(log.lines) == logged
    for status in sup.status().values():
        assert (status.state, status.pid, status.restarts) == ("stopped", None, 0)
    with pytest.raises(RuntimeError, match="stopped"):
        sup.start("steady")


def test_start_raises_timeout_error_when_never_ready(make, tmp_path):
    sup = make()
    spec = python(tmp_path, "slow", ready=lambda: False, ready_timeout=0.3)
    sup.add(spec)
    with pytest.raises(TimeoutError, match=r"slow not ready after 0\.3 s") as raised:
        sup.start("slow")
    assert str(spec.log_path) in str(raised.value)
    assert sup.status()["slow"].state == "starting"


def test_start_raises_runtime_error_when_the_child_exits_while_starting(make, tmp_path):
    sup = make()

    def broken_check() -> bool:
        raise ConnectionRefusedError  # counts as not ready

    sup.add(python(tmp_path, "broken", "import sys; sys.exit(2)", ready=broken_check))
    with pytest.raises(RuntimeError, match=r"broken exited \(exit code 2\) while starting"):
        sup.start("broken")
    sup.poll()
    status = sup.status()["broken"]
    assert (status.state, status.restarts, status.last_exit) == ("stopped", 0, "exit code 2")


def test_the_state_file_shows_states_and_restart_counts(make, tmp_path):
    state_file = tmp_path / "run" / "supervisor.json"
    sup = make(state_file=state_file)
    sup.add(python(tmp_path, "worker"))
    sup.add(python(tmp_path, "idle"))
    sup.start("worker")
    first = sup.pid("worker")
    assert first is not None
    os.kill(first, signal.SIGKILL)
    wait_for(sup, lambda: sup.status()["worker"].restarts == 1 and sup.status()["worker"].state == "running")

    doc = read_state(state_file)
    assert doc is not None and doc["supervisor_pid"] == os.getpid()
    assert datetime.fromisoformat(doc["updated_at"]).utcoffset() == timedelta(0)
    worker = doc["processes"]["worker"]
    assert {k: worker[k] for k in ("state", "pid", "restarts", "last_exit")} == {
        "state": "running",
        "pid": sup.pid("worker"),
        "restarts": 1,
        "last_exit": "killed by SIGKILL",
    }
    assert abs(datetime.fromisoformat(worker["started_at"]).timestamp() - time.time()) < 60
    assert doc["processes"]["idle"] == {
        "state": "stopped",
        "pid": None,
        "restarts": 0,
        "last_exit": None,
        "started_at": None,
    }
    assert list(state_file.parent.iterdir()) == [state_file]  # no temporary file left behind
    assert state_file.stat().st_mode & 0o777 == 0o644

    sup.stop_all()
    final = read_state(state_file)
    assert final is not None and final["processes"]["worker"]["state"] == "stopped"


def test_read_state_tolerates_a_missing_or_half_written_file(tmp_path):
    assert read_state(tmp_path / "missing.json") is None
    (tmp_path / "half.json").write_text('{"processes": {"worker": {"sta')
    assert read_state(tmp_path / "half.json") is None
    (tmp_path / "list.json").write_text("[]")
    assert read_state(tmp_path / "list.json") is None


@pytest.mark.parametrize(
    "returncode, text",
    [(0, "exit code 0"), (1, "exit code 1"), (-9, "killed by SIGKILL"), (-15, "killed by SIGTERM")],
)
def test_describe_exit(returncode, text):
    assert describe_exit(returncode) == text


@pytest.mark.parametrize(
    "user",
    [
        None,
        pytest.param(
            "nobody", marks=pytest.mark.skipif(os.geteuid() != 0, reason="changing the user needs root")
        ),
    ],
)
def test_children_die_when_the_supervisor_is_killed(tmp_path, user):
    # As another user, this also proves the parent-death signal survives Popen's uid change.
    supervisor = subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR, str(tmp_path / "child.log"), user or ""],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    child_pid = None
    try:
        assert supervisor.stdout is not None
        child_pid = int(supervisor.stdout.readline())
        child = psutil.Process(child_pid)
        assert child.ppid() == supervisor.pid
        if user is not None:
            entry = pwd.getpwnam(user)
            assert (child.uids().real, child.uids().effective) == (entry.pw_uid, entry.pw_uid)
            assert (child.gids().real, child.gids().effective) == (entry.pw_gid, entry.pw_gid)
            groups = Path(f"/proc/{child_pid}/status").read_text().split("Groups:")[1].splitlines()[0]
            assert groups.split() == []  # root's supplementary groups are dropped

        supervisor.kill()
        supervisor.wait(timeout=TIMEOUT)
        deadline = time.monotonic() + TIMEOUT
        while not gone(child_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gone(child_pid), "the child outlived its supervisor"
    finally:
        supervisor.kill()
        supervisor.wait()
        if child_pid is not None and not gone(child_pid):
            with contextlib.suppress(OSError):
                os.kill(child_pid, signal.SIGKILL)
