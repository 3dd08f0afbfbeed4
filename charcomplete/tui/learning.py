"""The editor learns the whole buffer and the files beside it (adapt.BufferLearner), as a mixin
of `GhostEditor`: every change of the document is queued to the learner (edits, undo, redo and
pastes all go through Textual's `Document.replace_range`), neighbouring files are read in a
worker, and the model thread counts a little between requests.
"""

from __future__ import annotations

from textual import work
from textual.worker import get_current_worker

from charcomplete.tui.messages import LearningChanged
from charcomplete.vocab import normalize_newlines

LEARN_IDLE = 512  # characters counted per step while no request waits (a few ms: a key never waits long)
LEARN_BEFORE = 64  # and before each request (the edits just made; a little of a long count of the buffer, not of the neighbours)
LEARN_GAP = 0.003  # seconds the model thread waits between idle steps: the counting (pure Python) lets go of the GIL,
#                    so the UI thread is never queued behind it (without it: key -> ghost p50 x2.5 on a 1 MB file)
READ_KEEP = 1 << 16  # characters of the buffer kept for a network to read (more than it reads: NetLearnConfig.judge_chars + read_check)
TYPING_QUIET = 0.15  # no idle steps until this long after the last request: while the user types, only LEARN_BEFORE
READ_QUIET = 0.5  # the network reads the buffer (a lesson, about 6 ms) only this long after the last request: in a real
#                   pause, so that a key typed at a typist's pace never waits for one (key -> ghost p99 +3-5 ms at 0.15 s)


class BufferLearning:
    """Feeds the whole buffer and the neighbouring files to `self.learner` (set by GhostEditor)."""

    def _hook_document(self) -> None:
        """Queue every change of the document to the learner: edits, undo and redo all go through
        Document.replace_range (the text around the change is read here: a few characters)."""
        doc = self.document
        replace_range = doc.replace_range
        k = self.learner.edit_window

        def hooked(start, end, text):
            top, bottom = sorted((start, end))
            removed = doc.get_text_range(top, bottom)
            if removed or text:
                before = doc.get_text_range(self._walk(doc, top, -k), top)
                after = doc.get_text_range(bottom, self._walk(doc, bottom, k))
                self.learner.edit(*(normalize_newlines(t) if "\r" in t else t for t in (before, removed, text, after)))
            return replace_range(start, end, text)

        doc.replace_range = hooked

    @staticmethod
    def _walk(doc, loc, n: int):
        """The location `n` characters after `loc` (before it when negative; a line end counts one),
        clamped to the document (`loc` may lie past its end: Ctrl+X on the last line cuts to the
        start of the row after it, as Textual's Document.replace_range allows)."""
        row, col = loc
        last = doc.line_count - 1
        if row > last:
            row, col = last, len(doc[last])
        if n < 0:
            n = -n
            while n > col and row > 0:
                n -= col + 1
                row -= 1
                col = len(doc[row])
            return row, max(0, col - n)
        while n > len(doc[row]) - col and row < last:
            n -= len(doc[row]) - col + 1
            row, col = row + 1, 0
        return row, min(len(doc[row]), col + n)

    def _start_neighbours(self) -> None:
        document = getattr(self.app, "document", None)
        if document is None or not getattr(self.app, "learn_neighbours", True):
            self.learner.set_neighbours(False)
            return
        self.learner.set_neighbours(True)
        self._read_neighbours(document.path)

    @work(thread=True, exclusive=True, group="neighbours", exit_on_error=False)
    def _read_neighbours(self, path) -> None:
        """Read the files beside this one (charcomplete/neighbours.py, with its caps) and queue
        them; the model thread counts them between requests."""
        from charcomplete.neighbours import read_neighbours, unit_of

        worker = get_current_worker()
        learner = self.learner
        learner.unit = unit_of(path)
        for _, text in read_neighbours(path, should_stop=lambda: worker.is_cancelled or not learner.neighbours_on):
            learner.add_file(text)

    def action_toggle_neighbours(self) -> None:
        """F4 and the palette: learn from the neighbouring files, or stop (their counts are dropped)."""
        on = not self.learner.neighbours_on
        if on:
            self.app.learn_neighbours = True
            self._start_neighbours()
        else:
            self.app.learn_neighbours = False
            self.learner.set_neighbours(False)
        self.notify("Learning from neighbouring files" if on else "Not learning from neighbouring files", timeout=2)

    def read_again(self, text: str | None = None) -> None:
        """The model's network is to read the buffer (`text`, or the buffer as it is now): at open
        and when another model is switched to. The model thread hands it over (`_learn`)."""
        self._to_read = (self.text if text is None else text)[-READ_KEEP:]  # (Completer.read makes its line breaks "\n")
        self._read_by = None

    def _learn(self, budget: int, neighbours: bool = True, read: bool = False) -> None:
        """In the model thread, holding the model's lock: count a little (neighbours=False: the
        buffer only), give the network a lesson of what was typed (or, with `read`, of the buffer),
        report what was learned."""
        completer = self.model.completer
        adapt = getattr(completer, "adapt", None)
        if adapt is None:
            return
        adapt.attach(self.learner)
        if self._read_by is not completer:  # a model new to this buffer: its network reads it in the pauses
            self._read_by = completer
            completer.read(self._to_read)
        self.learner.work(budget, neighbours)
        if neighbours:  # a pause in typing: the network learns what was typed, or reads (a lesson when one is due, 5-7 ms)
            completer.learn_network(read=read)
        label = self.learner.label()
        if label != self._learned_label:
            self._learned_label = label
            self.post_message(LearningChanged(label))

    def _learn_wait(self, last_request: float, now: float) -> float:
        """How long the model thread waits for a request before its next idle step of counting."""
        if self._learning() or self._learned_label != self.learner.label():
            return max(LEARN_GAP, last_request + TYPING_QUIET - now)
        completer = self.model.completer
        if getattr(completer, "network_reading", False) and getattr(completer, "adapt", None) is not None:
            return max(LEARN_GAP, last_request + READ_QUIET - now)
        return 0.5

    def _learning(self) -> bool:
        """Something is left to count, or for the network to learn, for a model that adapts."""
        completer = self.model.completer
        if getattr(completer, "network_lesson_due", False):
            return True
        return self.learner.busy and getattr(completer, "adapt", None) is not None
