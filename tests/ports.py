"""Ports for the servers tests and benchmarks start (a module of its own: importing the test fixtures would
also set their environment, such as keeping every trace)."""

from __future__ import annotations

import random
import socket


def free_port() -> int:
    """A free port below Linux's ephemeral range (32768-60999), so that no outgoing connection can take it
    while a test restarts the process that listens on it."""
    while True:
        port = random.randrange(20000, 32000)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            _handed_out.add(port)
            return port


_handed_out: set[int] = set()
