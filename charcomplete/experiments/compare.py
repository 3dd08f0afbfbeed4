"""`charcomplete compare`: the notebook's question - plain LSTM or LSTM + attention? -
answered with the product's method.

Both models are trained by the shared trainer (trainer.train) with identical settings, seed
and data; each run yields one row per validation and a summary: best validation bits per
character and accuracy on the contiguous held-out tail, parameters, training time, chars/s,
suggestion latency and keystroke savings (evaluate.py) on a slice of the validation text.
With `notebook=True` both models are also trained with the notebook's own method
(notebook.py) and scored on the same tail, so the two methods can be compared.

Importing this module has no side effects; the CLI (cli/compare.py) renders the result.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from charcomplete.corpus import Corpus, split_text, steps_per_epoch
from charcomplete.config import KINDS, ModelConfig
from charcomplete.trainer import LN2, TrainConfig


@dataclass
class CompareConfig:
    train: TrainConfig  # the shared trainer's settings: identical for both models
    kinds: tuple[str, ...] = KINDS  # the models compared
    embed: int = 64  # embedding width E (both models)
    hidden: int = 256  # LSTM width H (both models)
    layers: int = 1  # stacked LSTM layers (both models)
    window: int = 32  # attention window W; with `notebook`, also the notebook's window length
    val_fraction: float = 0.05  # the held-out tail of every file (as the corpus was split)
    notebook: bool = False  # also train both models with the notebook's method, for reference
    ksr_chars: int = 4000  # keystroke savings on at most this many characters of validation text
    latency_chars: int = 1000  # time suggest() while typing this many characters of it
    save_prefix: str | None = None  # keep our models as user models <prefix>-lstm, <prefix>-attention


@dataclass
class Run:
    model: str  # "lstm" or "attention"
    method: str  # "ours" (the shared trainer) or "notebook" (the notebook's method)
    history: list[dict]  # one row per validation: step, epoch, elapsed, train_loss, train_bpc, val_loss, val_bpc, val_acc
    summary: dict  # best val bpc and its accuracy, parameters, seconds, chars/s, latency, KSR, path

    @property
    def label(self) -> str:
        return self.model if self.method == "ours" else f"{self.model} (notebook)"


@dataclass
class CompareResult:
    corpus: str  # what was read, one line
    runs: list[Run] = field(default_factory=list)  # ours first, then the notebook's runs
    notes: list[str] = field(default_factory=list)  # what the reader must know (the notebook's leak)


def model_config(cfg: CompareConfig, kind: str) -> ModelConfig:
    return ModelConfig(kind=kind, embed=cfg.embed, hidden=cfg.hidden, layers=cfg.layers, window=cfg.window)


def auto_eval_every(corpus: Corpus, train: TrainConfig, evals: int = 20) -> int:
    """Steps between validations: about `evals` per run with an epoch budget, else every 50
    (a validation of 65,536 characters then costs about 5% of the training time)."""
    if train.epochs is None:
        return 50
    spe = steps_per_epoch(len(corpus.train), train.batch_size, train.seq_len)
    return max(1, math.ceil(train.epochs * spe / evals))


def validation_texts(corpus: Corpus, val_fraction: float, max_chars: int, min_piece: int = 500) -> list[str]:
    """Up to `max_chars` of held-out text: the starts of evenly spread files' validation tails."""
    tails = [v for v in (split_text(d.text, val_fraction)[1] for d in corpus.files.documents) if v]
    if not tails or max_chars < 1:
        return []
    n = max(1, min(len(tails), max_chars // min_piece))
    picked = sorted(set(np.linspace(0, len(tails) - 1, n).round().astype(int).tolist()))
    share = max_chars // len(picked)
    return [tails[i][:share] for i in picked]


def _with_losses(row: dict) -> dict:
    """A trainer history row plus the notebook's units: losses in nats per character."""
    out = dict(row)
    for name in ("train", "val"):
        bpc = row.get(f"{name}_bpc")
        out[f"{name}_loss"] = None if bpc is None else bpc * LN2
    return out


def train_ours(cfg: CompareConfig, corpus: Corpus, kind: str, out: Path,
               on_eval: Callable[[str, dict], None] | None = None, texts: list[str] | None = None) -> Run:
    """One model through the shared trainer; KSR and latency of its best checkpoint."""
    from charcomplete.trainer import train

    def callback(p) -> None:
        if p.kind == "eval" and on_eval is not None:
            on_eval(kind, _with_losses({"step": p.step, "epoch": p.epoch, "elapsed": p.elapsed,
                                        "train_bpc": p.train_bpc, "val_bpc": p.val_bpc, "val_acc": p.val_acc}))

    result = train(model_config(cfg, kind), cfg.train, corpus, out, callback=callback)
    summary = {
        "best_val_bpc": result.best_val_bpc, "val_acc": result.best_val_acc, "parameters": result.parameters,
        "seconds": result.seconds, "chars_per_s": result.chars_per_s, "steps": result.steps, "chars": result.chars,
        "path": str(result.path) if cfg.save_prefix else None,
    }
    from charcomplete.completion import load_completer
    from charcomplete.evaluate import completion_metrics

    completer = load_completer(str(result.path), device="cpu")  # as the editor uses it
    summary.update(completion_metrics(completer, texts or [], cfg.latency_chars, jumps=50))
    return Run(kind, "ours", [_with_losses(r) for r in result.history], summary)


def train_notebook_method(cfg: CompareConfig, corpus: Corpus, kind: str,
                          on_eval: Callable[[str, dict], None] | None = None) -> Run:
    """One model with the notebook's method: same seed, budget, window and tail as ours."""
    from charcomplete.experiments.notebook import NotebookConfig, train_notebook

    t = cfg.train
    # its validations are costly (every target re-reads its 20-character window): under a time
    # budget every 2000 steps, and at most 16,384 of its own (leaky) validation windows
    nb = NotebookConfig(window=cfg.window, epochs=t.epochs, max_minutes=t.max_minutes, tail_max_chars=t.val_max_chars,
                        val_max_windows=16_384, eval_every=None if t.epochs is not None else 2000, seed=t.seed,
                        device=t.device)
    result = train_notebook(model_config(cfg, kind), nb, corpus,
                            callback=None if on_eval is None else lambda row: on_eval(f"{kind} (notebook)", row))
    best = min((r for r in result.history if r["val_bpc"] == r["val_bpc"]), key=lambda r: r["val_bpc"], default={})
    summary = {
        "best_val_bpc": result.best_tail_bpc, "val_acc": result.best_tail_acc, "parameters": result.parameters,
        "seconds": result.seconds, "chars_per_s": result.chars_per_s, "steps": result.steps, "chars": result.chars,
        "leaky_val_acc": best.get("leaky_val_acc"), "leaky_val_loss": best.get("leaky_val_loss"), "path": None,
    }
    return Run(kind, "notebook", result.history, summary)


def run_compare(cfg: CompareConfig, corpus: Corpus, on_eval: Callable[[str, dict], None] | None = None,
                out_paths: dict[str, Path] | None = None) -> CompareResult:
    """Train every kind with our trainer (and, with cfg.notebook, the notebook's method).

    on_eval(label, row) is called after every validation. out_paths: where our checkpoints
    go (kind -> path, e.g. user models for --save); by default a temporary folder.
    """
    from charcomplete.experiments.notebook import LEAK_NOTE

    result = CompareResult(corpus=corpus.summary())
    texts = validation_texts(corpus, cfg.val_fraction, cfg.ksr_chars)
    with tempfile.TemporaryDirectory(prefix="charcomplete-compare-") as tmp:
        for kind in cfg.kinds:
            out = (out_paths or {}).get(kind) or Path(tmp) / f"{kind}.safetensors"
            result.runs.append(train_ours(cfg, corpus, kind, out, on_eval, texts))
    if cfg.notebook:
        result.notes.append(LEAK_NOTE)
        for kind in cfg.kinds:
            result.runs.append(train_notebook_method(cfg, corpus, kind, on_eval))
    return result


def plot_series(result: CompareResult) -> list[dict]:
    """The two plots' data per run: epoch, training loss (nats) and validation accuracy (tail)."""
    return [{
        "label": run.label,
        "epoch": [r["epoch"] for r in run.history],
        "train_loss": [r["train_loss"] for r in run.history],
        "val_acc": [r["val_acc"] for r in run.history],
    } for run in result.runs]
