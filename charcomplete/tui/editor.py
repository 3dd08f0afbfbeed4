"""The editing widget: a TextArea whose ghost text (`TextArea.suggestion`) comes from the model.

After every edit the model thread (one long-lived thread worker) is asked for the Completer's
suggestion for the text before the cursor; the answer is shown only if nothing changed meanwhile (each edit and each cursor move
starts a new *generation*; an answer for an older one is dropped). Typing a predicted character
trims the ghost at once (TextArea does that in `edit`). The ghost is cleared when the cursor
moves, on a selection, on focus loss, and is not offered mid-word.
"""

from __future__ import annotations

import re
import time
import unicodedata

from rich.text import Text
from textual import events, work
from textual.binding import Binding
from textual.geometry import Offset, Size
from textual.reactive import Reactive, reactive
from textual.widgets import TextArea
from textual.widgets.text_area import Selection
from textual.worker import get_current_worker

from charcomplete.adapt import BufferLearner
from charcomplete.document import LONG_LINE
from charcomplete.tui.indent import detect_indent
from charcomplete.tui.learning import LEARN_BEFORE, LEARN_IDLE, READ_QUIET, TYPING_QUIET, BufferLearning
from charcomplete.tui.messages import SuggestionAccepted, SuggestionFailed, SuggestionReady
from charcomplete.tui.model import ModelHost
from charcomplete.tui.rows import KeptRows
from charcomplete.tui.safe_text import CONTROL, line_shown
from charcomplete.vocab import normalize_newlines

GHOST_WAIT = 0.008  # s: after an edit that asks the model, the screen waits at most this long for the ghost, so the
#                    typed character and its ghost are painted in one frame (and the model runs without the UI thread's paint)
CONTEXT_BACK = 1024  # at least this many characters of earlier lines go into the context
LINE_CHUNK = 2048  # on a very long line the context starts at a multiple of this (stable while typing)
REWRAP_LINES = 2000  # after an undo or redo a file of up to this many lines is rewrapped whole (_rewrap_if_out_of_step)
NEXT_WORD = re.compile(r"\s*\S+\s?")
# typed characters Textual's TextArea drops (see GhostEditor._on_key): format characters (ZWNJ, ZWJ,
# LRM/RLM, ZWSP, BOM, soft hyphen), spaces other than U+0020 (no-break space), private-use and
# unassigned ones. Not controls (Cc: Tab, Enter, Escape are keys), surrogates or line separators.
TYPED_NOT_PRINTABLE = frozenset({"Cf", "Zs", "Co", "Cn"})
INSERTING_KEYS = frozenset({"tab", "enter", "escape"})  # keys TextArea._on_key (or ours) handles itself, bound or not


class GhostEditor(KeptRows, BufferLearning, TextArea):
    """A TextArea with model suggestions as ghost text."""

    BINDINGS = [
        Binding("tab", "accept_suggestion", "Accept", tooltip="Insert the whole suggestion (indents when there is none)"),
        Binding("ctrl+right", "accept_word", "Word", tooltip="Insert the next word of the suggestion"),
        Binding("escape", "dismiss_suggestion", "Dismiss", show=False),
        # Alt+] / Alt+[ where the terminal reports them; many (xterm, tmux) turn them into an escape
        # sequence's start, so Alt+N / Alt+P do the same everywhere
        Binding("alt+n,alt+right_square_bracket", "cycle_alternative(1)", "Next", key_display="M-n"),
        Binding("alt+p,alt+left_square_bracket", "cycle_alternative(-1)", "Previous alternative", show=False),
        Binding("ctrl+home", "cursor_document_start", "Document start", show=False),
        Binding("ctrl+end", "cursor_document_end", "Document end", show=False),
        Binding("ctrl+shift+home", "cursor_document_start(True)", "Select to document start", show=False),
        Binding("ctrl+shift+end", "cursor_document_end(True)", "Select to document end", show=False),
        Binding("f4", "toggle_neighbours", "Neighbours", show=False,
                tooltip="Learn from the files beside this one (on by default; --no-neighbours)"),
    ]
    COMPONENT_CLASSES = TextArea.COMPONENT_CLASSES | {"text-area--find-match"}

    suggestions_enabled: reactive[bool] = reactive(True, init=False)
    # Widget's virtual size lays out the whole screen when it changes (layout=True): TextArea sets it
    # after each edit that adds or removes a wrapped row, and every widget was laid out and repainted,
    # 20-30 ms, the slowest keys' frames. The editor's height does not depend on it (1fr); its
    # scrollbars do (_watch_virtual_size), and one appearing still lays out through its own reactive.
    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)

    def __init__(self, text: str, model: ModelHost, **kwargs):
        self.model = model
        self._generation = 0  # bumped by every edit and cursor move: answers for older ones are dropped
        self._editing = False
        self._alternatives: list = []  # Suggestions for the current generation (Alt+] / Alt+[)
        self._alt_index = 0
        self._alt_step = 1
        self._held = None  # the timer that ends the screen's wait for a ghost (_hold_screen), while it waits
        self.find_pattern: re.Pattern | None = None  # the find bar's matches are highlighted (find.py)
        # the whole buffer and the neighbouring files, counted by the model thread between requests
        # (adapt.BufferLearner); every change of the buffer is queued to it (_hook_document)
        self.learner = BufferLearner()
        self._learned_label = ""
        self._to_read = ""  # the buffer for the model's network to read (Completer.read), as opened or at a model switch
        self._read_by = None  # the Completer that was given it
        super().__init__(text, tab_behavior="indent", soft_wrap=True, **kwargs)

    # --- the document ----------------------------------------------------------------

    def _set_document(self, text: str, language: str | None) -> None:
        # Tab (with no ghost) indents with the file's own indentation, a tab or its width of spaces
        self.indent_type, width = detect_indent(text)
        if width is not None:
            self.set_reactive(TextArea.indent_width, width)
        super()._set_document(text, language)
        self.learner.open(normalize_newlines(text))  # only queued: counted in the background
        self.read_again(text)
        self._hook_document()

    # --- when to ask ------------------------------------------------------------------

    def edit(self, edit):
        self._editing = True
        try:
            if edit.from_location != edit.to_location:
                self.suggestion = ""  # a deletion or replacement: the old ghost no longer fits
            result = super().edit(edit)
        finally:
            self._editing = False
        if self.soft_wrap and edit.text:
            self._unwrap_long_lines(min(edit.from_location, edit.to_location)[0], result.end_location[0])
        return result

    def undo(self) -> None:
        super().undo()
        self._rewrap_if_out_of_step()

    def redo(self) -> None:
        super().redo()
        self._rewrap_if_out_of_step()

    def _rewrap_if_out_of_step(self) -> None:
        """Textual 8 rewraps only the rows it reckons an undo or redo touched, and for a batch of
        several edits across lines it can miss some: rows wrapped for old text stay, and when the
        wrapped document has more lines than the document the next frame crashed (IndexError in
        render_line). So rewrap it all: always in a file of up to REWRAP_LINES lines (2,000 lines of
        this project's README: 32 ms; of short code lines: 19 ms), and in a longer one when the line
        counts disagree."""
        wrapped, lines = self.wrapped_document, self.document.line_count
        if lines > REWRAP_LINES:
            try:
                wrapped.get_offsets(lines - 1)
            except ValueError:  # fewer lines than the document
                pass
            else:
                try:
                    wrapped.get_offsets(lines)
                except ValueError:  # as many as the document
                    return
        wrapped.wrap(self.wrap_width, self.indent_width)
        self._refresh_size()

    def scroll_cursor_visible(self, center: bool = False, animate: bool = False) -> Offset:
        """Not while an undo is halfway: Textual 8 shortens the document before it puts the cursor
        back, and a scrollbar that goes away meanwhile scrolled to a row no longer there, which
        crashed (Textual issue 6686). The cursor, put back a moment later, scrolls then."""
        if self.cursor_location[0] >= self.document.line_count:
            return Offset(0, 0)
        return super().scroll_cursor_visible(center, animate)

    def _watch_virtual_size(self, size: Size) -> None:
        """Its scrollbars follow the virtual size (the reactive above lays nothing out)."""
        self._scroll_update(size)

    def _unwrap_long_lines(self, first: int, last: int) -> None:
        """Soft wrap off once an edit (a paste) makes a line longer than LONG_LINE: Textual's
        TextArea rewraps the whole line on every key with soft wrap on (WrappedDocument.wrap_range),
        0.6-1.1 s a key past 10,000 characters (issue 15). Files that have such a line already open
        without soft wrap (document.Document.has_long_lines)."""
        doc = self.document
        if any(len(doc[row]) > LONG_LINE for row in range(first, min(last, doc.line_count - 1) + 1)):
            self.soft_wrap = False
            self.app.notify(f"A line is longer than {LONG_LINE:,} characters: soft wrap is off (wrapping it slows every key).",
                        severity="warning", timeout=8)

    def update_suggestion(self) -> None:
        """Called by TextArea after every edit: ask the model (in a worker) for a new ghost."""
        self._new_generation()
        if not self.is_mounted or not self._may_suggest():
            self.suggestion = ""
            self._release_screen()
            return
        self._hold_screen()
        self._ask(self._generation, self.context(), False)

    def watch_selection(self, previous, selection) -> None:
        if self._editing or previous == selection:
            return  # the cursor moved because of an edit: update_suggestion handles it
        self._clear()

    def watch_has_focus(self, focused: bool) -> None:
        self.update_suggestion() if focused else self._clear()

    def on_mount(self) -> None:
        self._model_thread()
        self._start_neighbours()
        # a dialog or the palette over the editor takes the focus without blurring it: clear there too
        self.app.screen_change_signal.subscribe(self, self._screen_changed)

    def on_unmount(self) -> None:
        self._release_screen()
        self.model.close()

    def _screen_changed(self, screen) -> None:
        self.update_suggestion() if screen is self.screen else self._clear()

    def watch_suggestions_enabled(self, enabled: bool) -> None:
        self.update_suggestion() if enabled else self._clear()

    def _new_generation(self) -> None:
        self._generation += 1
        self._alternatives = []
        self._alt_index = 0

    def _clear(self) -> None:
        self._new_generation()
        self.suggestion = ""
        self._release_screen()

    def _hold_screen(self) -> None:
        """Paint nothing until the ghost for this edit is here, or GHOST_WAIT has passed (the wait
        started by the first of a burst of keys is not extended by the rest)."""
        if self._held is None:
            self.app._begin_batch()  # what App.batch_update and App.delay_update do
            self._held = self.set_timer(GHOST_WAIT, self._release_screen, name="ghost-wait")

    def _release_screen(self) -> None:
        if self._held is not None:
            self._held.stop()
            self._held = None
            self.app._end_batch()

    def _may_suggest(self) -> bool:
        if (not self.suggestions_enabled or self.read_only or not self.selection.is_empty or not self.has_focus
                or not self.screen.is_current or self.model.completer is None):  # None: the model is still loading
            return False
        row, col = self.cursor_location
        right = self.document[row][col : col + 1]
        return not right or right.isspace()  # never mid-word

    def context(self) -> str:
        """The text before the cursor that the model reads.

        It starts at a line start (or, on a very long line, at a multiple of LINE_CHUNK) that
        does not move while the user types on the current line, so the Completer's next call
        extends its previous context and steps only the new characters.
        """
        row, col = self.cursor_location
        doc = self.document
        line = doc[row]
        start = max(0, (col // LINE_CHUNK - 1) * LINE_CHUNK)
        if start:
            return line[start:col]
        parts, n, r = [line[:col]], 0, row
        while r > 0 and n < CONTEXT_BACK:
            r -= 1
            prev = doc[r]
            parts.append(prev + "\n")
            n += len(prev) + 1
        return "".join(reversed(parts))

    # --- asking the model (one long-lived thread worker; one model call at a time) ------------

    def _ask(self, generation: int, context: str, alternatives: bool) -> None:
        self.model.request((generation, context, alternatives))

    @work(thread=True, exclusive=True, group="model", exit_on_error=False)
    def _model_thread(self) -> None:
        """Answer the latest request; skip any the user has moved on from."""
        worker = get_current_worker()
        host = self.model
        last = 0.0  # when the last request came (idle counting waits while the user types)
        while not (worker.is_cancelled or host.closed):
            wait = self._learn_wait(last, time.monotonic())
            request = host.take(timeout=wait)
            if request is None:
                if wait < 0.5 and time.monotonic() >= last + TYPING_QUIET:
                    with host.lock:  # between requests: the whole buffer and the neighbours, a step at a time
                        self._learn(LEARN_IDLE, read=time.monotonic() >= last + READ_QUIET)
                continue
            last = time.monotonic()
            try:
                with host.lock:
                    self._learn(LEARN_BEFORE, neighbours=False)  # the edits just made (the adaptive model reads the buffer's
                    #                                            counts); the neighbouring files wait for a pause
                generation, context, alternatives = request
                if generation != self._generation:
                    continue  # the text or the cursor changed since: a newer request follows
                with host.lock:
                    completer = host.completer
                    if completer is None:
                        continue
                    try:
                        completer.observe(context)  # adaptation learns what is new in the text first
                        if alternatives:
                            alts = completer.alternatives(context, k=4)
                            best = alts[0] if alts else completer.suggest(context)
                        else:
                            alts, best = None, completer.suggest(context)
                    except Exception as e:  # a broken model must not take the editor down
                        self.post_message(SuggestionFailed(f"{type(e).__name__}: {e}"))
                        continue
                self.post_message(SuggestionReady(generation, best, completer.name, alts))
            finally:
                host.done()

    def on_suggestion_ready(self, message: SuggestionReady) -> None:
        if message.generation != self._generation or not self._may_suggest():
            message.stop()  # stale: the text or the cursor changed since it was asked
            return
        self._release_screen()  # painted with the ghost (the sparkline and the status bar a frame later: app.py, FIGURES_AFTER)
        if message.alternatives is not None:
            self._alternatives = [s for s in message.alternatives if s.text.strip()]
            if not self._alternatives:
                message.stop()
                return
            self._alt_index = self._alt_step % len(self._alternatives)  # the first press moves off the best one
            message.suggestion = self._alternatives[self._alt_index]
        text = self._fit_indent(self.validate_suggestion(message.suggestion.text))
        message.new = bool(text) and text != self.suggestion
        self.suggestion = text

    def validate_suggestion(self, suggestion: str) -> str:
        """A ghost that is only whitespace is never shown: it cannot be seen, and Tab would insert
        it instead of indenting (four invisible spaces in a tab-indented file, issue 15). Also when
        typing trims a ghost down to its whitespace."""
        suggestion = suggestion[: m.start()] if (m := CONTROL.search(suggestion)) else suggestion  # never drawn raw (safe_text)
        return suggestion if suggestion.strip() else ""

    def _fit_indent(self, text: str) -> str:
        """In a tab-indented file, the ghost's indentation (leading spaces at a line's start) in tabs."""
        if self.indent_type != "tabs" or " " not in text:
            return text
        width = self.indent_width
        row, col = self.cursor_location
        at_line_start = not self.document[row][:col].strip(" \t")

        def tabs(lead: str) -> str:
            n = len(lead)
            return "\t" * (n // width) + " " * (n % width)

        lines = text.split("\n")
        for i, line in enumerate(lines):
            if i > 0 or at_line_start:
                body = line.lstrip(" ")
                lines[i] = tabs(line[: len(line) - len(body)]) + body
        return "\n".join(lines)

    # --- keys ---------------------------------------------------------------------------

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "tab" and self.suggestion:
            event.stop()
            event.prevent_default()
            self.action_accept_suggestion()
        elif event.key == "escape" and self.suggestion:
            event.stop()
            event.prevent_default()
            self.action_dismiss_suggestion()
        elif event.key == "enter" and not self.read_only:
            event.stop()
            event.prevent_default()
            self._new_line()
        elif (event.key == "shift+tab" or event.key == "tab" and self.selection.start[0] != self.selection.end[0]) and not self.read_only:
            event.stop()  # Tab on a selection of lines indents them (TextArea replaced the lines with the indentation);
            event.prevent_default()  # Shift+Tab takes one level off the selected lines, or the cursor's
            self._indent_lines(dedent=event.key == "shift+tab")
        elif (event.character is not None and len(event.character) == 1 and not event.is_printable
              and not self.read_only and unicodedata.category(event.character) in TYPED_NOT_PRINTABLE):
            # Textual's TextArea._on_key inserts a key's character only when `Key.is_printable`
            # (str.isprintable()) holds, which is False for ZWNJ, ZWJ, LRM/RLM, ZWSP, BOM, soft
            # hyphen and no-break space: typed, they vanished ("می‌خواهم" saved as "میخواهم", a
            # family emoji as three). Whatever the keyboard sends must reach the file (issue 15).
            event.stop()
            event.prevent_default()
            start, end = self.selection
            self._replace_via_keyboard(event.character, start, end)
        elif ((not event.is_printable or event.key != event.character) and event.key not in INSERTING_KEYS
              and await self._run_own_binding(event.key)):  # a bound key, or one with a modifier: Alt+N from a
            event.stop()                                       # terminal is Esc n, the key alt+n carrying "n",
            event.prevent_default()                            # which TextArea typed

    async def _run_own_binding(self, key: str) -> bool:
        """Run this widget's own binding for `key` now, in order with the typed characters around it.

        Textual inserts a typed character in the widget's `_on_key` but lets a bound key (End,
        arrows, Backspace, Ctrl+V, ...) bubble up to the app first, so in a burst of keys (a fast
        macro, a loaded machine) "End a b c" wrote "abc" before the End (Textual issue 6605, fix
        proposed in its PR 6631). The widget's own non-priority bindings are the ones the app
        would run first for a key that reaches the widget; run here, nothing else changes."""
        for binding in self._bindings.key_to_bindings.get(key, ()):
            if not binding.priority and await self.app.run_action(binding.action, self):
                return True
        return False

    def _indent_lines(self, dedent: bool) -> None:
        """Indent (or dedent) every line the selection touches by one level of the file's own
        indentation, as one undo step; the selection then covers those lines whole (Shift+Tab with
        no selection: the cursor's line). A selection that ends at a line's start leaves that line
        alone. Blank lines are not indented."""
        start, end = sorted(self.selection)
        first, last = start[0], end[0] if end[1] > 0 or end[0] == start[0] else end[0] - 1
        unit = "\t" if self.indent_type == "tabs" else " " * self.indent_width
        lines = [self.document[r] for r in range(first, last + 1)]
        if dedent:
            new = [_dedent(line, self.indent_width) for line in lines]
        else:
            new = [unit + line if line.strip() else line for line in lines]
        if new == lines:
            return
        self.replace("\n".join(new), (first, 0), (last, len(lines[-1])))
        if start == end:  # Shift+Tab at the cursor: it stays on its character
            self.selection = Selection.cursor((first, max(0, start[1] - (len(lines[0]) - len(new[0])))))
        else:  # the same lines selected, to the next line's start when that is where it ended
            self.selection = Selection((first, 0), end if end[1] == 0 and end[0] > first else (last, len(new[-1])))

    def _new_line(self) -> None:
        """Enter: a line break that keeps the indentation before the cursor (as editors' auto-indent
        does), one undo step. On a line of nothing but that indentation the indentation moves down
        with the cursor, so blank lines keep no trailing whitespace."""
        start, end = sorted(self.selection)
        row, col = start
        before = self.document[row][:col]
        indent = before[: len(before) - len(before.lstrip(" \t"))]
        if indent == before and indent:
            start = (row, 0)  # a blank, indented line: leave it empty
        self._replace_via_keyboard("\n" + indent, start, end)

    def action_accept_suggestion(self) -> None:
        """Tab: insert the whole ghost (TextArea indents when there is none)."""
        text = self.suggestion
        if text and not self.read_only:
            self.insert(text)
            self.post_message(SuggestionAccepted(text, whole=True))

    def action_accept_word(self) -> None:
        """Ctrl+Right: insert the ghost's next word; without a ghost, move a word right."""
        m = NEXT_WORD.match(self.suggestion) if self.suggestion and not self.read_only else None
        if m is None:
            self.action_cursor_word_right()
            return
        self.insert(m.group(0))
        self.post_message(SuggestionAccepted(m.group(0), whole=False))

    def action_dismiss_suggestion(self) -> None:
        self._clear()

    def action_cursor_document_start(self, select: bool = False) -> None:
        """Ctrl+Home (with Shift: select)."""
        self.move_cursor((0, 0), select=select)

    def action_cursor_document_end(self, select: bool = False) -> None:
        """Ctrl+End (with Shift: select)."""
        self.move_cursor(self.document.end, select=select)

    # --- find highlights (the bar is in find.py) ------------------------------------------

    def highlight_matches(self, pattern: re.Pattern | None) -> None:
        if pattern != self.find_pattern:
            self.find_pattern = pattern
            self._line_cache.clear()
            self.refresh()

    def get_line(self, line_index: int):
        """TextArea's line, its control characters never written to the terminal as they are
        (safe_text), with every find match styled (the current one is the selection, drawn over it)."""
        text = self.document.get_line(line_index)
        line = Text(line_shown(text), end="", no_wrap=True)
        if self.find_pattern is not None:
            style = self.get_component_rich_style("text-area--find-match")
            for m in self.find_pattern.finditer(text):  # the text's own characters (one for one with those drawn)
                line.stylize(style, m.start(), m.end())
        return line

    def action_cycle_alternative(self, step: int) -> None:
        """Alt+] / Alt+[: show the Completer's other suggestions for this spot."""
        if not self._may_suggest():
            return
        if not self._alternatives:
            self._alt_step = step
            self._ask(self._generation, self.context(), True)
            return
        self._alt_index = (self._alt_index + step) % len(self._alternatives)
        self.post_message(SuggestionReady(self._generation, self._alternatives[self._alt_index], self.model.completer.name))


def _dedent(line: str, width: int) -> str:
    """`line` with one level of indentation off: a leading tab, or up to `width` leading spaces."""
    if line.startswith("\t"):
        return line[1:]
    spaces = len(line) - len(line.lstrip(" "))
    return line[min(spaces, width) :]
