"""Never lose the buffer: the editor's SIGTERM / SIGHUP handling and its crash path, as a mixin
of `EditorApp` (which provides `document`, `buffer_text`, `is_modified`, `action_cancel_training`).
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from pathlib import Path

SIGNAL_EXIT_GRACE = 1.0  # seconds a clean exit may take after SIGTERM / SIGHUP before os._exit


def _exit_after(seconds: float, code: int) -> None:
    """The watchdog of a signalled exit: the recovery file is written; if the clean exit has not
    ended the process by now (the terminal is gone, Textual's output thread hangs), end it."""
    time.sleep(seconds)
    os._exit(code)


class SignalSafety:
    """The recovery file on a signal or a crash, then an exit that cannot hang."""

    def _install_signal_handlers(self) -> None:
        # A plain signal handler, not loop.add_signal_handler: that one only runs when the event
        # loop gets to it, and a loop busy with 10,000 pasted keys, or blocked on a terminal that
        # is gone, never did (no recovery file, the process alive for minutes; issue 15). Python
        # runs this between two bytecodes of the main thread, even inside a blocked lock wait.
        self._loop = asyncio.get_running_loop()
        self._signalled = False
        self._previous_handlers = {}
        for sig in (signal.SIGTERM, signal.SIGHUP):
            try:
                self._previous_handlers[sig] = signal.signal(sig, self._on_signal_now)
            except (AttributeError, ValueError, OSError):
                pass  # not the main thread (some test runners) or not a POSIX platform

    def on_unmount(self) -> None:
        for sig, handler in getattr(self, "_previous_handlers", {}).items():
            try:
                signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
            except (ValueError, OSError):
                pass

    def _on_signal_now(self, sig: int, frame=None) -> None:
        """SIGTERM / SIGHUP: the recovery file from the buffer as it is now, first, before anything
        that can block; then a clean exit, and os._exit if that has not finished within
        SIGNAL_EXIT_GRACE seconds. Textual's WriterThread.stop waits forever on a terminal that is
        gone (its queue is never drained), and a second signal never ended it (issue 15)."""
        code = 128 + sig
        if self._signalled:
            os._exit(code)  # a second signal: at once
        self._signalled = True
        self.write_recovery()
        threading.Thread(target=_exit_after, args=(SIGNAL_EXIT_GRACE, code), name="exit-watchdog", daemon=True).start()
        try:
            self._loop.call_soon_threadsafe(self._on_signal, sig)
        except RuntimeError:  # the loop is closed: nothing left to end cleanly
            os._exit(code)

    def _on_signal(self, sig: int) -> None:
        self.write_recovery()
        self.action_cancel_training()
        self.exit(return_code=128 + sig)

    def write_recovery(self) -> Path | None:
        """Keep unsaved changes in the recovery file (called on SIGTERM, SIGHUP and crashes)."""
        try:
            if self._editor is None or not self.is_modified():
                return None
            return self.document.write_recovery(self.buffer_text())
        except Exception:
            return None

    def _handle_exception(self, error: Exception) -> None:
        self.write_recovery()
        super()._handle_exception(error)
