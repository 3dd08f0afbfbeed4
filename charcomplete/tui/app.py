"""`charcomplete edit FILE`: the App. Layout, keys and the actions that tie the widgets together.

    ┌ GhostEditor (TextArea + model ghost text) ─────────────┐
    │ AttentionSparkline (bars over the last W characters)   │
    │ TrainingPanel (only while training)                    │
    │ StatusBar                                              │
    └ Footer ────────────────────────────────────────────────┘
"""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile
import threading
import time
from pathlib import Path

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, TextArea

from charcomplete.document import Document, DocumentError
from charcomplete.vocab import normalize_newlines
from charcomplete.tui.commands import EditorCommands
from charcomplete.tui.dialogs import overwrite_dialog, quit_dialog, recovery_dialog
from charcomplete.tui.editor import GhostEditor
from charcomplete.tui.find import FindBar
from charcomplete.tui.model import ModelHost
from charcomplete.tui.sparkline import AttentionSparkline
from charcomplete.tui.statusbar import StatusBar
from charcomplete.jobs import FINETUNE_LR, SCRATCH_LR, TrainRequest, load_paused, unique_model_name
from charcomplete.tui.messages import LearningChanged, SuggestionAccepted, SuggestionFailed, SuggestionReady, TrainingFinished
from charcomplete.tui.training import TrainDialog, TrainingPanel

LANGUAGES = {".py": "python", ".md": "markdown", ".markdown": "markdown", ".json": "json", ".toml": "toml",
             ".yaml": "yaml", ".yml": "yaml", ".html": "html", ".htm": "html", ".css": "css", ".js": "javascript",
             ".rs": "rust", ".go": "go", ".sh": "bash", ".bash": "bash", ".sql": "sql", ".java": "java", ".xml": "xml"}


SIGNAL_EXIT_GRACE = 1.0  # seconds a clean exit may take after SIGTERM / SIGHUP before os._exit


def _exit_after(seconds: float, code: int) -> None:
    """The watchdog of a signalled exit: the recovery file is written; if the clean exit has not
    ended the process by now (the terminal is gone, Textual's output thread hangs), end it."""
    time.sleep(seconds)
    os._exit(code)


class EditorApp(App):
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
        self.title = f"charcomplete — {document.path.name}"
        self._editor: GhostEditor | None = None
        self._dirty = False
        self._restored = False
        self._recovery_kept = False  # "Later" in the recovery prompt: saves keep the recovery file (issue 15, item 2)
        self._counted_accept = True

    # --- layout -------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        doc = self.document
        self._editor = GhostEditor(doc.text, self.model, id="editor", read_only=doc.read_only,
                                   language=LANGUAGES.get(doc.path.suffix.lower()))
        if doc.has_long_lines:
            self._editor.soft_wrap = False  # wrapping a very long line costs O(line) per keystroke
        yield self._editor
        yield AttentionSparkline(id="sparkline")
        yield TrainingPanel(id="training")
        yield FindBar(self._editor, id="find")
        yield StatusBar(id="status")
        yield Footer()

    @property
    def editor(self) -> GhostEditor:
        return self._editor  # kept after unmounting too, so a late crash can still save the buffer

    @property
    def status(self) -> StatusBar:
        return self.query_one(StatusBar)

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
        if self.document.read_only:
            self.notify(f"Opened read-only: {self.document.read_only_reason}.", severity="warning", timeout=8)
        recovered = self.document.read_recovery()
        if self.document.recovery_refused:  # a planted symlink, FIFO, device or another user's file
            self.notify(self.document.recovery_refused, severity="warning", timeout=8)
        if recovered is not None:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.document.recovery_path.stat().st_mtime))
            self.push_screen(recovery_dialog(self.document.path.name, when), lambda c: self._recovery_chosen(c, recovered))

    def _show_model(self) -> None:
        c = self.model.completer
        if c is None:  # loading after the first paint, or the load failed
            self.status.model = self._loading
            self.status.activity = "loading model…" if self._load is not None else ""
            return
        self.status.model = self.model.label
        self.status.device = c.device
        self.query_one(AttentionSparkline).update([], "", "attention" if c.kind == "attention" else "confidence (lstm)")

    def buffer_text(self) -> str:
        return normalize_newlines(self.editor.text)

    def is_modified(self) -> bool:
        return self.document.is_modified(self.buffer_text())

    def notify(self, message: str, *, markup: bool = False, **kw) -> None:
        """Notifications are plain text: they hold file names, paths, model names and errors, and
        `[/` in one crashed the editor with a MarkupError (issue 15, item 15)."""
        super().notify(message, markup=markup, **kw)

    # --- what the widgets report ----------------------------------------------------------

    def on_suggestion_ready(self, message: SuggestionReady) -> None:
        s = message.suggestion
        self.query_one(AttentionSparkline).show(s, self.model.completer.kind)
        self.status.latency_ms = s.latency_ms
        self.status.confidence = s.confidence if s.text else None
        if message.new:
            self.status.shown += 1
            self._counted_accept = False

    def on_suggestion_accepted(self, message: SuggestionAccepted) -> None:
        if not self._counted_accept:  # one acceptance per suggestion shown (Ctrl+→ may take it word by word)
            self.status.accepted += 1
            self._counted_accept = True

    def on_suggestion_failed(self, message: SuggestionFailed) -> None:
        self.editor.suggestions_enabled = False
        self.status.suggestions_on = False
        self.notify(f"The model failed ({message.error}); suggestions are off (F2 turns them on).", severity="error")

    def on_learning_changed(self, message: LearningChanged) -> None:
        self.status.learned = message.label

    def on_text_area_changed(self, message: TextArea.Changed) -> None:
        self._dirty = True
        self.status.modified = True
        self.status.cursor = self.editor.cursor_location

    def on_text_area_selection_changed(self, message: TextArea.SelectionChanged) -> None:
        self.status.cursor = self.editor.cursor_location

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
            self.notify(str(e), severity="error", timeout=10)
            return
        if not self._recovery_kept:  # the user chose "Later": the recovered text is not theirs to lose yet
            self.document.remove_recovery()
        self._dirty = False
        self.status.modified = False
        self.notify(f"Saved {self.document.path.name}", timeout=2)
        if then is not None:
            then()

    async def action_quit(self) -> None:
        """Ctrl+Q: quit; with unsaved changes ask save / discard / cancel."""
        if not self.is_modified():
            self._leave()
            return

        def chosen(choice: str) -> None:
            if choice == "save":
                self.action_save(then=self._leave)
            elif choice == "discard":
                if self._restored:
                    self.document.remove_recovery()
                self._leave()

        self.push_screen(quit_dialog(self.document.path.name), chosen)

    def _leave(self) -> None:
        self.action_cancel_training()
        self.exit()

    def _recovery_chosen(self, choice: str, text: str) -> None:
        if choice == "restore":
            self.editor.replace(text, (0, 0), self.editor.document.end)  # undoable: Ctrl+Z gives back the file
            self._restored = True
            self.notify("Recovered text restored; save to keep it.")
        elif choice == "discard":
            self.document.remove_recovery()
        else:  # "later" (or Escape): keep the recovery file until a later edit restores or discards it
            self._recovery_kept = True

    # --- never lose the buffer: signals and crashes ------------------------------------------

    def _install_signal_handlers(self) -> None:
        # A plain signal handler, not loop.add_signal_handler: that one only runs when the event
        # loop gets to it, and a loop busy with 10,000 pasted keys, or blocked on a terminal that
        # is gone, never did (no recovery file, the process alive for minutes; issue 15). Python
        # runs this between two bytecodes of the main thread, even inside a blocked lock wait.
        self._loop = asyncio.get_running_loop()
        self._signalled = False
        self._previous_handlers = {}
        for sig in (signal.SIGTERM, signal.SIGHUP):
            try:
                self._previous_handlers[sig] = signal.signal(sig, self._on_signal_now)
            except (AttributeError, ValueError, OSError):
                pass  # not the main thread (some test runners) or not a POSIX platform

    def on_unmount(self) -> None:
        for sig, handler in getattr(self, "_previous_handlers", {}).items():
            try:
                signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
            except (ValueError, OSError):
                pass

    def _on_signal_now(self, sig: int, frame=None) -> None:
        """SIGTERM / SIGHUP: the recovery file from the buffer as it is now, first, before anything
        that can block; then a clean exit, and os._exit if that has not finished within
        SIGNAL_EXIT_GRACE seconds. Textual's WriterThread.stop waits forever on a terminal that is
        gone (its queue is never drained), and a second signal never ended it (issue 15)."""
        code = 128 + sig
        if self._signalled:
            os._exit(code)  # a second signal: at once
        self._signalled = True
        self.write_recovery()
        threading.Thread(target=_exit_after, args=(SIGNAL_EXIT_GRACE, code), name="exit-watchdog", daemon=True).start()
        try:
            self._loop.call_soon_threadsafe(self._on_signal, sig)
        except RuntimeError:  # the loop is closed: nothing left to end cleanly
            os._exit(code)

    def _on_signal(self, sig: int) -> None:
        self.write_recovery()
        self.action_cancel_training()
        self.exit(return_code=128 + sig)

    def write_recovery(self) -> Path | None:
        """Keep unsaved changes in the recovery file (called on SIGTERM, SIGHUP and crashes)."""
        try:
            if self._editor is None or not self.is_modified():
                return None
            return self.document.write_recovery(self.buffer_text())
        except Exception:
            return None

    def _handle_exception(self, error: Exception) -> None:
        self.write_recovery()
        super()._handle_exception(error)

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

    def _model_failed(self, name: str, error: str) -> None:
        self.status.activity = ""
        self.notify(f"Could not load {name}: {error}", severity="error")

    def _use_model(self, completer, note: str) -> None:
        self.model.swap(completer)
        self.status.activity = ""
        self._show_model()
        self.editor.update_suggestion()
        if note:
            self.notify(note)

    # --- training -----------------------------------------------------------------------------

    def _train_request(self, corpus: list[str], name: str, description: str) -> TrainRequest:
        """A job that fine-tunes the model in use (the form offers a new model from scratch too)."""
        c = self.model.completer
        init = str(c.path) if c.path is not None else None
        req = TrainRequest(corpus=corpus, name=unique_model_name(name), kind=c.kind, device=c.device, description=description,
                           init=init, lr=FINETUNE_LR if init else SCRATCH_LR)
        for k, v in self.train_overrides.items():
            setattr(req, k, v)
        return req

    def action_train_file(self) -> None:
        """Train a model on this buffer (as it is now, saved or not)."""
        if self._refuse_second_run():
            return
        text = self.buffer_text()
        if len(text) < 64:
            self.notify("This file is too short to train on; try 'Train model on a folder…'.", severity="warning")
            return
        tmp = None
        try:  # a copy of the buffer for the trainer to read
            fd, tmp = tempfile.mkstemp(prefix=f"{self.document.path.stem}-", suffix=".txt")
            with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as f:
                f.write(text)
        except OSError as e:
            if tmp:
                Path(tmp).unlink(missing_ok=True)
            self.notify(f"Cannot train: no room for a copy of the text ({e.strerror or e}).", severity="error")
            return
        req = self._train_request([tmp], f"{self.document.path.stem}-{self.model.completer.kind}", self.document.path.name)
        req.cleanup.append(Path(tmp))
        self.push_screen(TrainDialog(req, ask_path=False), lambda chosen: self._start_training(chosen, req))

    def action_train_folder(self) -> None:
        if self._refuse_second_run():
            return
        req = self._train_request([], f"notes-{self.model.completer.kind}", "")
        self.push_screen(TrainDialog(req, ask_path=True), lambda chosen: self._start_training(chosen, req))

    def _refuse_second_run(self) -> bool:
        if self.model.completer is None:  # training starts from the model's kind and device
            self.notify("The model is not loaded; training needs it.", severity="warning")
            return True
        if self.training_running:
            self.notify("A model is already training (Cancel it first).", severity="warning")
        return self.training_running

    def _start_training(self, chosen: TrainRequest | None, asked: TrainRequest) -> None:
        if chosen is None:  # the form was cancelled
            for p in asked.cleanup:
                p.unlink(missing_ok=True)
            return
        self.status.activity = "training"
        c = self.model.completer
        self.query_one(TrainingPanel).start(chosen, c.load_options(), compare_with=str(c.path) if c.path else None)

    def action_resume_training(self, name: str) -> None:
        """Continue a cancelled run exactly where it stopped."""
        if self._refuse_second_run():
            return
        try:
            req = load_paused(name)
        except ValueError as e:
            self.notify(str(e), severity="error")
            return
        self._start_training(req, req)

    def action_cancel_training(self) -> None:
        panel = self.query_one(TrainingPanel)
        if panel.running:
            panel.cancel()

    def on_training_finished(self, message: TrainingFinished) -> None:
        self.status.activity = ""
        req = message.request
        if message.cancelled:
            self.notify(f"Training cancelled; still using {self.model.completer.name}. "
                        f"'Resume training: {req.name}' in the palette (Ctrl+P) continues it.")
        elif message.error:
            self.notify(f"Training failed: {message.error}", severity="error", timeout=10)
        else:
            self._finished_model(message.completer, message.outcome)

    def _finished_model(self, completer, outcome) -> None:
        """Switch to a newly trained model only when it predicts the text's held-out tail better."""
        old = self.model.completer
        new = outcome.new if outcome is not None else None
        if outcome is not None and outcome.note:
            self.notify(outcome.note, timeout=10)
        scores = "" if new is None else f"{new.bpc:.3f} bpc, KSR {new.ksr:.3f} on the held-out tail"
        if outcome is None or outcome.old is None:
            self._use_model(completer, f"Trained '{completer.name}' ({scores}); switched to it (saved in your data dir).")
            return
        was = f"{outcome.old.bpc:.3f} bpc, KSR {outcome.old.ksr:.3f}"
        if outcome.better:
            self._use_model(completer, f"Trained '{completer.name}': {scores} (was {was} with {old.name}); switched to it.")
        else:
            self.notify(f"Kept {old.name}: it scores {was} on the held-out tail; the new '{completer.name}' scores {scores}. "
                        f"The new one is saved: pick it in the palette (Ctrl+P).", markup=False, timeout=15)

    # --- find, replace, go to line (the bar is in find.py) ---------------------------------------

    def action_find(self) -> None:
        self.query_one(FindBar).open("find")

    def action_replace(self) -> None:
        self.query_one(FindBar).open("replace")

    def action_goto_line(self) -> None:
        self.query_one(FindBar).open("goto")

    # --- toggles ------------------------------------------------------------------------------

    def action_toggle_suggestions(self) -> None:
        on = not self.editor.suggestions_enabled
        self.editor.suggestions_enabled = on
        self.status.suggestions_on = on
        self.notify("Suggestions on" if on else "Suggestions off", timeout=2)

    def action_toggle_sparkline(self) -> None:
        spark = self.query_one(AttentionSparkline)
        spark.display = not spark.display
