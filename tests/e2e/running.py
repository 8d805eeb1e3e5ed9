"""The suite as `make run` runs it (``python -m libs.suite``), on free ports and a folder of the test's own,
with handles to its supervised processes (read from the supervisor's state file) and its databases."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from libs.config import SERVICE_PORTS
from libs.supervisor import read_state
from tests.conftest import REPO, token_for
from tests.ports import free_port

ADDRESS = {
    "recipient": "Wang Fang", "phone": "13812345678", "province": "Zhejiang", "city": "Hangzhou",
    "district": "Xihu", "street": "18 Longjing Road",
}  # fmt: skip


def headers(role: str, user: str = "tester") -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(role, user)}"}


@dataclass
class SuiteProcess:
    launcher: subprocess.Popen[bytes]
    var: Path
    env: dict[str, str]
    ports: dict[str, int]
    output: Path
    children: list[psutil.Process] = field(default_factory=list)

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    @property
    def nats_url(self) -> str:
        return self.env.get("SHOP_NATS_URL") or f"nats://127.0.0.1:{self.ports['nats']}"

    def state(self) -> dict[str, Any]:
        return (read_state(self.var / "run" / "supervisor.json") or {}).get("processes", {})

    def pid(self, name: str) -> int | None:
        pid = self.state().get(name, {}).get("pid")
        return int(pid) if pid else None

    def restarts(self, name: str) -> int:
        return int(self.state().get(name, {}).get("restarts", 0))

    def kill(self, name: str, sig: int = signal.SIGKILL) -> int:
        pid = self.pid(name)
        assert pid is not None, f"{name} is not running: {self.state().get(name)}"
        os.kill(pid, sig)
        return pid

    def wait_restarted(self, name: str, old_pid: int, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = self.state().get(name, {})
            if info.get("state") == "running" and info.get("pid") not in (None, old_pid):
                return int(info["pid"])
            time.sleep(0.1)
        raise AssertionError(f"{name} was not restarted: {self.state().get(name)}\n{self.log_tail(name)}")

    def wait_healthy(self, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                reply = httpx.get(self.gateway + "/healthz", timeout=2)
                last = reply.text
                if reply.status_code == 200:
                    body: dict[str, Any] = reply.json()
                    return body
            except httpx.HTTPError as err:
                last = repr(err)
            time.sleep(0.2)
        raise AssertionError(f"suite not healthy within {timeout} s: {last}")

    def db_url(self, service: str) -> str:
        return f"postgresql://postgres@/shop_{service}?host={self.var / 'pgdata'}"

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.var / "logs" / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else f"(no {path})"

    def stop(self) -> int:
        if self.launcher.poll() is None:
            self.launcher.send_signal(signal.SIGTERM)
            try:
                return self.launcher.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.launcher.kill()
        return self.launcher.wait()


def start_suite(var: Path, *, extra_env: dict[str, str] | None = None, timeout: float = 90) -> SuiteProcess:
    """Starts ``python -m libs.suite`` on ``var`` and waits until every service is SERVING."""
    var.mkdir(parents=True, exist_ok=True)
    os.chmod(var, 0o755)  # the embedded PostgreSQL runs as an unprivileged user under root
    ports = {name: free_port() for name in [*SERVICE_PORTS, "gateway", "nats"]}
    env = {
        **os.environ,
        "SHOP_VAR_DIR": str(var),
        "SHOP_GATEWAY_PORT": str(ports["gateway"]),
        "SHOP_NATS_PORT": str(ports["nats"]),
        "SHOP_GRACE_SECONDS": "2",
        **{f"SHOP_{name.upper()}_PORT": str(ports[name]) for name in SERVICE_PORTS},
    }
    for name in SERVICE_PORTS:
        env.pop(f"SHOP_{name.upper()}_DATABASE_URL", None)
        env.pop(f"SHOP_{name.upper()}_TARGET", None)
    for key in ("OTEL_EXPORTER_OTLP_ENDPOINT", "SHOP_NATS_URL"):
        env.pop(key, None)
    env.update(extra_env or {})
    output = var.parent / f"{var.name}-launcher.out"
    with output.open("ab") as out:
        launcher = subprocess.Popen(
            [sys.executable, "-m", "libs.suite"], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    running = SuiteProcess(launcher, var, env, ports, output)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if launcher.poll() is not None:
                raise AssertionError(f"the suite exited ({launcher.returncode}):\n{output.read_text()}")
            try:
                if httpx.get(running.gateway + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                logs = "\n".join(
                    f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}"
                    for p in sorted((var / "logs").glob("*.log"))
                )
                raise AssertionError(f"suite not ready within {timeout} s:\n{output.read_text()}\n{logs}")
            time.sleep(0.25)
    except BaseException:
        running.stop()
        raise
    running.children = psutil.Process(launcher.pid).children(recursive=True)
    return running


class Shop:
    """The gateway as the README's walkthroughs use it, for the end-to-end tests."""

    def __init__(self, gateway: str) -> None:
        self.http = httpx.Client(base_url=gateway, timeout=30)
        self.keeper = headers("stock_keeper", "keeper-1")
        self.boss = headers("warehouse_supervisor", "boss-1")
        self.shop = headers("integrator", "tmall-shop")
        self.lead = headers("supervisor", "lead-1")

    def ok(self, response: httpx.Response) -> Any:
        assert response.status_code < 300, (
            f"{response.request.method} {response.request.url}: {response.text}"
        )
        return response.json()

    def sku(self, sku_code: str) -> None:
        body = {
            "request_id": f"sku-{sku_code}", "sku_code": sku_code, "style_number": sku_code, "colour": "green",
            "size": "100g", "name": f"Tea {sku_code}", "category": "tea", "barcode": f"BC-{sku_code}",
        }  # fmt: skip
        self.ok(self.http.post("/v1/inventory/skus", json=body, headers=self.keeper))

    def receive(self, sku_code: str, quantity: int, request_id: str) -> httpx.Response:
        body = {"request_id": request_id, "sku_code": sku_code, "quantity": quantity}
        response = self.http.post("/v1/inventory/stock-receipts", json=body, headers=self.keeper)
        self.ok(response)
        return response

    def order(self, channel_order_id: str, sku_code: str, quantity: int) -> str:
        body = {
            "channel": "tmall", "channel_order_id": channel_order_id, "shop_code": "tmall-flagship",
            "buyer_id": "b-1", "address": ADDRESS,
            "lines": [{"sku_code": sku_code, "quantity": quantity, "unit_price_fen": 1000}],
            "payment": {"amount_fen": 1000 * quantity, "paid_at": "2026-11-23T08:00:00Z", "reference": channel_order_id},
        }  # fmt: skip
        return str(self.ok(self.http.post("/v1/orders", json=body, headers=self.shop))["order_id"])

    def review(self, *order_ids: str) -> list[dict[str, Any]]:
        reply = self.ok(
            self.http.post("/v1/order-reviews", json={"order_ids": list(order_ids)}, headers=self.lead)
        )
        return list(reply)

    def get_order(self, order_id: str) -> dict[str, Any]:
        return dict(self.ok(self.http.get(f"/v1/orders/{order_id}", headers=self.lead)))

    def wait_order(self, order_id: str, status: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        order = self.get_order(order_id)
        while order["status"] != status and time.monotonic() < deadline:
            time.sleep(0.2)
            order = self.get_order(order_id)
        assert order["status"] == status, order
        return order


def undelivered(suite: SuiteProcess) -> dict[str, int]:
    """Outbox rows not yet acknowledged by the broker, per service."""
    import psycopg

    out = {}
    for service in SERVICE_PORTS:
        with psycopg.connect(suite.db_url(service)) as conn:
            row = conn.execute("SELECT count(*) FROM outbox WHERE delivered_at IS NULL").fetchone()
            out[service] = int(row[0]) if row else 0
    return out


def wait_outboxes_drained(suite: SuiteProcess, timeout: float = 30) -> float:
    """Waits until no service's outbox holds an undelivered row; returns how long it took."""
    started = time.monotonic()
    left = undelivered(suite)
    while any(left.values()) and time.monotonic() - started < timeout:
        time.sleep(0.2)
        left = undelivered(suite)
    assert not any(left.values()), f"undelivered after {timeout} s: {left}"
    return time.monotonic() - started


def wait_consumed(suite: SuiteProcess, timeout: float = 30) -> None:
    """Waits until every consumer has applied every event published for it (inbox rows = events)."""
    import psycopg

    from libs.events import catalogue

    def behind() -> dict[str, tuple[int, int]]:
        published: dict[str, int] = {}
        for publisher in catalogue().publishers():
            with psycopg.connect(suite.db_url(publisher)) as conn:
                for subject, count in conn.execute(
                    "SELECT topic, count(*) FROM outbox GROUP BY topic"
                ).fetchall():
                    published[subject] = int(count)
        lagging = {}
        for service in SERVICE_PORTS:
            expected = sum(published.get(e.subject, 0) for e in catalogue().consumed_by(service))
            with psycopg.connect(suite.db_url(service)) as conn:
                row = conn.execute("SELECT count(*) FROM inbox").fetchone()
            applied = int(row[0]) if row else 0
            if applied != expected:
                lagging[service] = (applied, expected)
        return lagging

    deadline = time.monotonic() + timeout
    while (lagging := behind()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not lagging, f"consumers behind after {timeout} s (applied, published): {lagging}"
