"""A training job: where the model goes, whether it may go there, what it learns from, and the
run itself (with pause and resume). `charcomplete train` and the editor's Ctrl+T both use it;
they only differ in how they show progress and how they are stopped.

- The CLI writes straight to its target (`--name`/`--out`, replaced only with `--force`).
- The editor writes to `<name>.safetensors.partial` and renames it when the run finishes, so
  a cancelled run never leaves a half-trained model under the name; a cancelled run is kept
  in the paused-runs store (resume.py) and resumed from the palette.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from charcomplete.errors import CheckpointError, CorpusError, TrainingInterrupted
from charcomplete.fileio import probe_folder
from charcomplete.registry import SUFFIX, user_checkpoint_path
from charcomplete.resume import (
    checkpoint_of_resume,
    drop_paused_run,
    keep_paused_run,
    paused_run_dir,
    read_paused_request,
    resume_path_for,
)


def check_writable(path: Path) -> None:
    """Fail before training (or any long work) if `path` cannot be written."""
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe_folder(folder)
    except OSError as e:
        raise CheckpointError(f"cannot write to {folder} ({e.strerror or e})") from None
    try:
        path.exists()  # a name the file system refuses (too long) fails now, not after training
    except OSError as e:
        raise CheckpointError(f"cannot write {path} ({e.strerror or e})") from None


def corpus_stem(path: str) -> str:
    """A model name part from a corpus path: `notes/` -> notes, `a/b.md` -> b, `*.md` -> corpus."""
    stem = Path(path.rstrip("/")).name.split(".")[0]
    stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in stem).strip("-")
    return stem or "corpus"


def cli_target(kind: str, sources: list[str], name: str | None, out: str | None, resume: str | None, force: bool) -> Path:
    """The checkpoint `charcomplete train` writes, checked to be writable and not taken."""
    if resume:
        target = Path(out) if out else (user_checkpoint_path(name) if name else checkpoint_of_resume(resume))
    elif out:
        target = Path(out)
    else:
        target = user_checkpoint_path(name or f"{kind}-{corpus_stem(sources[0])}")
    if target.suffix != SUFFIX:
        target = target.with_name(target.name + SUFFIX)
    check_writable(target)
    if target.exists() and not (force or resume):
        raise CheckpointError(f"{target} exists; use --force to replace it or choose another --name/--out")
    return target


def load_data(corpus: list[str], data_dir: str | None, val_fraction: float, init: str | None):
    """(Corpus, the model to fine-tune or None): text from files or a prepared folder, read with
    the fine-tuned model's vocabulary when there is one."""
    from charcomplete.checkpoint import load_checkpoint
    from charcomplete.corpus import load_corpus
    from charcomplete.prepare import load_prepared
    from charcomplete.registry import resolve_model

    init_model, vocab = None, None
    if init:
        init_model, _, vocab = load_checkpoint(resolve_model(init), device="cpu")
        init_model.train()
    if data_dir:
        data = load_prepared(data_dir)
        if vocab is not None and vocab != data.vocab:
            raise CorpusError(f"--init: {data_dir} was prepared with another vocabulary than the model's; fine-tune with --corpus")
        return data, init_model
    return load_corpus(corpus, val_fraction=val_fraction, vocab=vocab), init_model


# --- the editor's jobs ------------------------------------------------------------------------


@dataclass
class TrainRequest:
    """One training run started from the editor (the defaults suit a few KB to a few MB of text)."""

    corpus: list[str]  # files or folders to read
    name: str  # the model name it is saved as
    kind: str = "attention"  # "attention" or "lstm"
    max_minutes: float = 2.0  # wall-clock budget
    epochs: float | None = 20.0  # the run ends at whichever of epochs / minutes comes first
    embed: int = 64  # embedding width
    hidden: int = 256  # LSTM width
    window: int = 32  # attention window
    seq_len: int = 128  # characters per chunk (lowered for small texts, see `fit_batch`)
    batch_size: int = 64  # parallel streams (lowered for small texts, see `fit_batch`)
    eval_every: int = 50  # steps between validations
    lr: float = 3e-3  # Adam learning rate
    device: str = "cpu"  # where it trains
    seed: int = 0  # same seed, same run
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
    base = "".join(c if c.isalnum() or c in "-_" else "-" for c in base).strip("-.") or "model"
    name, i = base, 2
    while user_checkpoint_path(name).exists() or paused_run_dir(name).exists():
        name, i = f"{base}-{i}", i + 1
    return name


def load_paused(name: str) -> TrainRequest:
    """The request of a cancelled run, ready to resume (ValueError if it is damaged)."""
    data = read_paused_request(name)
    try:
        known = {f.name for f in fields(TrainRequest)} - {"cleanup"}
        req = TrainRequest(**{k: v for k, v in data.items() if k in known})
    except TypeError as e:
        raise ValueError(f"cannot resume '{name}': {e}") from None
    req.resume = True
    return req


def run_training(req: TrainRequest, callback, should_stop) -> Path:
    """Train as asked; returns the finished checkpoint (raises TrainingInterrupted on Cancel,
    after keeping the run to be resumed)."""
    from charcomplete.config import ModelConfig
    from charcomplete.corpus import load_corpus
    from charcomplete.trainer import TrainConfig, train

    corpus = load_corpus(req.corpus)
    final = user_checkpoint_path(req.name)
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = paused_run_dir(req.name) / "model.safetensors" if req.resume else final.with_name(final.name + ".partial")
    batch, seq = fit_batch(len(corpus.train), req.batch_size, req.seq_len)
    cfg = TrainConfig(epochs=req.epochs, max_minutes=req.max_minutes, batch_size=batch, seq_len=seq, lr=req.lr,
                      eval_every=req.eval_every, seed=req.seed, device=req.device)
    model_cfg = ModelConfig(kind=req.kind, embed=req.embed, hidden=req.hidden, window=req.window)
    try:
        train(model_cfg, cfg, corpus, partial, callback=callback, should_stop=should_stop,
              resume=partial if req.resume else None)
    except TrainingInterrupted:  # cancelled: keep it to resume later
        request = {k: v for k, v in asdict(req).items() if k not in ("cleanup", "resume")}
        keep_paused_run(req.name, partial, request, [Path(p) for p in req.cleanup])
        raise
    except BaseException:  # failed: leave nothing half-trained behind (a paused run stays as it was)
        if not req.resume:
            for p in (partial, resume_path_for(partial)):
                p.unlink(missing_ok=True)
        raise
    os.replace(partial, final)
    if req.resume:
        drop_paused_run(req.name)
    return final
