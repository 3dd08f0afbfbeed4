"""Training from the editor: a form, then a panel with a ProgressBar, live bpc curves and Cancel.

The run is the shared trainer (`charcomplete.trainer.train`) in a thread worker; the editor
stays usable meanwhile. The model is written to `<name>.safetensors.partial` in the user data
dir and renamed to `<name>.safetensors` only when the run finishes, so a cancelled run leaves
no half-trained model behind (and never replaces an existing one of that name). A cancelled
run is kept to be resumed: its best model so far, the trainer's resume file, the request and
a copy of the text it read go to `<data dir>/models/paused/<name>/`, and "Resume training:
NAME" in the palette continues it exactly where it stopped.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.validation import Number
from textual.widgets import Button, Input, Label, ProgressBar, Select, Sparkline

KINDS = ("attention", "lstm")
CURVE_WIDTH = 20  # validations shown in each curve (the latest)


@dataclass
class TrainRequest:
    """One training run started from the editor (the defaults suit a few KB to a few MB of text)."""

    corpus: list[str]
    name: str
    kind: str = "attention"
    max_minutes: float = 2.0
    epochs: float | None = 20.0  # the run ends at whichever of epochs / minutes comes first
    embed: int = 64
    hidden: int = 256
    window: int = 32
    seq_len: int = 128
    batch_size: int = 64  # lowered for small texts (see `fit_batch`)
    eval_every: int = 50
    lr: float = 3e-3
    device: str = "cpu"
    seed: int = 0
    description: str = ""  # what the title says is trained on
    resume: bool = False  # continue this name's cancelled run (its paused state) instead of starting anew
    cleanup: list[Path] = field(default_factory=list)  # temp files to delete afterwards


def fit_batch(n_chars: int, batch_size: int, seq_len: int) -> tuple[int, int]:
    """A batch size and chunk length that give a small text several steps per epoch."""
    seq = max(8, min(seq_len, n_chars // 32))
    batch = max(1, min(batch_size, n_chars // (seq * 8)))
    return batch, seq


def unique_model_name(base: str) -> str:
    """`base`, or `base-2`, ...: a name with neither a model nor a paused run."""
    from charcomplete.checkpoint import user_checkpoint_path

    base = "".join(c if c.isalnum() or c in "-_" else "-" for c in base).strip("-.") or "model"
    name, i = base, 2
    while user_checkpoint_path(name).exists() or paused_dir(name).exists():
        name, i = f"{base}-{i}", i + 1
    return name


# --- cancelled runs, kept to be resumed ----------------------------------------------------


def paused_dir(name: str) -> Path:
    from charcomplete.checkpoint import user_dir

    return user_dir() / "paused" / name


def paused_runs() -> list[str]:
    """Names of the cancelled runs that can be resumed."""
    from charcomplete.checkpoint import user_dir

    root = user_dir() / "paused"
    return sorted(p.parent.name for p in root.glob("*/request.json"))


def load_paused(name: str) -> TrainRequest:
    """The request of a cancelled run, ready to resume (ValueError if it is damaged)."""
    try:
        data = json.loads((paused_dir(name) / "request.json").read_text(encoding="utf-8"))
        known = {f.name for f in fields(TrainRequest)} - {"cleanup"}
        req = TrainRequest(**{k: v for k, v in data.items() if k in known})
    except (OSError, ValueError, TypeError) as e:
        raise ValueError(f"cannot resume '{name}': {e}") from None
    req.resume = True
    return req


def pause_run(req: TrainRequest, partial: Path) -> None:
    """Keep a cancelled run: model so far, resume file, the text it read (copied in), the request."""
    from charcomplete.checkpoint import resume_path_for

    folder = paused_dir(req.name)
    folder.mkdir(parents=True, exist_ok=True)
    model = folder / "model.safetensors"
    for src, dst in ((partial, model), (resume_path_for(partial), resume_path_for(model))):
        if src.exists() and src != dst:
            os.replace(src, dst)
    corpus = []
    for i, path in enumerate(req.corpus):
        if Path(path) in req.cleanup:  # a temp copy of the buffer: keep it with the run
            kept = folder / f"text-{i}.txt"
            shutil.move(path, kept)
            corpus.append(str(kept))
        else:
            corpus.append(path)
    data = {k: v for k, v in asdict(req).items() if k not in ("cleanup", "resume")}
    data["corpus"] = corpus
    from charcomplete.fileio import atomic_write

    atomic_write(folder / "request.json", json.dumps(data, indent=2).encode("utf-8"))


def run_training(req: TrainRequest, callback, should_stop) -> Path:
    """Train as asked; returns the finished checkpoint (raises TrainingInterrupted on Cancel)."""
    from charcomplete.checkpoint import resume_path_for, user_checkpoint_path
    from charcomplete.corpus import load_corpus
    from charcomplete.models import ModelConfig
    from charcomplete.trainer import TrainConfig, train

    from charcomplete.trainer import TrainingInterrupted

    corpus = load_corpus(req.corpus)
    final = user_checkpoint_path(req.name)
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = paused_dir(req.name) / "model.safetensors" if req.resume else final.with_name(final.name + ".partial")
    batch, seq = fit_batch(len(corpus.train), req.batch_size, req.seq_len)
    cfg = TrainConfig(epochs=req.epochs, max_minutes=req.max_minutes, batch_size=batch, seq_len=seq, lr=req.lr,
                      eval_every=req.eval_every, seed=req.seed, device=req.device)
    model_cfg = ModelConfig(kind=req.kind, embed=req.embed, hidden=req.hidden, window=req.window)
    try:
        train(model_cfg, cfg, corpus, partial, callback=callback, should_stop=should_stop,
              resume=partial if req.resume else None)
    except TrainingInterrupted:  # cancelled: keep it to resume later
        pause_run(req, partial)
        raise
    except BaseException:  # failed: leave nothing half-trained behind (a paused run stays as it was)
        if not req.resume:
            for p in (partial, resume_path_for(partial)):
                p.unlink(missing_ok=True)
        raise
    os.replace(partial, final)
    if req.resume:
        shutil.rmtree(paused_dir(req.name), ignore_errors=True)
    return final


class TrainDialog(ModalScreen[TrainRequest | None]):
    """What to train: corpus path, model name, kind, minutes."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, request: TrainRequest, ask_path: bool):
        super().__init__()
        self.request = request
        self.ask_path = ask_path

    def compose(self) -> ComposeResult:
        r = self.request
        with Vertical(id="train-form"):
            yield Label("Train a model" + (" on a folder or file" if self.ask_path else f" on {r.description}"), classes="title")
            if self.ask_path:
                yield Label("Folder or file (text files are read recursively)")
                yield Input(", ".join(r.corpus), placeholder="~/notes", id="train-corpus")
            yield Label("Model name (saved in your data dir)")
            yield Input(r.name, id="train-name")
            with Horizontal(classes="row"):
                yield Select([(k, k) for k in KINDS], value=r.kind, allow_blank=False, id="train-kind")
                yield Input(f"{r.max_minutes:g}", id="train-minutes", validators=[Number(minimum=0.01)], tooltip="minutes")
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
        r.name = self.query_one("#train-name", Input).value.strip() or r.name
        r.kind = str(self.query_one("#train-kind", Select).value)
        try:
            r.max_minutes = float(self.query_one("#train-minutes", Input).value)
        except ValueError:
            self.notify("Minutes must be a number.", severity="warning")
            return
        self.dismiss(r)


class TrainingPanel(Vertical):
    """Progress of the run: ProgressBar, train/val bpc curves as they come, Cancel."""

    class Finished(Message):
        def __init__(self, request: TrainRequest, completer=None, error: str | None = None, cancelled: bool = False):
            super().__init__()
            self.request = request
            self.completer = completer
            self.error = error
            self.cancelled = cancelled

    class Progressed(Message):
        def __init__(self, progress):
            super().__init__()
            self.progress = progress

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._stop = threading.Event()
        self.running = False
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

    def start(self, request: TrainRequest, device: str) -> None:
        self.running = True
        self._stop.clear()
        self.train_curve, self.val_curve = [], []
        self.query_one("#train-title", Label).update(f"Training {request.kind} model '{request.name}' on {request.description}")
        self.query_one("#train-progress", ProgressBar).update(progress=0)
        self.query_one("#train-stats", Label).update("reading the text…")
        for sel in ("#train-curve", "#val-curve"):
            self.query_one(sel, Sparkline).data = []
        for sel in ("#train-last", "#val-last"):
            self.query_one(sel, Label).update("")
        self.display = True
        self._train(request, device)

    def cancel(self) -> None:
        self._stop.set()
        self.query_one("#train-stats", Label).update("cancelling…")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "train-cancel-run":
            event.stop()
            self.cancel()

    @work(thread=True, exclusive=True, group="train", exit_on_error=False)
    def _train(self, request: TrainRequest, device: str) -> None:
        from charcomplete.completion import load_completer
        from charcomplete.trainer import TrainingInterrupted

        last = [0.0]

        def on_progress(p) -> None:
            now = time.perf_counter()
            if p.kind != "step" or now - last[0] >= 0.1:  # every validation, steps at most 10 a second
                last[0] = now
                self.post_message(self.Progressed(p))

        try:
            path = run_training(request, on_progress, self._stop.is_set)
            completer = load_completer(path, device=device)
        except TrainingInterrupted:
            self.post_message(self.Finished(request, cancelled=True))
        except Exception as e:  # shown to the user as one line
            self.post_message(self.Finished(request, error=str(e).splitlines()[0] if str(e) else type(e).__name__))
        else:
            self.post_message(self.Finished(request, completer=completer))
        finally:
            for p in request.cleanup:
                Path(p).unlink(missing_ok=True)

    def on_training_panel_progressed(self, message: Progressed) -> None:
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

    def on_training_panel_finished(self, message: Finished) -> None:
        self.running = False
        self.display = False  # the message bubbles on to the app, which switches the model
