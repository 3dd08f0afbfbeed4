"""The find / replace / go-to-line bar under the editor (Ctrl+F, Ctrl+R, Ctrl+G).

One bar, three modes. Find searches as you type (case-insensitive unless the query has a
capital letter), highlights every match in the editor (the current one is the editor's
selection), Enter / Shift+Enter (or Down / Up) step to the next / previous match, wrapping
around, and the bar says when it wrapped or found nothing. Replace edits through the
TextArea's edit API, so undo, the modified mark and the ghost all see it; Replace all is one
edit, undone in one step. Escape closes the bar and gives the focus back to the editor with
the current match selected. While the bar has the focus the editor has not: no ghost.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from itertools import accumulate

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label
from textual.widgets.text_area import Selection

from charcomplete.tui.safe_text import ControlsHidden

GOTO = re.compile(r"\s*(\d+)\s*(?:[:,]\s*(\d+)\s*)?")


def find_pattern(query: str) -> re.Pattern | None:
    """The literal `query`; case-insensitive unless it has a capital letter ("smart case")."""
    if not query:
        return None
    return re.compile(re.escape(query), 0 if any(c.isupper() for c in query) else re.IGNORECASE)


class Matches:
    """Every match of `pattern` in `lines`, as offsets into the lines joined with "\\n"."""

    def __init__(self, lines: list[str], pattern: re.Pattern | None):
        self.lines = lines
        self.line_starts = [0, *accumulate(len(line) + 1 for line in lines[:-1])]
        text = "\n".join(lines)
        self.spans = [m.span() for m in pattern.finditer(text)] if pattern is not None else []
        self.starts = [s for s, _ in self.spans]

    def __len__(self) -> int:
        return len(self.spans)

    def offset(self, location: tuple[int, int]) -> int:
        row, col = location
        return self.line_starts[row] + col

    def location(self, offset: int) -> tuple[int, int]:
        row = bisect_right(self.line_starts, offset) - 1
        return row, offset - self.line_starts[row]

    def selection(self, i: int) -> Selection:
        start, end = self.spans[i]
        return Selection(self.location(start), self.location(end))

    def index_of(self, selection: Selection) -> int | None:
        """The match that `selection` covers exactly, if any."""
        lo, hi = sorted(selection)
        i = bisect_left(self.starts, self.offset(lo))
        if i < len(self.spans) and self.spans[i] == (self.offset(lo), self.offset(hi)):
            return i
        return None

    def step(self, selection: Selection, step: int) -> tuple[int, bool]:
        """(index, wrapped): the first match after the selection (step 1) or the last before it (-1)."""
        lo, hi = sorted(selection)
        if step > 0:
            i = bisect_left(self.starts, self.offset(hi))
            return (i, False) if i < len(self.starts) else (0, True)
        i = bisect_left(self.starts, self.offset(lo)) - 1
        return (i, False) if i >= 0 else (len(self.starts) - 1, True)


class BarInput(Input):
    """The bar's fields leave Alt+letter to the bar's bindings (Alt+A: replace all). A terminal sends
    Alt+A as Esc a, which Textual reports as the key alt+a carrying the character "a", and Input
    typed the "a" instead. Control characters (pasted, or in the selection that fills the field)
    are never drawn raw (safe_text)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, highlighter=ControlsHidden(), **kwargs)

    async def _on_key(self, event: events.Key) -> None:
        if event.key.startswith("alt+") and event.is_printable:
            event.prevent_default()  # not typed: it goes on to the bar's bindings


class FindBar(Vertical):
    """Docked above the status bar; `open("find" | "replace" | "goto")` shows it."""

    DEFAULT_CSS = """
    FindBar { height: auto; background: $panel; padding: 0 1; border-top: solid $primary; }
    FindBar .find-row { height: 1; }
    FindBar .find-label { width: 11; color: $text-muted; }
    FindBar Input { width: 1fr; }
    FindBar #find-info { width: 32; margin-left: 1; color: $text-muted; }
    FindBar #find-info.-none { color: $error; }
    FindBar Button { margin-left: 1; min-width: 9; }
    """

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("shift+enter,up", "step(-1)", "Previous", key_display="⇧⏎"),
        Binding("down", "step(1)", "Next", show=False),
        Binding("alt+a", "replace_all", "Replace all", key_display="M-a"),
    ]

    def __init__(self, editor, **kwargs):
        super().__init__(**kwargs)
        self.editor = editor
        self.mode = "find"
        self._origin = Selection()  # the editor's selection when the bar opened: search as you type starts there

    def compose(self) -> ComposeResult:
        with Horizontal(classes="find-row"):
            yield Label("Find", id="find-label", classes="find-label")
            yield BarInput(placeholder="text to find", id="find-input", compact=True)
            yield BarInput(placeholder="line or line:column", id="goto-input", compact=True)
            yield Label("", id="find-info")
        with Horizontal(classes="find-row", id="replace-row"):
            yield Label("Replace", classes="find-label")
            yield BarInput(placeholder="replace with (Enter: replace this one)", id="replace-input", compact=True)
            yield Button("Replace", id="replace-one", compact=True)
            yield Button("All", id="replace-all", compact=True)

    def on_mount(self) -> None:
        self.display = False

    # --- what the bar shows -------------------------------------------------------------------

    @property
    def query(self) -> str:
        return self.query_one("#find-input", Input).value

    @property
    def message(self) -> str:
        """The bar's one-line report: "3 of 12", "… wrapped to the top", "no match"."""
        return str(self.query_one("#find-info", Label).render())

    def _say(self, text: str, none: bool = False) -> None:
        info = self.query_one("#find-info", Label)
        info.update(text)
        info.set_class(none, "-none")

    def open(self, mode: str) -> None:
        """Show the bar in `mode` ("find", "replace" or "goto") and focus its input."""
        ed = self.editor
        self.mode = mode
        goto = mode == "goto"
        self.display = True
        self.query_one("#find-label", Label).update("Go to line" if goto else "Find")
        self.query_one("#find-input").display = not goto
        self.query_one("#goto-input").display = goto
        self.query_one("#replace-row").display = mode == "replace"
        self._origin = ed.selection
        if goto:
            self._highlight(None)
            box = self.query_one("#goto-input", Input)
            box.value = ""
            box.placeholder = f"line or line:column (1–{ed.document.line_count})"
            self._say("")
            box.focus()
            return
        box = self.query_one("#find-input", Input)
        selected = ed.selected_text
        if selected and "\n" not in selected:
            box.value = selected  # the search starts from what is selected
        box.select_all()
        box.focus()
        self._search()

    def action_close(self) -> None:
        """Escape: hide the bar, drop the highlights, the editor gets the focus (the match stays selected)."""
        self._highlight(None)
        self.display = False
        self.editor.focus()

    def _highlight(self, pattern: re.Pattern | None) -> None:
        self.editor.highlight_matches(pattern)

    # --- find ---------------------------------------------------------------------------------

    def _matches(self) -> Matches:
        pattern = find_pattern(self.query)
        self._highlight(pattern)
        return Matches(self.editor.document.lines, pattern)

    @on(Input.Changed, "#find-input")
    def _typed(self) -> None:
        self._search()

    def _search(self) -> None:
        """Search as you type: the first match from where the cursor was when the bar opened (back there when none)."""
        origin = self._origin_in_text()
        m = self._matches()
        if not m:
            self.editor.selection = origin
            self._say("no match" if self.query else "", none=True)
            return
        i, wrapped = m.step(Selection.cursor(min(origin)), 1)
        self._select(m, i, wrapped)

    def _origin_in_text(self) -> Selection:
        """Where the bar opened, within the text as it is now: the user may have clicked into the
        text and cut lines meanwhile, and a search from a line no longer there crashed."""
        lines = self.editor.document.lines

        def clamp(location: tuple[int, int]) -> tuple[int, int]:
            row = min(location[0], len(lines) - 1)
            return row, min(location[1], len(lines[row]))

        return Selection(clamp(self._origin.start), clamp(self._origin.end))

    def _select(self, m: Matches, i: int, wrapped: bool = False, step: int = 1) -> None:
        self.editor.selection = m.selection(i)
        self.editor.scroll_cursor_visible(center=True)
        where = (" · wrapped to the top" if step > 0 else " · wrapped to the bottom") if wrapped else ""
        self._say(f"{i + 1} of {len(m)}{where}")

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "step":
            return self.mode != "goto"
        if action == "replace_all":
            return self.mode == "replace"
        return True

    def action_step(self, step: int) -> None:
        """Enter / Shift+Enter (Down / Up): the next / previous match, wrapping around."""
        if self.mode == "goto" or not self.query:
            return
        m = self._matches()
        if not m:
            self._say("no match", none=True)
            return
        i, wrapped = m.step(self.editor.selection, step)
        self._select(m, i, wrapped, step)

    @on(Input.Submitted, "#find-input")
    def _enter(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_step(1)

    # --- replace ------------------------------------------------------------------------------

    def _may_edit(self) -> bool:
        if self.editor.read_only:
            self.app.notify("Read-only: nothing can be replaced.", severity="warning")
            return False
        return bool(self.query)

    @property
    def replacement(self) -> str:
        return self.query_one("#replace-input", Input).value

    @on(Input.Submitted, "#replace-input")
    @on(Button.Pressed, "#replace-one")
    def _replace_pressed(self, event) -> None:
        event.stop()
        self.replace_one()

    @on(Button.Pressed, "#replace-all")
    def _replace_all_pressed(self, event) -> None:
        event.stop()
        self.action_replace_all()

    def replace_one(self) -> None:
        """Replace the selected match and go to the next; with no match selected, go to the next first."""
        if not self._may_edit():
            return
        ed, m = self.editor, self._matches()
        i = m.index_of(ed.selection)
        if i is not None:
            start, end = m.selection(i)
            ed.history.checkpoint()  # its own undo step
            ed.replace(self.replacement, start, end, maintain_selection_offset=False)
            ed.history.checkpoint()
            m = self._matches()
        if not m:
            self._say("no match", none=True)
            return
        i, wrapped = m.step(ed.selection, 1)
        self._select(m, i, wrapped)

    def action_replace_all(self) -> None:
        """Alt+A: every match, as one edit (one undo step) from the first match to the last."""
        if not self._may_edit():
            return
        ed, m = self.editor, self._matches()
        if not m:
            self._say("no match", none=True)
            return
        n, pattern, text = len(m), find_pattern(self.query), self.replacement
        first, last = m.selection(0).start, m.selection(n - 1).end
        region = "\n".join(m.lines)[m.spans[0][0] : m.spans[-1][1]]
        ed.history.checkpoint()
        ed.replace(pattern.sub(lambda _: text, region), first, last, maintain_selection_offset=False)
        ed.history.checkpoint()
        self._highlight(pattern)
        self._say(f"replaced {n}")
        self.app.notify(f"Replaced {n} match{'es' if n != 1 else ''}; Ctrl+Z undoes it.", timeout=3)

    # --- go to line ---------------------------------------------------------------------------

    @on(Input.Submitted, "#goto-input")
    def _goto(self, event: Input.Submitted) -> None:
        event.stop()
        ed = self.editor
        lines = ed.document.line_count
        m = GOTO.fullmatch(event.value)
        row = int(m.group(1)) if m else 0
        if not 1 <= row <= lines:
            self.app.notify(f"Go to line: '{event.value.strip()}' is not a line here (line or line:column, 1–{lines}).",
                            severity="warning", timeout=4)
            return
        col = int(m.group(2)) if m.group(2) else 1
        line = ed.document[row - 1]
        ed.move_cursor((row - 1, min(max(col, 1) - 1, len(line))))
        self.display = False
        ed.focus()
        ed.scroll_cursor_visible(center=True)
