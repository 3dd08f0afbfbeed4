"""The command palette's editor commands (Textual's own commands stay alongside)."""

from __future__ import annotations

from functools import partial

from textual.command import CommandInput, CommandPalette, DiscoveryHit, Hit, Hits, Provider

from charcomplete.tui.safe_text import ControlsHidden, name_shown


class EditorCommands(Provider):
    """Switch model, train, toggles, save."""

    def _commands(self) -> list[tuple[str, object, str]]:
        from charcomplete.registry import list_checkpoints

        app = self.app
        current = app.model.completer.name if app.model.completer is not None else None
        out = []
        for e in list_checkpoints():
            mark = " (current)" if e.name == current else ""
            out.append((f"Switch model: {name_shown(e.name)}", partial(app.action_switch_model, e.name),
                        f"{e.source} model{mark}: {e.about or name_shown(str(e.path))}"))
        out += [
            ("Train model on this file", app.action_train_file, "train a model on this buffer, then switch to it"),
            ("Train model on a folder…", app.action_train_folder, "train a model on a folder of text, then switch to it"),
        ]
        if app.training_running:
            out.append(("Cancel training", app.action_cancel_training, "stop the run (resume it later); the current model stays"))
        else:
            from charcomplete.resume import paused_runs

            for name in paused_runs():
                out.append((f"Resume training: {name_shown(name)}", partial(app.action_resume_training, name),
                            "continue the cancelled run exactly where it stopped"))
        out += [
            ("Toggle suggestions", app.action_toggle_suggestions, "turn ghost-text suggestions on or off"),
            ("Toggle attention sparkline", app.action_toggle_sparkline, "show or hide the attention sparkline"),
            ("Toggle learning from neighbouring files", app.editor.action_toggle_neighbours,
             "learn from the files beside this one (F4; nothing leaves the machine)"),
            ("Save", app.action_save, "write the file (atomically)"),
            ("Save as…", app.action_save_as, "write the text to another file and edit that one"),
            ("Find…", app.action_find, "search this file (Ctrl+F; Enter / Shift+Enter: next / previous)"),
            ("Replace…", app.action_replace, "find and replace (Ctrl+R; Alt+A: replace all)"),
            ("Go to line…", app.action_goto_line, "jump to a line, or line:column (Ctrl+G)"),
        ]
        return out

    async def discover(self) -> Hits:
        for name, command, help_text in self._commands():
            yield DiscoveryHit(name, command, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, command, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), command, text=name, help=help_text)


class EditorPalette(CommandPalette):
    """Textual's palette, its search field drawing control characters (a paste of escape codes) as
    zero-width spaces (safe_text), and never narrower than 24 columns (in a terminal of 4–6 its
    list had no width left, and Textual crashed wrapping a command: `range() arg 3 must not be zero`)."""

    DEFAULT_CSS = """
    EditorPalette > Vertical { min-width: 24; }
    """

    def on_mount(self) -> None:
        self.query_one(CommandInput).highlighter = ControlsHidden()
