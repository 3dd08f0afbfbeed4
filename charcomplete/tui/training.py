"""Training from the editor: a form, then a panel with a ProgressBar, live bpc curves and Cancel.

The run is a training job (`charcomplete.jobs.run_training`: the shared trainer, a partial
file renamed when done, a cancelled run kept to be resumed) in a thread worker; the editor
stays usable meanwhile. "Resume training: NAME" in the palette continues a cancelled run
exactly where it stopped.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.validation import Number
from textual.widgets import Button, Input, Label, ProgressBar, Select, Sparkline

from charcomplete.config import KINDS
from charcomplete.jobs import FINETUNE_LR, SCRATCH_LR, TrainRequest, load_paused, new_name_problem, run_training, unique_model_name
from charcomplete.tui.messages import TrainingFinished, TrainingProgressed
from charcomplete.tui.safe_text import ControlsHidden, name_shown

CURVE_WIDTH = 20  # validations shown in each curve (the latest)
FINETUNE = "fine-tune"  # the form's choice: fine-tune the model in use


class TrainDialog(ModalScreen[TrainRequest | None]):
    """What to train: corpus path, model name, fine-tune the model in use or a new one, minutes."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, request: TrainRequest, ask_path: bool):
        super().__init__()
        self.request = request
        self.ask_path = ask_path

    def compose(self) -> ComposeResult:
        r = self.request
        with Vertical(id="train-form"):
            yield Label("Train a model" + (" on a folder or file" if self.ask_path else f" on {name_shown(r.description)}"), classes="title", markup=False)
            if self.ask_path:
                yield Label("Folder or file (text files are read recursively)")
                yield Input(", ".join(r.corpus), placeholder="~/notes", id="train-corpus", highlighter=ControlsHidden())
            yield Label("Model name (saved in your data dir)")
            yield Input(r.name, id="train-name", highlighter=ControlsHidden())
            with Horizontal(classes="row"):
                starts = ([(f"fine-tune {Path(r.init).stem}", FINETUNE)] if r.init else []) + [(f"new {k} model", k) for k in KINDS]
                yield Select(starts, value=FINETUNE if r.init else r.kind, allow_blank=False, id="train-kind",
                             tooltip="Fine-tune the model in use (better on small texts), or train a new one from scratch")
                yield Input(f"{r.max_minutes:g}", id="train-minutes", validators=[Number(minimum=0.01)], tooltip="minutes",
                        highlighter=ControlsHidden())
                yield Label("minutes")
            with Horizontal(classes="buttons"):
                yield Button("Train", id="train-start", variant="primary")
                yield Button("Cancel", id="train-cancel")

    def on_mount(self) -> None:
        self.query_one("#train-corpus" if self.ask_path else "#train-name", Input).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._start()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self._start() if event.button.id == "train-start" else self.dismiss(None)

    def _start(self) -> None:
        r = self.request
        if self.ask_path:
            raw = self.query_one("#train-corpus", Input).value.strip()
            if not raw:
                self.notify("Give a folder or file to train on.", severity="warning")
                return
            r.corpus = [os.path.expanduser(raw)]
            r.description = raw
        name = self.query_one("#train-name", Input).value.strip() or r.name
        problem = new_name_problem(name)
        if problem:
            self.app.notify(problem, severity="warning")  # the app's: plain text (the name is the user's)
            return
        r.name = name
        start = str(self.query_one("#train-kind", Select).value)
        if start != FINETUNE:  # a new model from scratch
            r.init, r.kind, r.lr = None, start, SCRATCH_LR
        try:
            r.max_minutes = float(self.query_one("#train-minutes", Input).value)
        except ValueError:
            r.max_minutes = float("nan")
        if not r.max_minutes > 0:  # 0, -1 or nan closed the form, and the run failed in its worker
            self.notify("Minutes must be a number above 0.", severity="warning")
            return
        self.dismiss(r)


class TrainingPanel(Vertical):
    """Progress of the run: ProgressBar, train/val bpc curves as they come, Cancel."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._stop = threading.Event()
        self.running = False
        self.request: TrainRequest | None = None  # the run in progress (or the last one)
        self.train_curve: list[float] = []
        self.val_curve: list[float] = []

    def compose(self) -> ComposeResult:
        with Horizontal(classes="row"):
            yield Label("", id="train-title")
            yield Button("Cancel", id="train-cancel-run", variant="error", compact=True)
        with Horizontal(classes="row"):
            yield ProgressBar(total=1.0, show_eta=False, id="train-progress")
            yield Label("", id="train-stats")
        with Horizontal(classes="row"):
            yield Label("train bpc", classes="curve-label")
            yield Sparkline([], id="train-curve")
            yield Label("", id="train-last", classes="curve-value")
            yield Label("val bpc", classes="curve-label")
            yield Sparkline([], id="val-curve")
            yield Label("", id="val-last", classes="curve-value")

    def start(self, request: TrainRequest, load_options: dict, compare_with: str | None = None) -> None:
        """Run `request`; the new model is loaded with `load_options` and scored against the
        checkpoint `compare_with` (the model in use) on the text's held-out tail."""
        self.running = True
        self.request = request
        self._stop.clear()
        self.train_curve, self.val_curve = [], []
        self.query_one("#train-title", Label).update(escape(name_shown(f"Training {request.kind} model '{request.name}' on {request.description}")))
        self.query_one("#train-progress", ProgressBar).update(progress=0)
        self.query_one("#train-stats", Label).update("reading the text…")
        for sel in ("#train-curve", "#val-curve"):
            self.query_one(sel, Sparkline).data = []
        for sel in ("#train-last", "#val-last"):
            self.query_one(sel, Label).update("")
        self.display = True
        self._train(request, load_options, compare_with)

    def cancel(self) -> None:
        self._stop.set()
        self.query_one("#train-stats", Label).update("cancelling…")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "train-cancel-run":
            event.stop()
            self.cancel()

    @work(thread=True, exclusive=True, group="train", exit_on_error=False)
    def _train(self, request: TrainRequest, load_options: dict, compare_with: str | None) -> None:
        from charcomplete.completion import load_completer
        from charcomplete.errors import TrainingInterrupted

        last = [0.0]

        def on_progress(p) -> None:
            now = time.perf_counter()
            if p.kind != "step" or now - last[0] >= 0.1:  # every validation, steps at most 10 a second
                last[0] = now
                self.post_message(TrainingProgressed(p))

        try:
            outcome = run_training(request, on_progress, self._stop.is_set, compare_with=compare_with)
            completer = load_completer(outcome.path, **load_options)  # runs as the model it replaces
        except TrainingInterrupted:
            self.post_message(TrainingFinished(request, cancelled=True))
        except Exception as e:  # shown to the user as one line
            self.post_message(TrainingFinished(request, error=str(e).splitlines()[0] if str(e) else type(e).__name__))
        else:
            self.post_message(TrainingFinished(request, completer=completer, outcome=outcome))
        finally:
            for p in request.cleanup:
                Path(p).unlink(missing_ok=True)

    def on_training_progressed(self, message: TrainingProgressed) -> None:
        message.stop()
        p = message.progress
        self.query_one("#train-progress", ProgressBar).update(progress=p.fraction)
        eta = f" · ETA {int(p.eta) // 60}:{int(p.eta) % 60:02d}" if p.eta is not None else ""
        total = f"/{p.total_steps}" if p.total_steps else ""
        self.query_one("#train-stats", Label).update(f"step {p.step}{total} · {p.chars_per_s / 1000:.1f}k chars/s{eta}")
        if p.kind == "eval":
            if p.train_bpc is not None:
                self.train_curve.append(p.train_bpc)
            if p.val_bpc is not None:
                self.val_curve.append(p.val_bpc)
            for sel, curve in (("#train-curve", self.train_curve), ("#val-curve", self.val_curve)):
                spark = self.query_one(sel, Sparkline)
                spark.data = curve[-CURVE_WIDTH:]
                spark.styles.width = max(1, min(len(curve), CURVE_WIDTH))  # one column per validation
            if self.train_curve:
                self.query_one("#train-last", Label).update(f"{self.train_curve[-1]:.3f}")
            if self.val_curve:
                self.query_one("#val-last", Label).update(f"{self.val_curve[-1]:.3f}")

    def on_training_finished(self, message: TrainingFinished) -> None:
        self.running = False
        self.display = False  # the message bubbles on to the app, which switches the model


class EditorTraining:
    """The editor's training actions (Ctrl+T, the palette), as a mixin of `EditorApp`: a job that
    fine-tunes the model in use, the form, the panel, and switching only to a better model."""

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
        if "\x00" in text:  # the trainer skips a file with a NUL as binary, and would name the copy
            self.notify(f"{self.document.path.name} holds NUL characters (binary data): the trainer reads text only.",
                        severity="warning")
            return
        stem = self.document.path.stem[:40]  # of a file name up to 255 bytes: the copy's and the model's names must fit too
        tmp = None
        try:  # a copy of the buffer for the trainer to read
            fd, tmp = tempfile.mkstemp(prefix=f"{stem}-", suffix=".txt")
            with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as f:
                f.write(text)
        except OSError as e:
            if tmp:
                Path(tmp).unlink(missing_ok=True)
            self.notify(f"Cannot train: no room for a copy of the text ({e.strerror or e}).", severity="error")
            return
        base = self.model.completer.name  # "notes-prose": this file's, from the prose model
        req = self._train_request([tmp], base if base.startswith(f"{stem}-") else f"{stem}-{base}", self.document.path.name)
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
        self._trained_from = c  # the model the run is scored against (the user may pick another meanwhile)
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
        scores = "" if new is None else f"{new} on the held-out tail"
        base = self._trained_from or old
        if old is not base and (old.path is None or old.path != base.path):  # the user picked another model while it trained: that choice stands
            was = "" if outcome is None or outcome.old is None else f" (was {outcome.old} with {base.name})"
            scored = f": {scores}{was}" if scores else ""
            self.notify(f"Trained '{completer.name}'{scored}. You picked {old.name} meanwhile, so it stays; "
                        f"pick '{completer.name}' in the palette (Ctrl+P).", markup=False, timeout=15)
            return
        if outcome is None or outcome.old is None:
            self._use_model(completer, f"Trained '{completer.name}' ({scores}); switched to it (saved in your data dir).")
            return
        was = str(outcome.old)
        if outcome.better:
            self._use_model(completer, f"Trained '{completer.name}': {scores} (was {was} with {old.name}); switched to it.")
        else:
            self.notify(f"Kept {old.name}: it scores {was} on the held-out tail; the new '{completer.name}' scores {scores}. "
                        f"The new one is saved: pick it in the palette (Ctrl+P).", markup=False, timeout=15)
