"""Modal questions that protect the user's text and work: quit with unsaved changes or while a
model trains, overwrite a file changed on disk, restore a recovery file. Each is a `Choice`: a message and buttons, each
button with a key; the screen's result is the chosen button's id. `PathPrompt` asks for a file name (Save as)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from charcomplete.tui.safe_text import ControlsHidden, name_shown


class Choice(ModalScreen[str]):
    """Ask one question; dismiss with the id of the chosen option (Esc: the cancel option)."""

    DEFAULT_CSS = """
    Choice { align: center middle; }
    Choice > Vertical { width: 64; height: auto; border: thick $warning; background: $surface; padding: 1 2; }
    Choice Label { width: 100%; margin-bottom: 1; }
    Choice Horizontal { height: auto; align-horizontal: right; }
    Choice Button { margin-left: 1; }
    """

    def __init__(self, message: str, options: list[tuple[str, str, str, str]], cancel: str):
        """options: (id, label, key, variant); `cancel` is the id Esc chooses."""
        super().__init__()
        self.message = message
        self.options = options
        self.cancel = cancel
        self._keys = {key: oid for oid, _, key, _ in options}

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(name_shown(self.message, lines=True), id="question", markup=False)  # names and paths are the user's: never markup (issue 15, item 15)
            with Horizontal():
                for oid, label, key, variant in self.options:
                    yield Button(f"{label} ({key})", id=oid, variant=variant)

    BINDINGS = [Binding("escape", "choose_cancel", "Cancel")]

    def action_choose_cancel(self) -> None:
        self.dismiss(self.cancel)

    def on_key(self, event) -> None:
        if event.key in self._keys:
            event.stop()
            self.dismiss(self._keys[event.key])

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id)


class PathPrompt(ModalScreen[str | None]):
    """Ask for a path, the current one filled in; Enter gives what was typed, Esc None."""

    DEFAULT_CSS = """
    PathPrompt { align: center middle; }
    PathPrompt > Vertical { width: 72; height: auto; border: thick $primary; background: $surface; padding: 1 2; }
    PathPrompt Label { width: 100%; margin-bottom: 1; }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, message: str, value: str):
        super().__init__()
        self.message = message
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(name_shown(self.message, lines=True), markup=False)
            yield Input(self.value, id="path-input", highlighter=ControlsHidden())

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)


def replace_dialog(path: str) -> Choice:
    return Choice(
        f"{path} exists. Replace it with this text?",
        [("overwrite", "Replace", "r", "error"), ("cancel", "Cancel", "c", "default")],
        cancel="cancel",
    )


def quit_dialog(name: str, why: str = "has unsaved changes") -> Choice:
    return Choice(
        f"{name} {why}.",
        [("save", "Save", "s", "primary"), ("discard", "Discard", "d", "error"), ("cancel", "Cancel", "c", "default")],
        cancel="cancel",
    )


def overwrite_dialog(name: str, reason: str) -> Choice:
    return Choice(
        f"{name} changed on disk since it was opened: {reason}.\nOverwrite it with your version?",
        [("overwrite", "Overwrite", "o", "error"), ("cancel", "Cancel", "c", "default")],
        cancel="cancel",
    )


def recovery_dialog(name: str, when: str, others: int = 0) -> Choice:
    more = ""
    if others:  # kept for later, or another session's: each is offered in turn
        more = f" {others} more recovered version{'s are' if others > 1 else ' is'} kept: Discard offers the next, Later keeps them all."
    return Choice(
        f"Unsaved changes to {name} were recovered (written {when}, when the editor was closed or crashed).\n"
        f"Restore them into the editor? (Discard deletes this recovery file.){more}",
        [("restore", "Restore", "r", "primary"), ("discard", "Discard", "d", "error"), ("later", "Later", "l", "default")],
        cancel="later",
    )


def quit_training_dialog(name: str) -> Choice:
    return Choice(
        f"The model '{name}' is still training. Quit and pause it?\n"
        f"'Resume training: {name}' in the palette (Ctrl+P) continues it later.",
        [("quit", "Quit", "q", "error"), ("cancel", "Cancel", "c", "default")],
        cancel="cancel",
    )
