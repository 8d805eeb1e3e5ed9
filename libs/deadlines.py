"""Deadline propagation: an outgoing call never outlives the call that caused it.

The server interceptor records the incoming call's deadline; clients derive their timeout from it:
remaining time minus a margin for the reply's way back, capped by the configured default.
"""

from __future__ import annotations

import contextvars
import time

from libs import config
from libs.errors import DeadlineExceeded

# Time kept back for the answer to travel up the chain after a downstream call returns.
MARGIN_SECONDS = 0.05

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("shop_deadline", default=None)


def set_deadline_in(seconds: float | None) -> contextvars.Token[float | None]:
    """Records that the current call must finish within ``seconds`` (None: no deadline)."""
    return _deadline.set(None if seconds is None else time.monotonic() + seconds)


def reset_deadline(token: contextvars.Token[float | None]) -> None:
    _deadline.reset(token)


def remaining() -> float | None:
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def outgoing_timeout(default: float | None = None) -> float:
    """Timeout for a downstream call now: min(default, remaining - margin); DeadlineExceeded if none is left."""
    cap = config.call_timeout_seconds() if default is None else default
    left = remaining()
    if left is None:
        return cap
    budget = left - MARGIN_SECONDS
    if budget <= 0:
        raise DeadlineExceeded("deadline: no time left for a downstream call", reason="DEADLINE_SPENT")
    return min(cap, budget)
