"""Python's garbage collection in typing pauses, not in the frame of a key, as a mixin of `EditorApp`.

The cyclic collector runs whenever enough objects have been allocated, and a full pass over
the editor's objects (Textual's widgets and line caches, the model's tables: some 80,000
tracked objects) takes 10-35 ms on this machine: it landed in the frame of one key in thirty,
the slowest keys' ghosts (bench/editor_latency.py with a full screen of text: key -> ghost p99
37 ms, 11.5 ms without collections). So while the editor runs, the objects that exist after
the first paint are frozen (gc.freeze: never scanned again; refcounting still frees them), the
automatic collector is off, and a collection runs once the user has not pressed a key for
PAUSE seconds, or during typing once FORCE objects have piled up since the last one (memory
stays bounded however long the typing lasts). Exiting restores the collector as it was.
"""

from __future__ import annotations

import gc
import time

from textual import events

CHECK_EVERY = 0.5  # seconds between looks for a pause to collect in
PAUSE = 0.4  # no key for this long: a collection now is not in the way of a key
FORCE = 100_000  # tracked objects allocated since the last collection that force one even while typing
SOME = 1_000  # and fewer than this after a pause are left for later (the cursor's blinking allocates a little)


class QuietCollection:
    """Collects garbage in typing pauses (see the module docstring)."""

    _last_key = 0.0
    _gc_was_enabled: bool | None = None

    def _start_quiet_collection(self) -> None:
        if self._gc_was_enabled is not None:
            return
        self._gc_was_enabled = gc.isenabled()
        gc.freeze()  # what the first paint needed (Textual, the widgets, the model): never scanned again
        gc.disable()
        self.set_interval(CHECK_EVERY, self._collect_if_quiet, name="quiet-collection")

    def _collect_if_quiet(self) -> None:
        pending = gc.get_count()[0]
        if pending >= FORCE or (pending >= SOME and time.monotonic() - self._last_key >= PAUSE):
            gc.collect()

    def _refreeze(self) -> None:
        """After a model is loaded or switched to: the old one's garbage collected, the new one frozen."""
        if self._gc_was_enabled is not None:
            gc.unfreeze()
            gc.collect()
            gc.freeze()

    def _stop_quiet_collection(self) -> None:
        if self._gc_was_enabled is None:
            return
        gc.unfreeze()
        if self._gc_was_enabled:
            gc.enable()
        self._gc_was_enabled = None

    def on_unmount(self) -> None:
        self._stop_quiet_collection()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self._last_key = time.monotonic()
        await super().on_event(event)
