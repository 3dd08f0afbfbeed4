"""The attention sparkline: Textual's Sparkline over the last W characters, printed beneath it.

With the attention model the bars are the attention weights of the last step over the W
characters before the cursor. The lstm model has no attention; the bars are then the
confidence of each character of the suggestion, and the label says so.
"""

from __future__ import annotations

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Sparkline, Static

VISIBLE = {"\n": "⏎", "\t": "⇥", " ": "·"}


def visible_chars(text: str) -> str:
    """One cell per character: whitespace made visible, wide or control characters as '?'."""
    out = []
    for ch in text:
        ch = VISIBLE.get(ch, ch)
        out.append(ch if ch.isprintable() and cell_len(ch) == 1 else "?")
    return "".join(out)


class AttentionSparkline(Horizontal):
    """A label, then the bars with their characters beneath, column for column."""

    _width = 1  # the bars' width now (characters shown)
    _label = ""  # the label now

    def compose(self) -> ComposeResult:
        yield Label("attention", id="spark-label")
        with Vertical(id="spark-body"):
            yield Sparkline([], id="spark-bars")
            yield Static("", id="spark-chars", markup=False)

    def show(self, suggestion, kind: str) -> None:
        """Update from a Suggestion (attention for the attention model, confidence for lstm)."""
        if suggestion.attention is not None:
            data, chars = list(suggestion.attention), suggestion.attention_text
            label = f"attention · last {len(data)}"
        elif kind == "attention":  # no step taken (nothing typed yet): no bars, but still the attention model's
            data, chars, label = [], "", "attention"
        else:
            data, chars = list(suggestion.char_probs), suggestion.text
            label = "confidence (lstm)"
        self.update(data, visible_chars(chars), label)

    def update(self, data: list[float], chars: str, label: str) -> None:
        bars = self.query_one("#spark-bars", Sparkline)
        shown = self.query_one("#spark-chars", Static)
        n = min(len(data), len(chars))
        bars.data = data[-n:] if n else []
        if self._width != max(n, 1):  # a layout pass only when the width changes (rarely: W is fixed)
            self._width = bars.styles.width = shown.styles.width = max(n, 1)
        # widths are fixed, so no layout pass: it would delay the ghost's frame on every key
        shown.update(chars[-n:] if n else "", layout=False)
        if label != self._label:
            self._label = label
            self.query_one("#spark-label", Label).update(label, layout=False)
