"""The model the editor asks: one Completer at a time, used by one thread at a time.

A Completer keeps incremental state and is not thread-safe. The editor's single model
thread (a long-lived thread worker) is the only caller; `lock` is held for each call, so
anything else (a test, a tool) can hold the model still. Requests go through a one-slot
mailbox: a new request replaces one not yet taken, so a burst of keys costs one model call
for the latest text, not one per key. Switching models swaps the reference on the UI thread:
the old model serves until the new one is ready, and a call in flight finishes on it.
"""

from __future__ import annotations

import threading


class ModelHost:
    def __init__(self, completer):
        self.completer = completer
        self.lock = threading.Lock()
        self._cond = threading.Condition()
        self._pending = None  # the latest request not yet taken
        self._working = False  # a request was taken and its answer is not posted yet
        self._closed = False

    @property
    def label(self) -> str:
        c = self.completer
        return c.name if c.name == c.kind else f"{c.name} ({c.kind})"

    def swap(self, completer) -> None:
        """Use `completer` from the next call on (a call in flight finishes on the old one)."""
        self.completer = completer

    # --- the mailbox between the UI thread and the model thread ---------------------------

    def request(self, item) -> None:
        with self._cond:
            self._pending = item
            self._cond.notify()

    def take(self, timeout: float):
        """The latest request (waiting up to `timeout` s), or None; marks the model busy."""
        with self._cond:
            if self._pending is None and not self._closed:
                self._cond.wait(timeout)
            item, self._pending = self._pending, None
            self._working = item is not None
            return item

    def done(self) -> None:
        with self._cond:
            self._working = False
            self._cond.notify_all()

    @property
    def idle(self) -> bool:
        """Nothing asked and nothing being answered (tests wait for this)."""
        with self._cond:
            return self._pending is None and not self._working

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
