"""`charcomplete edit FILE`: the App. Layout, keys and the actions that tie the widgets together.

    ┌ GhostEditor (TextArea + model ghost text) ─────────────┐
    │ AttentionSparkline (bars over the last W characters)   │
    │ TrainingPanel (only while training)                    │
    │ StatusBar                                              │
    └ Footer ────────────────────────────────────────────────┘
"""

from __future__ import annotations

import os
import time

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.command import CommandPalette
from textual.widgets import Footer, TextArea

from charcomplete.document import NEWLINE_NAMES, Document, DocumentError
from charcomplete.tui.collect import QuietCollection
from charcomplete.vocab import normalize_newlines
from charcomplete.tui.commands import EditorCommands, EditorPalette
from charcomplete.tui.dialogs import PathPrompt, overwrite_dialog, quit_dialog, quit_training_dialog, recovery_dialog, replace_dialog
from charcomplete.tui.editor import GhostEditor
from charcomplete.tui.find import FindBar
from charcomplete.tui.model import ModelHost
from charcomplete.tui.sparkline import AttentionSparkline
from charcomplete.tui.statusbar import StatusBar
from charcomplete.tui.messages import LearningChanged, SuggestionAccepted, SuggestionFailed, SuggestionReady
from charcomplete.tui.signals import SignalSafety
from charcomplete.tui.safe_text import controls_in, name_shown
from charcomplete.tui.training import EditorTraining, TrainingPanel

FIGURES_AFTER = 0.02  # s: the per-key figures (Ln:Col, latency, conf, acc) and the sparkline are drawn this long after
#                      a key, in a frame of their own: the key's ghost does not wait for them (editor_latency.py: key -> ghost
#                      p50 1.5 ms sooner, docs/benchmarks.md "The status bar in a frame of its own")

LANGUAGES = {".py": "python", ".md": "markdown", ".markdown": "markdown", ".json": "json", ".toml": "toml",
             ".yaml": "yaml", ".yml": "yaml", ".html": "html", ".htm": "html", ".css": "css", ".js": "javascript",
             ".rs": "rust", ".go": "go", ".sh": "bash", ".bash": "bash", ".sql": "sql", ".java": "java", ".xml": "xml"}


class EditorApp(QuietCollection, SignalSafety, EditorTraining, App):
    """The editor. `document`: the opened file; `completer`: the model to start with, or None
    with `load`: a function that returns it, called in a thread worker after the first paint
    (the status bar says "loading model…" meanwhile; `loading` is the model's name to show)."""

    CSS_PATH = "editor.tcss"
    COMMANDS = App.COMMANDS | {EditorCommands}
    BINDINGS = [
        Binding("ctrl+s", "save", "Save"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("f2", "toggle_suggestions", "Suggest"),
        Binding("f3", "toggle_sparkline", "Sparkline"),
        Binding("ctrl+t", "train_file", "Train"),
        Binding("ctrl+f", "find", "Find"),
        Binding("ctrl+g", "goto_line", "Go to"),
        Binding("ctrl+r", "replace", "Replace", show=False),
    ]

    def __init__(self, document: Document, completer, train_overrides: dict | None = None, load=None, loading: str = ""):
        super().__init__()
        self.document = document
        self.model = ModelHost(completer)
        self._load = load if completer is None else None
        self._loading = loading or "model"
        self.train_overrides = train_overrides or {}  # tests: tiny training settings
        self.title = f"charcomplete — {name_shown(document.path.name)}"
        self._editor: GhostEditor | None = None
        self._dirty = False
        self._restored = False
        self._trained_from = None  # the completer a training run started from (EditorTraining)
        self._counted_accept = True
        self._figures = None  # the timer that draws the per-key figures (_figures_later), while one is due
        self._last_shown = None  # (suggestion, the model's kind) the sparkline and the status bar show next
        self._shown = self._accepted = 0  # ghosts shown and taken in this session (drawn by _show_figures)

    # --- layout -------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        doc = self.document
        self._editor = GhostEditor(doc.text, self.model, id="editor", read_only=doc.read_only,
                                   language=LANGUAGES.get(doc.path.suffix.lower()))
        if doc.has_long_lines:
            self._editor.soft_wrap = False  # wrapping a very long line costs O(line) per keystroke
        yield self._editor
        self._spark = AttentionSparkline(id="sparkline")
        yield self._spark
        yield TrainingPanel(id="training")
        yield FindBar(self._editor, id="find")
        self._status = StatusBar(id="status")
        yield self._status
        yield Footer()

    @property
    def editor(self) -> GhostEditor:
        return self._editor  # kept after unmounting too, so a late crash can still save the buffer

    @property
    def status(self) -> StatusBar:
        return self._status  # kept after unmounting too: a message that lands as the app closes still has it

    @property
    def training_running(self) -> bool:
        return self.query_one(TrainingPanel).running

    def on_mount(self) -> None:
        self.query_one(TrainingPanel).display = False
        self._show_model()
        if self._load is not None:
            self._first_load()
        self.status.file_name = self.document.path.name
        self.status.read_only = self.document.read_only
        self.editor.focus()
        self._install_signal_handlers()
        self._start_quiet_collection()
        if self.document.read_only:
            self.notify(f"Opened read-only: {self.document.read_only_reason}.", severity="warning", timeout=8)
        if self.document.mixed_newlines:
            names = " and ".join(NEWLINE_NAMES[nl] for nl in self.document.mixed_newlines)
            self.notify(f"{self.document.path.name} mixes line endings ({names}): saved unedited it stays as it is; "
                        f"saved after an edit, every line ends in {NEWLINE_NAMES[self.document.newline]}.", severity="warning", timeout=10)
        if controls := controls_in(self.document.text):
            self.notify(f"{self.document.path.name} holds {controls:,} control character{'s' * (controls != 1)} (such as the "
                        "escape codes of a coloured log): kept as they are, not drawn.", severity="warning", timeout=8)
        self._offer_recovery(first=True)

    def _offer_recovery(self, first: bool = False) -> None:
        """Ask about the newest recovery file of the file, if there is one (again after a Discard)."""
        recovered = self.document.read_recovery()
        if self.document.recovery_refused and first:  # a planted symlink, FIFO, device or another user's file: said once
            self.notify(self.document.recovery_refused, severity="warning", timeout=8)
        if recovered is not None:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.document.recovery_from.stat().st_mtime))
            self.push_screen(recovery_dialog(self.document.path.name, when, self.document.recovery_others),
                             lambda c: self._recovery_chosen(c, recovered))

    def _show_model(self) -> None:
        c = self.model.completer
        if c is None:  # loading after the first paint, or the load failed
            self.status.model = self._loading
            self.status.activity = "loading model…" if self._load is not None else self._after_loading()
            return
        self.status.model = self.model.label
        self.status.device = c.device
        self._last_shown = None  # the previous model's last ghost is not drawn after this
        self._spark.update([], "", "attention" if c.kind == "attention" else "confidence (lstm)")

    def buffer_text(self) -> str:
        return normalize_newlines(self.editor.text)

    def is_modified(self) -> bool:
        return self.document.is_modified(self.buffer_text())

    def notify(self, message: str, *, markup: bool = False, **kw) -> None:
        """Notifications are plain text: they hold file names, paths, model names and errors, and
        `[/` in one crashed the editor with a MarkupError (issue 15, item 15); their control
        characters are drawn as '?' (safe_text)."""
        super().notify(name_shown(message, lines=True), markup=markup, **kw)

    # --- what the widgets report ----------------------------------------------------------

    def on_suggestion_ready(self, message: SuggestionReady) -> None:
        self._last_shown = (message.suggestion, self.model.completer.kind)
        if message.new:
            self._shown += 1
            self._counted_accept = False
        self._figures_later()

    def on_suggestion_accepted(self, message: SuggestionAccepted) -> None:
        if not self._counted_accept:  # one acceptance per suggestion shown (Ctrl+→ may take it word by word)
            self._accepted += 1
            self._counted_accept = True
            self._figures_later()

    def _figures_later(self) -> None:
        """Draw the per-key figures FIGURES_AFTER from now (from the first change since they were
        last drawn: typing faster than that, they are drawn that often)."""
        if self._figures is None:
            self._figures = self.set_timer(FIGURES_AFTER, self._show_figures, name="figures")

    def _show_figures(self) -> None:
        """The latest ghost's figures and attention, the counts and Ln:Col, drawn in the next frame."""
        self._figures = None
        if self._last_shown is not None:
            s, kind = self._last_shown
            self._last_shown = None
            if self._spark.is_attached:  # (a timer that fires as the app closes: its bars are gone)
                self._spark.show(s, kind)
            self.status.latency_ms = s.latency_ms
            self.status.confidence = s.confidence if s.text else None
        self.status.shown, self.status.accepted = self._shown, self._accepted
        self.status.cursor = self.editor.cursor_location

    def on_suggestion_failed(self, message: SuggestionFailed) -> None:
        self.editor.suggestions_enabled = False
        self.status.suggestions_on = False
        self.notify(f"The model failed ({message.error}); suggestions are off (F2 turns them on).", severity="error")

    def on_learning_changed(self, message: LearningChanged) -> None:
        self.status.learned = message.label

    def on_text_area_changed(self, message: TextArea.Changed) -> None:
        self._dirty = True
        self.status.modified = True  # (drawn once: a reactive set to the value it has is not drawn again)
        self._figures_later()

    def on_text_area_selection_changed(self, message: TextArea.SelectionChanged) -> None:
        self._figures_later()

    # --- saving and quitting --------------------------------------------------------------

    def action_save(self, then=None) -> None:
        """Ctrl+S: save atomically; ask first if the file changed on disk since it was opened."""
        doc = self.document
        if doc.read_only:
            self.notify(f"Cannot save: {doc.read_only_reason}.", severity="error")
            return
        reason = doc.changed_on_disk()
        if reason == "it was deleted":  # nothing on disk to overwrite: write it again
            self.notify(f"{doc.path.name} was deleted on disk; saving creates it again.", severity="warning")
        elif reason:
            self.push_screen(overwrite_dialog(doc.path.name, reason), lambda c: self._write(then) if c == "overwrite" else None)
            return
        self._write(then)

    def _write(self, then=None) -> None:
        try:
            self.document.save(self.buffer_text())
        except DocumentError as e:
            copy = None if e.kept else self.write_recovery()  # a save in place kept (and named) its own copy
            where = f"; your text is kept in {copy}" if copy else ""
            self.notify(f"{e}{where} (Save as… in the palette writes it elsewhere)", severity="error", timeout=10)
            return
        self.document.remove_recovery()  # this session's own (one kept for "Later" stays)
        self._dirty = False
        self.status.modified = False
        self.notify(f"Saved {self.document.path.name}", timeout=2)
        if then is not None:
            then()

    def action_save_as(self) -> None:
        """Palette: write the buffer to another file, which the editor then edits (the old one is left as it is)."""
        self.push_screen(PathPrompt("Save as (a file name; ~ and relative paths allowed)", str(self.document.path)), self._save_as)

    def _save_as(self, raw: str | None) -> None:
        if raw is None:
            return
        try:
            new = self.document.save_as_target(raw)
        except DocumentError as e:
            self.notify(str(e), severity="error")
            return
        if os.path.realpath(new.path) == os.path.realpath(self.document.path):
            self.action_save()  # the same file: a plain save (which asks if it changed on disk)
        elif os.path.exists(new.path):
            self.push_screen(replace_dialog(str(new.path)), lambda c: self._write_as(new) if c == "overwrite" else None)
        else:
            self._write_as(new)

    def _write_as(self, new: Document) -> None:
        try:
            new.save(self.buffer_text())
        except DocumentError as e:
            self.notify(str(e), severity="error", timeout=10)
            return
        self.document.remove_recovery()  # its unsaved text is saved now (one kept for "Later" stays)
        self.document, self._restored = new, False
        self._dirty = False
        self.editor.read_only = False
        self.status.file_name, self.status.read_only, self.status.modified = new.path.name, False, False
        self.title = f"charcomplete — {name_shown(new.path.name)}"
        self.notify(f"Saved as {new.path}; now editing it.", timeout=4)

    async def action_quit(self) -> None:
        """Ctrl+Q: quit; while a model trains ask first (quitting pauses the run: it can be resumed
        from the palette); with unsaved changes ask save / discard / cancel."""
        panel = self.query_one(TrainingPanel)
        if panel.running and panel.request is not None:
            self.push_screen(quit_training_dialog(panel.request.name),
                             lambda choice: self._quit_unsaved() if choice == "quit" else None)
            return
        self._quit_unsaved()

    def _quit_unsaved(self) -> None:
        why, on_disk = "has unsaved changes", None
        if not self.is_modified():  # saved; but another program (a checkout, a sync, rm) may have replaced it since
            on_disk = self.document.changed_on_disk() if self.buffer_text() else None
            if on_disk != "it was deleted" and self.buffer_text() == self.document.text:
                on_disk = None  # only viewed (a log another program appends to): their version stands
            if on_disk is None:
                self._leave()
                return
            why = f"changed on disk since you saved it ({on_disk}): your text is only in the editor now"

        def chosen(choice: str) -> None:
            if choice == "save" and on_disk:
                self._write(then=self._leave)  # the question said what is on disk: no second one
            elif choice == "save":
                self.action_save(then=self._leave)
            elif choice == "discard":
                if self._restored:
                    self.document.remove_recovery()
                self._leave()

        self.push_screen(quit_dialog(self.document.path.name, why), chosen)

    def _leave(self) -> None:
        self.action_cancel_training()
        self.exit()

    def _recovery_chosen(self, choice: str, text: str) -> None:
        if choice == "restore":
            self.editor.replace(text, (0, 0), self.editor.document.end)  # undoable: Ctrl+Z gives back the file
            self._restored = True
            self.document.claim_recovery()
            self.notify("Recovered text restored; save to keep it.")
        elif choice == "discard":
            self.document.discard_recovery()
            self._offer_recovery()  # the next one kept, if any
        # "later" (or Escape): the recovery file stays until a later edit restores or discards it;
        # this session's own recovery (a crash, a failed save) goes beside it, never over it

    # --- models -----------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="first-load", exit_on_error=False)
    def _first_load(self) -> None:
        """The model the editor opened with, loaded after the first paint (editing works meanwhile)."""
        try:
            completer = self._load()
        except Exception as e:  # a model that fails now: a notice, and editing goes on without ghosts
            self.call_from_thread(self._first_load_failed, str(e).splitlines()[0] if str(e) else type(e).__name__)
        else:
            self.call_from_thread(self._first_loaded, completer)

    def _first_loaded(self, completer) -> None:
        self._load = None
        if self.model.completer is None:  # not already replaced by a trained or switched-to model
            self._use_model(completer, "")

    def _first_load_failed(self, error: str) -> None:
        self._load = None
        if self.model.completer is None:
            self._show_model()
            self.status.model = f"{self._loading} (not loaded)"
            self.notify(f"Could not load {self._loading}: {error}. Editing works; no suggestions.", severity="error", timeout=10)

    def action_switch_model(self, name: str) -> None:
        """Load a model in a worker; the current one serves until the new one is ready."""
        if self.model.completer is None and self._load is not None:
            self.notify("The model is still loading; switch when it is ready.", severity="warning")
            return
        self.status.activity = f"loading {name}…"
        self._load_model(name)

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def _load_model(self, name: str) -> None:
        from charcomplete.completion import load_completer

        try:
            options = self.model.completer.load_options() if self.model.completer is not None else {}
            completer = load_completer(name, **options)
        except Exception as e:
            self.call_from_thread(self._model_failed, name, str(e).splitlines()[0] if str(e) else type(e).__name__)
        else:
            self.call_from_thread(self._use_model, completer, f"Switched to {completer.name} ({completer.kind})")

    def _after_loading(self) -> str:
        """The status bar's activity once a model is loaded (or failed to): a run may still train."""
        return "training" if self.training_running else ""

    def _model_failed(self, name: str, error: str) -> None:
        self.status.activity = self._after_loading()
        self.notify(f"Could not load {name}: {error}", severity="error")

    def _use_model(self, completer, note: str) -> None:
        replaced = self.model.completer is not None
        self.model.swap(completer)
        self.editor.read_again()  # its network reads the buffer as it is now
        self._refreeze(collect=replaced)
        self.status.activity = self._after_loading()  # it said nothing while a run trained on (training fuzz)
        self._show_model()
        self.editor.update_suggestion()
        if note:
            self.notify(note)

    # --- find, replace, go to line (the bar is in find.py) ---------------------------------------

    def action_find(self) -> None:
        self.query_one(FindBar).open("find")

    def action_replace(self) -> None:
        self.query_one(FindBar).open("replace")

    def action_goto_line(self) -> None:
        self.query_one(FindBar).open("goto")

    def action_command_palette(self) -> None:
        """Ctrl+P: Textual's palette, at most one. Textual checks only the top screen, so a palette
        under a dialog (Ctrl+Q pressed in it) was opened twice, which crashed the editor."""
        if self.use_command_palette and not any(isinstance(screen, CommandPalette) for screen in self.screen_stack):
            self.push_screen(EditorPalette(id="--command-palette"))

    def search_themes(self) -> None:
        """The palette's "Theme" picker: Textual's own pushed a plain CommandPalette, which drew a
        pasted escape code and crashed in a terminal a few columns wide; ours is an EditorPalette."""
        from textual.theme import ThemeProvider

        self.push_screen(EditorPalette(providers=[ThemeProvider], placeholder="Search for themes…"))

    # --- toggles ------------------------------------------------------------------------------

    def action_toggle_suggestions(self) -> None:
        on = not self.editor.suggestions_enabled
        self.editor.suggestions_enabled = on
        self.status.suggestions_on = on
        self.notify("Suggestions on" if on else "Suggestions off", timeout=2)

    def action_toggle_sparkline(self) -> None:
        spark = self._spark
        spark.display = not spark.display
