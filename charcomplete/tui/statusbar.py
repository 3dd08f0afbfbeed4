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

    def render(self) -> Text:
        sep = (" │ ", "dim")
        name = (name_shown(self.file_name) or "untitled") + (" ●" if self.modified else "") + (" [read-only]" if self.read_only else "")
        lat = f"{self.latency_ms:.1f} ms" if self.latency_ms is not None else "– ms"
        conf = f"conf {self.confidence:.2f}" if self.confidence is not None else "conf –"
        acc = self.acceptance
        rate = f"acc {self.accepted}/{self.shown}" + (f" {acc:.0%}" if acc is not None else "")
        parts: list = [(name, "bold"), sep, self.model, sep, self.device, sep]
        if self.suggestions_on:
            parts += [lat, sep, conf, sep, rate]
            if self.learned:
                parts += [sep, (self.learned, "dim")]
        else:
            parts += [("suggestions off", "italic")]
        if self.activity:
            parts += [sep, (self.activity, "bold")]
        row, col = self.cursor
        pos = f"Ln {row + 1}, Col {col + 1}"
        text = Text.assemble(" ", *parts)
        room = self.size.width - len(pos) - 2
        if text.cell_len > room:  # a narrow terminal: the middle gives way, Ln:Col stays
            text.truncate(max(room, 1), overflow="ellipsis")
        pad = max(1, self.size.width - text.cell_len - len(pos) - 1)
        return Text.assemble(text, " " * pad, pos, " ")
