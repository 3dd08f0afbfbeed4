"""`charcomplete train`: reads the corpus, runs the shared trainer with a rich progress bar.

Ctrl+C stops at the next step boundary, writes a resume file and exits 130; a second
Ctrl+C exits at once.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
from pathlib import Path

import click


def check_writable(path: Path) -> None:
    """Fail before training if the checkpoint cannot be written there."""
    from charcomplete.checkpoint import CheckpointError

    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".charcomplete-probe-", dir=folder)
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise CheckpointError(f"cannot write to {folder} ({e.strerror or e})") from None
    try:
        path.exists()  # a name the file system refuses (too long) fails now, not after training
    except OSError as e:
        raise CheckpointError(f"cannot write {path} ({e.strerror or e})") from None


def run_train(**options) -> None:
    """`charcomplete train`; under torchrun, as one rank of a DistributedDataParallel run."""
    from charcomplete import distributed
    from charcomplete.device import resolve_device

    dist, device = distributed.setup(resolve_device(options.pop("device")))  # a no-op outside torchrun
    try:
        _run_train(dist, device=device, **options)
    except Exception as e:
        failure = distributed.failure(dist, e)  # a lost rank or a timeout: one line, not a traceback
        if failure is None:
            raise
        raise failure from None
    finally:
        distributed.teardown(dist)


def _run_train(dist, *, kind, corpus, data_dir, epochs, max_minutes, batch_size, seq_len, embed, hidden, layers, window, dropout,
               lr, val_fraction, eval_every, device, seed, threads, name, out, force, resume, init) -> None:
    import torch
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from charcomplete.checkpoint import CheckpointError, load_checkpoint, resolve_model, user_checkpoint_path
    from charcomplete.corpus import CorpusError, load_corpus
    from charcomplete.device import resolve_device
    from charcomplete.models import ModelConfig
    from charcomplete.prepare import load_prepared
    from charcomplete.trainer import TrainConfig, TrainingInterrupted, train

    console = Console(stderr=True, quiet=not dist.is_main)  # under torchrun only rank 0 reports
    if threads:
        torch.set_num_threads(threads)
    cfg = TrainConfig(epochs=epochs, max_minutes=max_minutes, batch_size=batch_size, seq_len=seq_len, lr=lr,
                      eval_every=eval_every, seed=seed, device=device).validate()
    resolve_device(device)
    if resume:
        target = Path(out) if out else (user_checkpoint_path(name) if name else _checkpoint_of_resume(resume))
    elif out:
        target = Path(out)
    else:
        target = user_checkpoint_path(name or f"{kind}-{_corpus_stem((corpus or [data_dir])[0])}")
    if target.suffix != ".safetensors":
        target = target.with_name(target.name + ".safetensors")
    check_writable(target)
    if target.exists() and not (force or resume):
        raise CheckpointError(f"{target} exists; use --force to replace it or choose another --name/--out")

    init_model, vocab = None, None
    if init:
        init_model, _, vocab = load_checkpoint(resolve_model(init), device="cpu")
        init_model.train()
    if data_dir:
        data = load_prepared(data_dir)
        if vocab is not None and vocab != data.vocab:
            raise CorpusError(f"--init: {data_dir} was prepared with another vocabulary than the model's; fine-tune with --corpus")
    else:
        data = load_corpus(corpus, val_fraction=val_fraction, vocab=vocab)
    console.print(f"corpus: {data.summary()}")
    if dist.active:
        console.print(f"distributed: {dist.world} processes, {batch_size // dist.world} streams each, on {device}")
    model_cfg = init_model.cfg if init_model is not None else ModelConfig(
        kind=kind, embed=embed, hidden=hidden, layers=layers, window=window, dropout=dropout)

    stop = {"requested": False}

    def on_sigint(signum, frame):
        if stop["requested"]:
            raise KeyboardInterrupt
        stop["requested"] = True

    if dist.active:  # torchrun passes Ctrl+C (and its own stop, SIGTERM) on to every rank, then waits 30 s: stop cleanly
        on_sigint = lambda signum, frame: stop.update(requested=True)  # noqa: E731 (a second signal must not escalate)
        previous_term = signal.signal(signal.SIGTERM, on_sigint)
    previous = signal.signal(signal.SIGINT, on_sigint)
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>5.1f}%"),
               TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]
    try:
        with Progress(*columns, console=console, transient=False) as bar:
            task = bar.add_task(f"train {model_cfg.kind}", total=1000, info="")

            def on_progress(p):
                loss = f"loss {p.train_bpc:.3f} bpc" if p.train_bpc is not None else ""
                val = f" val {p.best_val_bpc:.3f} bpc" if p.best_val_bpc is not None else ""
                bar.update(task, completed=int(p.fraction * 1000),
                           info=f"step {p.step} · {p.chars_per_s:,.0f} chars/s · {loss}{val}")
                if p.kind == "eval" and p.val_bpc is not None:
                    bar.console.print(f"step {p.step:>6}  epoch {p.epoch:6.2f}  train {p.train_bpc or float('nan'):.3f} bpc  "
                                      f"val {p.val_bpc:.3f} bpc  acc {p.val_acc:.3f}  {p.elapsed:7.1f}s")

            result = train(model_cfg, cfg, data, target, callback=on_progress if dist.is_main else None,
                           should_stop=lambda: stop["requested"], resume=resume, init_model=init_model, dist=dist)
    except TrainingInterrupted as e:
        console.print(f"Interrupted at step {e.step}: resume with  charcomplete train ... --resume {e.resume_path}")
        sys.exit(130)
    except KeyboardInterrupt:
        console.print("Interrupted.")
        sys.exit(130)
    finally:
        signal.signal(signal.SIGINT, previous)
        if dist.active:
            signal.signal(signal.SIGTERM, previous_term)
    if not dist.is_main:
        return
    bpc = f"{result.best_val_bpc:.3f}" if result.best_val_bpc is not None else "n/a"
    acc = f"{result.best_val_acc:.3f}" if result.best_val_acc is not None else "n/a"
    click.echo(f"saved {result.path}  (val {bpc} bpc, accuracy {acc}, {result.steps} steps, "
               f"{result.seconds:.1f}s, {result.chars_per_s:,.0f} chars/s, {result.parameters:,} parameters)")


def _corpus_stem(path: str) -> str:
    """A model name part from a corpus path: `notes/` -> notes, `a/b.md` -> b, `*.md` -> corpus."""
    stem = Path(path.rstrip("/")).name.split(".")[0]
    stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in stem).strip("-")
    return stem or "corpus"


def _checkpoint_of_resume(resume: str) -> Path:
    from charcomplete.checkpoint import RESUME_SUFFIX, load_resume

    p = Path(resume)
    if p.name.endswith(RESUME_SUFFIX):
        _, info = load_resume(p)
        checkpoint = info.get("checkpoint")
        return Path(checkpoint if isinstance(checkpoint, str) and checkpoint else p.with_name(p.name[: -len(RESUME_SUFFIX)] + ".safetensors"))
    return p
