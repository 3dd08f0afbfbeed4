"""Text from the user's files and names made safe to draw.

A control character reaches the terminal as it is (Rich drops only BEL, BS, VT, FF and CR): ESC in
a file starts an escape sequence that recolours the screen, moves the cursor, retitles the window
or, in some terminals, sets the clipboard. A log with colour codes garbled the editor, and a file
someone sent could drive the terminal. Drawn text goes through here first.
"""

from __future__ import annotations

import re

from rich.highlighter import Highlighter
from rich.text import Text

# C0 but Tab and Newline (a ghost may hold them), DEL, C1
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
CONTROL_OR_BREAK = re.compile("[\x00-\x1f\x7f-\x9f]")  # in a name, Tab and Newline too
ZERO_WIDTH_SPACE = "\u200b"


def line_shown(line: str) -> str:
    """A buffer line to draw: each control character as a zero-width space. One character for one,
    so TextArea's columns (selection, cursor, find matches) still index it; zero cells wide, as
    TextArea measures a control character, so the cursor's cell stays right."""
    return CONTROL.sub(ZERO_WIDTH_SPACE, line)


def name_shown(text: str, lines: bool = False) -> str:
    """A file name or path to draw: each control character as '?', as `ls` shows them. `lines`:
    a message, whose line breaks and tabs stay."""
    return (CONTROL if lines else CONTROL_OR_BREAK).sub("?", text)


def controls_in(text: str) -> int:
    """How many control characters `text` holds (Tab and Newline not counted)."""
    return len(CONTROL.findall(text))


class ControlsHidden(Highlighter):
    """An Input's highlighter: its control characters drawn as zero-width spaces (a selection with
    escape codes fills the find field); its value keeps them."""

    def highlight(self, text: Text) -> None:
        text.plain = line_shown(text.plain)  # one for one: the styles' offsets stay
