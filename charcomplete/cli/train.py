"""`charcomplete train`: a training job (jobs.py) with a rich progress bar.

Ctrl+C (or SIGTERM, as batch schedulers, systemd and `timeout` send) stops at the next step
boundary, writes a resume file and exits 130 (143 for SIGTERM); a second Ctrl+C exits at once.
"""

from __future__ import annotations

import shlex
import signal
import sys
from pathlib import Path

import click

from charcomplete.cli.options import VAL_FRACTION, device_option, fail, kind_option, not_empty, threads_option


@click.command("train")
@kind_option()
@click.option("--corpus", "corpus", multiple=True, help="Training text: a file, a folder (recursive) or a glob; repeatable.")
@click.option("--data", "data", default=None, metavar="DIR", help="Train on a corpus made by `charcomplete prepare` (memory-mapped) instead of --corpus.")
@click.option("--epochs", type=float, default=None, help="Passes over the text (fractions allowed). Default 1 unless --max-minutes is given.")
@click.option("--max-minutes", type=float, default=None, help="Wall-clock budget in minutes (fractions allowed).")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True, help="Parallel streams per step (under torchrun: in all, split over the processes).")
@click.option("--seq-len", type=click.IntRange(min=1), default=128, show_default=True, help="Characters per chunk (truncated BPTT).")
@click.option("--embed", type=click.IntRange(min=1), default=64, show_default=True, help="Embedding width.")
@click.option("--hidden", type=click.IntRange(min=1), default=256, show_default=True, help="LSTM width.")
@click.option("--layers", type=click.IntRange(min=1), default=1, show_default=True, help="LSTM layers.")
@click.option("--window", type=click.IntRange(min=1), default=32, show_default=True, help="Attention window W (attention model).")
@click.option("--dropout", type=click.FloatRange(0, 1, max_open=True), default=0.0, show_default=True, help="Dropout (between layers, before the output).")
@click.option("--lr", type=float, default=3e-3, show_default=True, help="Adam learning rate (cosine decay to 10%).")
@click.option("--val-fraction", type=VAL_FRACTION, default=0.05, show_default=True, help="Held-out tail of every file.")
@click.option("--eval-every", type=click.IntRange(min=1), default=200, show_default=True, help="Steps between validations.")
@device_option("auto")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True)
@threads_option()
@click.option("--name", default=None, callback=not_empty, help="Save as this model name in your data dir.")
@click.option("--out", type=click.Path(dir_okay=False), default=None, callback=not_empty, help="Save to this path instead.")
@click.option("--force", is_flag=True, help="Replace an existing model of that name/path.")
@click.option("--resume", type=click.Path(dir_okay=False), default=None, callback=not_empty, help="Continue an interrupted run (its checkpoint or resume file).")
@click.option("--init", "init", default=None, callback=not_empty, help="Fine-tune this checkpoint (name or path). Default: the prose or code model "
              "(by the kind of most of the corpus's bytes), unless --from-scratch or a model size is given.")
@click.option("--from-scratch", is_flag=True, help="Train a new model instead of fine-tuning a shipped one.")
@click.option("--no-memory", is_flag=True, help="Do not build the corpus memory (NAME.memory.safetensors) beside the model.")
def command(kind, corpus, data, epochs, max_minutes, batch_size, seq_len, embed, hidden, layers, window, dropout, lr,
            val_fraction, eval_every, device, seed, threads, name, out, force, resume, init, from_scratch, no_memory):
    """Train a model on your own text.

    \b
    charcomplete train --corpus notes/ --max-minutes 5            # fine-tunes the prose model
    charcomplete train --from-scratch --model lstm --corpus notes/ --corpus '*.md' --epochs 3 --name my-notes
    charcomplete train --data prepared/ --max-minutes 60          # after `charcomplete prepare`
    torchrun --nproc-per-node 4 -m charcomplete train --data prepared/ --batch-size 256
    """
    if not corpus and not data:
        raise fail("no corpus given: use --corpus PATH (a file, folder or glob; repeatable) or --data DIR")
    if corpus and data:
        raise fail("give --corpus or --data, not both")
    if data and click.get_current_context().get_parameter_source("val_fraction").name == "COMMANDLINE":
        raise fail("--val-fraction goes with `charcomplete prepare`: the split of --data was made there")
    if name and out:
        raise fail("give --name or --out, not both")
    if init and from_scratch:
        raise fail("give --init or --from-scratch, not both")
    ctx = click.get_current_context()
    sizes = [p for p in ("kind", "embed", "hidden", "layers", "window", "dropout") if ctx.get_parameter_source(p).name == "COMMANDLINE"]
    default_init = not (init or from_scratch or sizes or resume or data)
    if default_init:  # fine-tune the model for this kind of text
        from charcomplete.jobs import FINETUNE_LR
        from charcomplete.registry import model_for_corpus

        init = model_for_corpus(list(corpus))
        if ctx.get_parameter_source("lr").name != "COMMANDLINE":
            lr = FINETUNE_LR
    if epochs is None and max_minutes is None:
        epochs = 1.0
    run_train(kind=kind, corpus=list(corpus), data_dir=data, epochs=epochs, max_minutes=max_minutes, batch_size=batch_size,
              seq_len=seq_len, embed=embed, hidden=hidden, layers=layers, window=window, dropout=dropout, lr=lr,
              val_fraction=val_fraction, eval_every=eval_every, device=device, seed=seed, threads=threads, name=name, out=out,
              force=force, resume=resume, init=init, memory=not no_memory, default_init=default_init)


def run_train(**options) -> None:
    """`charcomplete train`; under torchrun, as one rank of a DistributedDataParallel run."""
    from charcomplete import distributed
    from charcomplete.device import resolve_device

    from charcomplete.jobs import missing_folders, remove_empty_folders

    dist, device = distributed.setup(resolve_device(options.pop("device")))  # a no-op outside torchrun
    made, finished = missing_folders(options.get("out")), False
    try:
        _run_train(dist, device=device, **options)
        finished = True
    except Exception as e:
        failure = distributed.failure(dist, e)  # a lost rank or a timeout: one line, not a traceback
        if failure is None:
            raise
        raise failure from None
    finally:
        if not finished:
            remove_empty_folders(made)  # --out new/dir/m: a run that saved nothing leaves no new/dir
        distributed.teardown(dist)


def _run_train(dist, *, kind, corpus, data_dir, epochs, max_minutes, batch_size, seq_len, embed, hidden, layers, window, dropout,
               lr, val_fraction, eval_every, device, seed, threads, name, out, force, resume, init, memory,
               default_init=False) -> None:
    import torch
    from rich.console import Console

    from charcomplete.config import ModelConfig
    from charcomplete.errors import TrainingInterrupted
    from charcomplete.jobs import MAX_UNKNOWN, SCRATCH_LR, cli_target, give_memory, load_data, score_tail, unknown_fraction
    from charcomplete.registry import same_file, shipped_hidden_by
    from charcomplete.trainer import TrainConfig, train

    console = Console(stderr=True, quiet=not dist.is_main)  # under torchrun only rank 0 reports
    if threads:
        torch.set_num_threads(threads)
    cfg = TrainConfig(epochs=epochs, max_minutes=max_minutes, batch_size=batch_size, seq_len=seq_len, lr=lr,
                      eval_every=eval_every, seed=seed, device=device).validate()
    target = cli_target(kind, corpus or [data_dir], name, out, resume, force)
    init_name = init
    if init:  # the model it starts from, by its path: once saved, a new model of that name (--name prose) hides it
        from charcomplete.registry import resolve_model

        init = str(resolve_model(init))
    data, init_model = load_data(corpus, data_dir, val_fraction, init)
    if default_init and init_model is not None and unknown_fraction(data) > MAX_UNKNOWN:  # another alphabet: a new model
        console.print(f"{unknown_fraction(data):.0%} of the text is outside {init_name}'s characters: training a new model instead")
        data, init_model, init, lr = *load_data(corpus, data_dir, val_fraction, None), None, SCRATCH_LR
        cfg.lr = lr
    elif default_init:  # said once the options and the corpus are known good (a bad one is the only line)
        console.print(f"fine-tuning {init_name} (--from-scratch for a new model)", highlight=False)
    console.print(f"corpus: {data.summary()}")
    if dist.active:
        console.print(f"distributed: {dist.world} processes, {batch_size // dist.world} streams each, on {device}")
    model_cfg = init_model.cfg if init_model is not None else ModelConfig(
        kind=kind, embed=embed, hidden=hidden, layers=layers, window=window, dropout=dropout)

    old = None  # the starting model's scores on the held-out tail, taken now when the new one will replace its file
    if init and not dist.active and same_file(init, target) and data.files.documents and data.files.documents[0].text:
        old = score_tail(Path(init), data, val_fraction=val_fraction)

    stop = {"requested": False, "signal": None}

    def on_signal(signum, frame):
        if stop["requested"] and signum == signal.SIGINT and not dist.active:
            raise KeyboardInterrupt  # a second Ctrl+C: at once
        stop.update(requested=True, signal=stop["signal"] or signum)

    # torchrun passes Ctrl+C (and its own stop, SIGTERM) on to every rank, then waits 30 s: every
    # signal stops cleanly there; alone, SIGTERM is treated as the first Ctrl+C
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        result = _train_with_progress(console, train, model_cfg, cfg, data, target, dist, stop, resume, init_model)
    except TrainingInterrupted as e:
        console.print(f"Interrupted at step {e.step}: resume with  charcomplete train ... --resume {e.resume_path}",
                      markup=False, highlight=False, soft_wrap=True)
        sys.exit(143 if stop["signal"] == signal.SIGTERM else 130)
    except KeyboardInterrupt:
        console.print("Interrupted.")
        sys.exit(130)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if not dist.is_main:
        return
    bpc = f"{result.best_val_bpc:.3f}" if result.best_val_bpc is not None else "n/a"
    acc = f"{result.best_val_acc:.3f}" if result.best_val_acc is not None else "n/a"
    click.echo(f"saved {result.path}  (val {bpc} bpc, accuracy {acc}, {result.steps} steps, "
               f"{result.seconds:.1f}s, {result.chars_per_s:,.0f} chars/s, {result.parameters:,} parameters)")
    mem = None
    try:  # Ctrl+C from here on: the model is saved; say so, and what was left undone
        if memory and init:  # a fine-tuned model keeps its base model's memory: a link, at once
            mem = give_memory(result.path, data, init)
        if stop["requested"]:  # Ctrl+C as the last step ended
            raise KeyboardInterrupt
        if memory and mem is None:  # the corpus memory: the training text's n-gram tables, shipped beside the model
            mem = give_memory(result.path, data, init)
        if mem is not None:
            click.echo(f"corpus memory: {mem}  ({mem.stat().st_size / 1e6:.1f} MB)")
        if init and not dist.active and data.files.documents and data.files.documents[0].text:  # the model it started from, on the same tail
            new, old = score_tail(result.path, data, val_fraction=val_fraction), old or score_tail(Path(init), data, val_fraction=val_fraction)
            click.echo(f"held-out tail: {new}  ({init_name}: {old})")
    except KeyboardInterrupt:
        source = f"--data {data_dir}" if data_dir else " ".join(f"--corpus {shlex.quote(c)}" for c in corpus)
        left = (f" without its corpus memory; build it with  charcomplete memory {shlex.quote(str(result.path))} {source}"
                if memory and mem is None else "; the comparison on the held-out tail was skipped")
        console.print(f"Interrupted: the model is saved in {result.path}{left}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(130)
    hidden = shipped_hidden_by(result.path)
    if hidden is not None:
        click.echo(f"note: your model {result.path.stem!r} now hides the shipped one of that name ({hidden}) "
                   f"wherever a model is named; remove {result.path} to use the shipped one again", err=True)


def _train_with_progress(console, train, model_cfg, cfg, data, target, dist, stop, resume, init_model):
    """The run, with a rich progress bar and one line per validation. The bar's line fits an
    80-column terminal (its speed is in the last line, the time so far in each validation's)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    columns = [TextColumn("[bold]{task.description}"), BarColumn(bar_width=12), TextColumn("{task.percentage:>3.0f}%"),
               TextColumn("{task.fields[info]}"), TextColumn("ETA"), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(model_cfg.kind, total=1000, info="")

        def on_progress(p):
            loss = f" · loss {p.train_bpc:.3f}" if p.train_bpc is not None else ""
            val = f" · val {p.best_val_bpc:.3f}" if p.best_val_bpc is not None else ""
            bar.update(task, completed=int(p.fraction * 1000), info=f"step {p.step}{loss}{val}{' bpc' if loss or val else ''}")
            if p.kind == "eval" and p.val_bpc is not None:
                trained = f"{p.train_bpc:.3f}" if p.train_bpc is not None else "  -  "  # no step this run (a budget spent before the resume)
                bar.console.print(f"step {p.step:>6}  epoch {p.epoch:6.2f}  train {trained} bpc  "
                                  f"val {p.val_bpc:.3f} bpc  acc {p.val_acc:.3f}  {p.elapsed:7.1f}s")

        return train(model_cfg, cfg, data, target, callback=on_progress if dist.is_main else None,
                     should_stop=lambda: stop["requested"], resume=resume, init_model=init_model, dist=dist)
