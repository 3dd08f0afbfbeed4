"""Python's garbage collection in typing pauses, not in the frame of a key, as a mixin of `EditorApp`.

The cyclic collector runs whenever enough objects have been allocated, and a full pass over
the editor's objects (Textual's widgets and line caches, the model's tables: some 80,000
tracked objects) takes 10-35 ms on this machine: it landed in the frame of one key in thirty,
the slowest keys' ghosts (bench/editor_latency.py with a full screen of text: key -> ghost p99
37 ms, 11.5 ms without collections). So while the editor runs, the objects that exist after
the first paint are frozen (gc.freeze: never scanned again; refcounting still frees them), and
the automatic collector is on only once the user has not pressed a key for PAUSE seconds (it
then collects as Python always does, its own thresholds pacing the full passes); a key turns it
off again. A long stretch of typing without a pause still collects the young objects once
FORCE of them are pending (a short pass: memory stays bounded). Exiting restores the collector.
"""

from __future__ import annotations

import gc
import time

from textual import events

CHECK_EVERY = 0.5  # seconds between looks for a pause
PAUSE = 0.4  # no key for this long: the collector may run (it is not in the way of a key)
FORCE = 100_000  # tracked objects allocated while typing that force a pass over the young ones


class QuietCollection:
    """The automatic collector on in typing pauses only (see the module docstring)."""

    _last_key = 0.0
    _gc_was_enabled: bool | None = None  # how the collector was before the editor started (None: not started)

    def _start_quiet_collection(self) -> None:
        if self._gc_was_enabled is not None:
            return
        self._gc_was_enabled = gc.isenabled()
        gc.freeze()  # what the first paint needed (Textual, the widgets, the model): never scanned again
        gc.disable()
        self.set_interval(CHECK_EVERY, self._collect_if_quiet, name="quiet-collection")

    def _collect_if_quiet(self) -> None:
        if time.monotonic() - self._last_key >= PAUSE:
            gc.enable()
        elif gc.get_count()[0] >= FORCE:
            gc.collect(1)  # the young generations only: a few ms

    def _refreeze(self, collect: bool) -> None:
        """After a model is loaded (frozen too) or switched to (collect: the old one's garbage first)."""
        if self._gc_was_enabled is not None:
            if collect:
                gc.unfreeze()
                gc.collect()
            gc.freeze()

    def _stop_quiet_collection(self) -> None:
        if self._gc_was_enabled is None:
            return
        gc.unfreeze()
        (gc.enable if self._gc_was_enabled else gc.disable)()
        self._gc_was_enabled = None

    def on_unmount(self) -> None:
        self._stop_quiet_collection()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self._last_key = time.monotonic()
            if self._gc_was_enabled is not None:
                gc.disable()
        await super().on_event(event)
