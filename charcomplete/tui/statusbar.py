"""The status bar: file and modified marker, model, device, latency, confidence, acceptance, Ln:Col."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from charcomplete.tui.safe_text import name_shown


class StatusBar(Widget):
    file_name: reactive[str] = reactive("")
    modified: reactive[bool] = reactive(False)
    read_only: reactive[bool] = reactive(False)
    model: reactive[str] = reactive("")
    device: reactive[str] = reactive("")
    latency_ms: reactive[float | None] = reactive(None)
    confidence: reactive[float | None] = reactive(None)
    shown: reactive[int] = reactive(0)
    accepted: reactive[int] = reactive(0)
    cursor: reactive[tuple[int, int]] = reactive((0, 0))
    activity: reactive[str] = reactive("")  # "loading model…", "training 42%"
    suggestions_on: reactive[bool] = reactive(True)
    learned: reactive[str] = reactive("")  # what the document cache learned: "doc 40%", "doc + 23 files"

    @property
    def acceptance(self) -> float | None:
        return self.accepted / self.shown if self.shown else None

    # What gives way first when the terminal is too narrow for all of it (an 80-column
    # terminal holds about 75 characters): the figures a glance can do without, never the file,
    # the model, what was learned, what runs in the background, or Ln:Col.
    GIVE_WAY = ("conf", "latency", "device", "acceptance")

    def parts(self) -> list[tuple[str, str | tuple[str, str]]]:
        """(name, text or (text, style)) of each part of the line but Ln:Col, left to right."""
        name = (name_shown(self.file_name) or "untitled") + (" ●" if self.modified else "") + (" [read-only]" if self.read_only else "")
        parts: list = [("file", (name, "bold")), ("model", self.model), ("device", self.device)]
        if self.suggestions_on:
            acc = self.acceptance
            parts += [("latency", f"{self.latency_ms:.1f} ms" if self.latency_ms is not None else "– ms"),
                      ("conf", f"conf {self.confidence:.2f}" if self.confidence is not None else "conf –"),
                      ("acceptance", f"acc {self.accepted}/{self.shown}" + (f" {acc:.0%}" if acc is not None else ""))]
            if self.learned:
                parts.append(("learned", (self.learned, "dim")))
        else:
            parts.append(("off", ("suggestions off", "italic")))
        if self.activity:
            parts.append(("activity", (self.activity, "bold")))
        return parts

    def render(self) -> Text:
        row, col = self.cursor
        pos = f"Ln {row + 1}, Col {col + 1}"
        room = self.size.width - len(pos) - 2
        parts = self.parts()
        text = self._assemble(parts)
        for name in self.GIVE_WAY:  # a narrow terminal: the least needed parts go first
            if text.cell_len <= room:
                break
            parts = [part for part in parts if part[0] != name]
            text = self._assemble(parts)
        if text.cell_len > room:  # narrower still: the middle is cut, Ln:Col stays
            text.truncate(max(room, 1), overflow="ellipsis")
        pad = max(1, self.size.width - text.cell_len - len(pos) - 1)
        return Text.assemble(text, " " * pad, pos, " ")

    @staticmethod
    def _assemble(parts: list) -> Text:
        pieces: list = [" "]
        for i, (_, piece) in enumerate(parts):
            if i:
                pieces.append((" │ ", "dim"))
            pieces.append(piece)
        return Text.assemble(*pieces)
