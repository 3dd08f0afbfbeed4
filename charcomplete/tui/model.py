"""The model the editor asks: one Completer at a time, used by one thread at a time.

A Completer keeps incremental state and is not thread-safe. Every call goes through
`ModelHost.lock`; switching models swaps the reference on the UI thread, so the old model
serves until the new one is ready and a call in flight finishes on the model it started with.
"""

from __future__ import annotations

import threading


class ModelHost:
    def __init__(self, completer):
        self.completer = completer
        self.lock = threading.Lock()

    @property
    def label(self) -> str:
        c = self.completer
        return c.name if c.name == c.kind else f"{c.name} ({c.kind})"

    def swap(self, completer) -> None:
        """Use `completer` from the next call on (a call in flight finishes on the old one)."""
        self.completer = completer
