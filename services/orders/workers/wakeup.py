"""How the orders process's workers rest between passes: until woken, stopped, or the poll comes round."""

from __future__ import annotations

import asyncio
import contextlib


async def rest(wakeup: asyncio.Event, stop: asyncio.Event, poll_seconds: float) -> None:
    """Returns when ``wakeup`` or ``stop`` is set, or after ``poll_seconds`` (work from other replicas)."""
    stopper = asyncio.ensure_future(stop.wait())
    woken = asyncio.ensure_future(wakeup.wait())
    with contextlib.suppress(TimeoutError):
        await asyncio.wait({stopper, woken}, timeout=poll_seconds, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    woken.cancel()
