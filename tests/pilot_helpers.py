"""Helpers the Pilot tests share (imported by the test modules, which pytest puts on sys.path)."""

from __future__ import annotations

import time


async def until(pilot, condition, timeout: float = 60.0) -> None:
    """Process messages until `condition()` holds (a deadline, not a sleep, bounds it)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause()
