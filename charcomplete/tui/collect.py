"""Python's garbage collection in typing pauses, not in the frame of a key, as a mixin of `EditorApp`.

The cyclic collector runs whenever enough objects have been allocated, and a full pass over
the editor's objects (Textual's widgets and line caches, the model's tables: some 80,000
tracked objects) takes 10-35 ms on this machine: it landed in the frame of one key in thirty,
the slowest keys' ghosts (bench/editor_latency.py with a full screen of text: key -> ghost p99
37 ms, 11.5 ms without collections). So while the editor runs, the objects that exist after
the first paint are frozen (gc.freeze: never scanned again; refcounting still frees them), and
while keys come the collector runs with typing thresholds: a pass over the young objects once
FORCE of them are pending (a few ms), older generations never; once the user has not pressed a
key for PAUSE seconds Python's own thresholds are back (its full passes land in the pause), and
a key sets the typing ones again. The collector is never switched off: memory stays bounded
even if the pause never comes (a loop that never idles once leaked 24 GB with it off, in a
test's headless run). Exiting restores the collector as it was.
"""

from __future__ import annotations

import gc
import time

from textual import events

CHECK_EVERY = 0.5  # seconds between looks for a pause
PAUSE = 0.4  # no key for this long: Python's own thresholds are back (a full pass is not in the way of a key)
FORCE = 100_000  # tracked objects allocated while typing that start a pass over the young ones
TYPING_GEN1 = 10  # passes over the youngest before one over the middle generation, while typing
NEVER = 1 << 30  # the oldest generation's threshold while typing: no full pass


class QuietCollection:
    """Full collections in typing pauses only (see the module docstring)."""

    _last_key = 0.0
    _gc_was: tuple | None = None  # (enabled, thresholds) before the editor started (None: not started)
    _typing = False  # the typing thresholds are set

    def _start_quiet_collection(self) -> None:
        if self._gc_was is not None:
            return
        self._gc_was = (gc.isenabled(), gc.get_threshold())
        gc.freeze()  # what the first paint needed (Textual, the widgets, the model): never scanned again
        gc.enable()
        self._typing_thresholds()
        self.set_interval(CHECK_EVERY, self._collect_if_quiet, name="quiet-collection")

    def _typing_thresholds(self) -> None:
        gc.set_threshold(FORCE, TYPING_GEN1, NEVER)
        self._typing = True

    def _collect_if_quiet(self) -> None:
        if self._typing and time.monotonic() - self._last_key >= PAUSE:
            gc.set_threshold(*self._gc_was[1])
            self._typing = False

    def _refreeze(self, collect: bool) -> None:
        """After a model is loaded (frozen too) or switched to (collect: the old one's garbage first)."""
        if self._gc_was is not None:
            if collect:
                gc.unfreeze()
                gc.collect()
            gc.freeze()

    def _stop_quiet_collection(self) -> None:
        if self._gc_was is None:
            return
        gc.unfreeze()
        enabled, thresholds = self._gc_was
        gc.set_threshold(*thresholds)
        (gc.enable if enabled else gc.disable)()
        self._gc_was = None
        self._typing = False

    def on_unmount(self) -> None:
        self._stop_quiet_collection()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self._last_key = time.monotonic()
            if self._gc_was is not None and not self._typing:
                self._typing_thresholds()
        await super().on_event(event)
