"""The origin notebook's training method, kept as the baseline (`compare --notebook`,
bench/train_speed.py). The product trains with trainer.py; this is the one other loop.

The method (../shared/origin/rnn-base-notebook.txt): every example is a window of
`window` (20) characters and the character after it; the examples are all overlapping
windows of the text, split at random 90/10 into train and validation (its
`torch.utils.data.random_split`); shuffled batches of 64; Adam, lr 0.003, constant; cross
entropy on the window's last position only; loss, accuracy and time per epoch.

The models are ours. `notebook_logits` is the notebook's forward pass written on our
modules: `lstm` is fc(h_T), the final hidden state; `attention` uses h_T as the query of a
scaled dot-product attention over all T outputs of the window (keys = attn_linear(outputs),
values = outputs) and fc([h_T; context]). For a fresh state and a window W >= T this is
exactly the last position of our `forward()` (the causal band of width W then covers the
whole window; tests/test_compare.py checks it), so a model trained here is an ordinary
model of ours (attention window = 20) - but training computes only the last position, as
the notebook did, so the baseline does no wasted work. Windows are gathered by tensor
indexing instead of a per-item Dataset/DataLoader: batches of the same kind, faster (it favours
the baseline).

Its random split of overlapping windows leaks: a validation window shares 19 of its 20
characters with the training windows next to it, and its target is an input character of
those, so the notebook's validation numbers are optimistic. The windows here come from the
training part of the corpus only (`corpus.train`), and every validation also scores the
model on the contiguous held-out tail (`corpus.val`, never trained on), each target
predicted from the `window` characters before it, as this method would be used.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from charcomplete.corpus import Corpus
from charcomplete.device import resolve_device
from charcomplete.models import ModelConfig, build_model, count_parameters
from charcomplete.trainer import LN2


LEAK_NOTE = (
    "the notebook's validation is a random 10% of overlapping windows: each shares 19 of its "
    "characters with training windows (and its target is one of their inputs), so training text "
    "leaks into validation and its own val loss/accuracy are optimistic; the table's val figures "
    "score both methods on the same contiguous held-out tail, never trained on"
)


@dataclass
class NotebookConfig:
    window: int = 20  # characters of context per example; the next one is predicted
    batch_size: int = 64  # windows per step (the notebook's)
    lr: float = 3e-3  # Adam learning rate, constant (the notebook's)
    epochs: float | None = 20.0  # passes over the training windows (the notebook's 20); None: time only
    max_minutes: float | None = None  # training-time budget in minutes (validation not counted)
    val_split: float = 0.1  # random fraction of the windows held out (the notebook's leaky validation)
    eval_every: int | None = None  # steps between validations; None: once per epoch (the notebook's)
    val_max_windows: int = 65_536  # score at most this many of those validation windows (0: skip)
    tail_max_chars: int = 65_536  # score the first this many characters of the contiguous tail
    seed: int = 0  # seeds the initial weights (as the trainer does), the split and the shuffling
    device: str = "cpu"  # auto, cpu, cuda or mps

    def validate(self) -> "NotebookConfig":
        if self.epochs is not None and not self.epochs > 0:
            raise ValueError("epochs must be > 0")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise ValueError("max-minutes must be > 0")
        if self.window < 1 or self.batch_size < 1:
            raise ValueError("window and batch-size must be >= 1")
        if not 0.0 <= self.val_split < 1.0:
            raise ValueError("val_split must be in [0, 1)")
        return self


@dataclass
class NotebookResult:
    model: torch.nn.Module  # the model after the last step (the notebook keeps no best checkpoint)
    best_tail_bpc: float | None  # best bits per character on the contiguous tail over all validations
    best_tail_acc: float | None  # top-1 accuracy at that validation
    steps: int  # optimizer steps
    chars: int  # characters of supervision (one per window)
    seconds: float  # training time, validation not counted
    chars_per_s: float  # chars / seconds
    parameters: int
    history: list[dict] = field(default_factory=list)  # one row per validation


def notebook_logits(model, x: torch.Tensor) -> torch.Tensor:
    """The notebook's forward pass on our model: logits (B, V) for the character after x (B, T)."""
    out, _ = model.run_lstm(x, None)  # (B, T, H), fresh state as in the notebook
    query = out[:, -1]  # (B, H) the final hidden state h_T (= hn[-1])
    if model.cfg.kind == "lstm":
        return model.fc(model.drop(query))  # (B, V)
    keys = model.attn_linear(out)  # (B, T, H)
    scores = (keys @ query.unsqueeze(-1)).squeeze(-1) / math.sqrt(out.shape[-1])  # (B, T)
    weights = torch.softmax(scores, dim=-1)  # (B, T)
    context = (weights.unsqueeze(1) @ out).squeeze(1)  # (B, H)
    return model.fc(model.drop(torch.cat([query, context], dim=-1)))  # (B, V)


def gather_windows(ids: torch.Tensor, starts: torch.Tensor, window: int) -> tuple[torch.Tensor, torch.Tensor]:
    """x (B, window) = ids[s : s+window] and y (B,) = ids[s+window] for every start s."""
    x = ids[starts.unsqueeze(1) + torch.arange(window, device=ids.device)]  # (B, W)
    return x, ids[starts + window]


@torch.no_grad()
def evaluate_windows(model, ids: torch.Tensor, starts: torch.Tensor, window: int, batch_size: int = 1024) -> tuple[float, float]:
    """(bits per character, top-1 accuracy) predicting ids[s+window] from ids[s : s+window]."""
    if len(starts) == 0:
        return float("nan"), float("nan")
    was_training = model.training
    model.eval()
    nll, correct = 0.0, 0
    for i in range(0, len(starts), batch_size):
        x, y = gather_windows(ids, starts[i : i + batch_size], window)
        logits = notebook_logits(model, x)  # (B, V)
        nll += F.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(-1) == y).sum().item()
    model.train(was_training)
    return nll / len(starts) / LN2, correct / len(starts)


def tail_starts(n: int, window: int) -> torch.Tensor:
    """Every window start of a text of n ids (each target has `window` characters before it)."""
    return torch.arange(max(0, n - window))


def train_notebook(
    model_cfg: ModelConfig,
    cfg: NotebookConfig,
    corpus: Corpus,
    callback: Callable[[dict], None] | None = None,
) -> NotebookResult:
    """Train one of our models with the notebook's method; `callback(row)` after each validation.

    (Kept whole, as the notebook's own cell: a reader compares it with the notebook line by line.)
    """
    cfg.validate()
    device = resolve_device(cfg.device)
    W = cfg.window
    ids = torch.from_numpy(corpus.train.astype(np.int64)).to(device)  # (N,)
    tail = torch.from_numpy(corpus.val[: cfg.tail_max_chars].astype(np.int64)).to(device)  # (M,)
    n_windows = len(ids) - W
    if n_windows < 2:
        raise ValueError(f"the training text ({len(ids)} characters) is too short for {W}-character windows")
    model_cfg.vocab_size = len(corpus.vocab)
    torch.manual_seed(cfg.seed)  # same seed, same initial weights as the product's trainer
    model = build_model(model_cfg).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)

    # the notebook's random split of the overlapping windows (by start position)
    g = torch.Generator().manual_seed(cfg.seed)
    perm = torch.randperm(n_windows, generator=g)
    n_val = int(n_windows * cfg.val_split) if n_windows * cfg.val_split >= 1 else 0
    train_starts = perm[n_val:].to(device)  # (n_train,)
    val_starts = perm[:n_val][: cfg.val_max_windows].to(device)  # (<= n_val,)
    spe = math.ceil(len(train_starts) / cfg.batch_size)  # steps per epoch, last batch partial
    total_steps = max(1, math.ceil(cfg.epochs * spe)) if cfg.epochs is not None else None
    eval_every = cfg.eval_every or spe

    history: list[dict] = []
    step, step_chars, train_seconds, eval_seconds = 0, 0, 0.0, 0.0
    loss_sum, loss_n = 0.0, 0  # training loss (nats) since the last validation
    best_bpc, best_acc = None, None
    order = train_starts

    def validate() -> None:
        nonlocal loss_sum, loss_n, best_bpc, best_acc, eval_seconds
        t = time.perf_counter()
        leaky_bpc, leaky_acc = evaluate_windows(model, ids, val_starts, W) if len(val_starts) else (None, None)
        bpc, acc = evaluate_windows(model, tail, tail_starts(len(tail), W).to(device), W)
        eval_seconds += time.perf_counter() - t
        if math.isfinite(bpc) and (best_bpc is None or bpc < best_bpc):
            best_bpc, best_acc = bpc, acc
        train_loss = loss_sum / loss_n if loss_n else None
        row = {
            "step": step, "epoch": step / spe, "elapsed": train_seconds + eval_seconds, "train_seconds": train_seconds,
            "train_loss": train_loss, "train_bpc": None if train_loss is None else train_loss / LN2,
            "leaky_val_loss": None if leaky_bpc is None else leaky_bpc * LN2, "leaky_val_acc": leaky_acc,
            "val_bpc": bpc, "val_loss": bpc * LN2, "val_acc": acc, "chars": step_chars,
        }
        history.append(row)
        loss_sum, loss_n = 0.0, 0
        if callback is not None:
            callback(row)

    while total_steps is None or step < total_steps:
        if cfg.max_minutes is not None and train_seconds >= cfg.max_minutes * 60:
            break
        t = time.perf_counter()
        k = step % spe
        if k == 0:  # a new epoch: reshuffle (DataLoader(shuffle=True))
            order = train_starts[torch.randperm(len(train_starts), generator=g).to(device)]
        x, y = gather_windows(ids, order[k * cfg.batch_size : (k + 1) * cfg.batch_size], W)  # (B, W), (B,)
        logits = notebook_logits(model, x)  # (B, V)
        loss = F.cross_entropy(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        step_chars += len(y)
        loss_sum += loss.item() * len(y)
        loss_n += len(y)
        train_seconds += time.perf_counter() - t
        if step % eval_every == 0:
            validate()
    if not history or history[-1]["step"] != step:
        validate()
    return NotebookResult(
        model=model.eval(), best_tail_bpc=best_bpc, best_tail_acc=best_acc, steps=step, chars=step_chars,
        seconds=train_seconds, chars_per_s=step_chars / max(train_seconds, 1e-9), parameters=count_parameters(model),
        history=history,
    )
