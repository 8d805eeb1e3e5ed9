"""Configuration from the environment, with defaults that make a local run work out of the box.

Every setting is read here and nowhere else. Names are ``SHOP_<SERVICE>_<SETTING>`` for per-service
settings and ``SHOP_<SETTING>`` for suite-wide ones; standard OpenTelemetry variables keep their names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from libs.errors import InvalidArgument

#: The five services and the port each listens on by default (gRPC). Below Linux's ephemeral range
#: (32768-60999): when every process shares one machine, as in `make run`, an outgoing connection of one
#: of them could otherwise hold a service's port while that service restarts. The container image sets
#: the conventional 50051-50055 instead (each container has its own network namespace).
SERVICE_PORTS: dict[str, int] = {
    "inventory": 17051,
    "orders": 17052,
    "logistics": 17053,
    "returns": 17054,
    "payroll": 17055,
}
GATEWAY_PORT = 8080

# A development-only key; any deployment sets SHOP_JWT_SECRET. Long enough for HS256 (RFC 7518 §3.2).
DEV_JWT_SECRET = "dev-only-secret-change-me-in-every-deployment-0123456789"

REPO_ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def _env_int(name: str, default: int) -> int:
    raw = _env(name, str(default))
    try:
        return int(raw)
    except ValueError:
        raise InvalidArgument.for_field(name, f"must be an integer, got {raw!r}") from None


def _env_float(name: str, default: float) -> float:
    raw = _env(name, str(default))
    try:
        return float(raw)
    except ValueError:
        raise InvalidArgument.for_field(name, f"must be a number, got {raw!r}") from None


def _env_port(name: str, default: int) -> int:
    port = _env_int(name, default)
    if not 0 <= port <= 65535:
        raise InvalidArgument.for_field(name, f"must be a TCP port (0-65535), got {port}")
    return port


@dataclass(frozen=True)
class ServiceConfig:
    """Settings of one gRPC service process."""

    name: str
    host: str
    port: int
    database_url: str
    grace_seconds: float
    max_message_bytes: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def service_config(name: str) -> ServiceConfig:
    """Reads the settings of service ``name`` (one of SERVICE_PORTS) from the environment."""
    if name not in SERVICE_PORTS:
        raise InvalidArgument.for_field("service", f"unknown service {name!r}")
    prefix = f"SHOP_{name.upper()}_"
    return ServiceConfig(
        name=name,
        host=_env(prefix + "HOST", "127.0.0.1"),
        port=_env_port(prefix + "PORT", SERVICE_PORTS[name]),
        database_url=_env(prefix + "DATABASE_URL", ""),
        grace_seconds=grace_seconds(),
        max_message_bytes=max_message_bytes(),
    )


def service_target(name: str) -> str:
    """The address a client dials to reach service ``name``: ``SHOP_<NAME>_TARGET`` or its local default."""
    cfg = service_config(name)
    return _env(f"SHOP_{name.upper()}_TARGET", f"127.0.0.1:{cfg.port}")


def gateway_port() -> int:
    return _env_port("SHOP_GATEWAY_PORT", GATEWAY_PORT)


def gateway_host() -> str:
    return _env("SHOP_GATEWAY_HOST", "127.0.0.1")


def grace_seconds() -> float:
    """How long a stopping process lets calls in flight finish."""
    return _env_float("SHOP_GRACE_SECONDS", 5.0)


def max_message_bytes() -> int:
    return _env_int("SHOP_MAX_MESSAGE_BYTES", 4 * 1024 * 1024)


def jwt_secret() -> str:
    return _env("SHOP_JWT_SECRET", DEV_JWT_SECRET)


def call_timeout_seconds() -> float:
    """Deadline of an outgoing call when no incoming deadline bounds it."""
    return _env_float("SHOP_CALL_TIMEOUT_SECONDS", 5.0)


def wave_close_grace_seconds() -> float:
    """How long after its cut-off a wave is closed (LOG-1): releases just before it are still in flight."""
    return _env_float("SHOP_WAVE_CLOSE_GRACE_SECONDS", 60.0)


def wave_scheduler_seconds() -> float:
    """How often the logistics service looks for waves due to close."""
    return _env_float("SHOP_WAVE_SCHEDULER_SECONDS", 5.0)


def overdue_sweeper_seconds() -> float:
    """How often the logistics service looks for parcels past their carrier's promise (LOG-6)."""
    return _env_float("SHOP_OVERDUE_SWEEPER_SECONDS", 60.0)


def auto_review_batch() -> int:
    """Orders the orders service reviews automatically per batch as they are paid (ORD-2, at most 200 by
    ORD-3); 0 turns automatic review off, leaving every review to supervisors."""
    size = _env_int("SHOP_ORDERS_AUTO_REVIEW_BATCH", 200)
    if not 0 <= size <= 200:
        raise InvalidArgument.for_field(
            "SHOP_ORDERS_AUTO_REVIEW_BATCH", f"must be 0 (off) to 200 (ORD-3), got {size}"
        )
    return size


def var_dir() -> Path:
    """Where a local run keeps logs, spans and the embedded database."""
    return Path(_env("SHOP_VAR_DIR", str(REPO_ROOT / "var")))


def span_dir() -> Path:
    return Path(_env("SHOP_SPAN_DIR", str(var_dir() / "spans")))


def otlp_endpoint() -> str:
    return _env("OTEL_EXPORTER_OTLP_ENDPOINT", "")


def trace_sample_ratio() -> float:
    """The share of flows whose spans are all kept, decided at each flow's first span (parent-based);
    failed and slow flows are kept whatever it is (``libs.sampling``)."""
    ratio = _env_float("SHOP_TRACE_SAMPLE_RATIO", 0.1)
    if not 0.0 <= ratio <= 1.0:
        raise InvalidArgument.for_field("SHOP_TRACE_SAMPLE_RATIO", f"must be 0 to 1, got {ratio}")
    return ratio


def trace_slow_ms() -> float:
    """A process's part of a flow that takes this long or longer is kept though not sampled."""
    slow = _env_float("SHOP_TRACE_SLOW_MS", 500.0)
    if slow <= 0:
        raise InvalidArgument.for_field("SHOP_TRACE_SLOW_MS", f"must be above 0, got {slow}")
    return slow


def log_level() -> str:
    return _env("SHOP_LOG_LEVEL", "INFO").upper()


# --- the event bus (NATS JetStream) -------------------------------------------------------------------

NATS_PORT = 4222


def nats_url() -> str:
    """Where the event bus is: ``SHOP_NATS_URL`` (several servers comma-separated), else the local one."""
    return _env("SHOP_NATS_URL", f"nats://127.0.0.1:{nats_port()}")


def nats_port() -> int:
    """The port of the embedded run's own NATS server."""
    return _env_port("SHOP_NATS_PORT", NATS_PORT)


def event_replicas() -> int:
    """How many JetStream servers keep a copy of each stream: 1 for one server, 3 for a cluster."""
    replicas = _env_int("SHOP_EVENT_REPLICAS", 1)
    if replicas not in (1, 3, 5):
        raise InvalidArgument.for_field("SHOP_EVENT_REPLICAS", f"must be 1, 3 or 5, got {replicas}")
    return replicas


@dataclass(frozen=True)
class EventSettings:
    """How events are kept, delivered and retried. The inbox outlives the stream, so no event can ever be
    delivered again once its inbox row is pruned: that is what keeps pruning from breaking exactly-once."""

    stream_max_age_days: float
    duplicate_window_seconds: float
    max_attempts: int
    ack_wait_seconds: float
    outbox_retention_hours: float
    inbox_retention_days: float


def event_settings() -> EventSettings:
    settings = EventSettings(
        stream_max_age_days=_env_float("SHOP_EVENT_MAX_AGE_DAYS", 7.0),
        duplicate_window_seconds=_env_float("SHOP_EVENT_DUPLICATE_WINDOW_SECONDS", 600.0),
        max_attempts=_env_int("SHOP_EVENT_MAX_ATTEMPTS", 6),
        ack_wait_seconds=_env_float("SHOP_EVENT_ACK_WAIT_SECONDS", 30.0),
        outbox_retention_hours=_env_float("SHOP_OUTBOX_RETENTION_HOURS", 24.0),
        inbox_retention_days=_env_float("SHOP_INBOX_RETENTION_DAYS", 14.0),
    )
    if settings.max_attempts < 1:
        raise InvalidArgument.for_field("SHOP_EVENT_MAX_ATTEMPTS", "must be at least 1")
    if settings.ack_wait_seconds <= 0:
        raise InvalidArgument.for_field("SHOP_EVENT_ACK_WAIT_SECONDS", "must be more than 0")
    if settings.inbox_retention_days <= settings.stream_max_age_days:
        raise InvalidArgument.for_field(
            "SHOP_INBOX_RETENTION_DAYS",
            f"must be longer than the stream keeps events (SHOP_EVENT_MAX_AGE_DAYS={settings.stream_max_age_days:g})",
        )
    if settings.duplicate_window_seconds > settings.stream_max_age_days * 86400:
        raise InvalidArgument.for_field(
            "SHOP_EVENT_DUPLICATE_WINDOW_SECONDS", "must not be longer than the stream keeps events"
        )
    return settings
