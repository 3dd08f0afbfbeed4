"""`charcomplete compare`: runs compare.py and renders it - one line per validation, a rich
summary table, the two plots in the terminal and, with --plot, as a PNG; --json for scripts.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import stat
import sys
from pathlib import Path

import click

from charcomplete.cli.options import VAL_FRACTION, device_option, fail, json_safe, not_empty, threads_option
from charcomplete.fileio import probe_folder

COMPARE_HINT = "compare draws its plots with plotext, which is not installed: pip install 'charcomplete[compare]'"


@click.command("compare")
@click.option("--corpus", "corpus", multiple=True, help="Text to train and validate on: a file, a folder (recursive) or a glob; repeatable.")
@click.option("--epochs", type=float, default=None, help="Passes over the text, per model. Default 1 (20 with --notebook) unless --max-minutes is given.")
@click.option("--max-minutes", type=float, default=None, help="Wall-clock budget per model (and per method with --notebook).")
@click.option("--notebook", is_flag=True, help="Also train both models with the notebook's method (20-char windows, random split) for reference.")
@click.option("--plot", default=None, callback=not_empty, metavar="PATH", help="Also write the two plots as a PNG here (needs charcomplete[plot]).")
@click.option("--save", is_flag=True, help="Keep both trained models as user models NAME-lstm and NAME-attention.")
@click.option("--name", default="compare", callback=not_empty, show_default=True, help="Name prefix for --save.")
@click.option("--force", is_flag=True, help="With --save: replace models of those names; with --plot: replace a file that is not a PNG.")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True, help="Same seed, same initial weights and data order for both models.")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True, help="Parallel streams per step (our trainer).")
@click.option("--seq-len", type=click.IntRange(min=1), default=128, show_default=True, help="Characters per chunk (our trainer).")
@click.option("--embed", type=click.IntRange(min=1), default=None, help="Embedding width. [default: 64; 128 with --notebook, as the notebook]")
@click.option("--hidden", type=click.IntRange(min=1), default=256, show_default=True, help="LSTM width.")
@click.option("--layers", type=click.IntRange(min=1), default=1, show_default=True, help="LSTM layers.")
@click.option("--window", type=click.IntRange(min=1), default=None, help="Attention window (and the notebook's window length). [default: 32; 20 with --notebook]")
@click.option("--lr", type=float, default=3e-3, show_default=True, help="Adam learning rate of our trainer (cosine decay); the notebook's method keeps its constant 0.003.")
@click.option("--val-fraction", type=VAL_FRACTION, default=0.05, show_default=True, help="Held-out tail of every file.")
@click.option("--val-chars", type=click.IntRange(min=1), default=65536, show_default=True, help="Validate on at most this many held-out characters.")
@click.option("--eval-every", type=click.IntRange(min=1), default=None, help="Steps between validations. [default: about 20 per run with --epochs, else 50]")
@click.option("--ksr-chars", type=click.IntRange(min=0), default=4000, show_default=True, help="Keystroke savings on this many characters of held-out text.")
@device_option("auto")
@threads_option()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output on stdout (progress goes to stderr).")
def command(corpus, epochs, max_minutes, notebook, plot, save, name, force, seed, batch_size, seq_len, embed, hidden, layers,
            window, lr, val_fraction, val_chars, eval_every, ksr_chars, device, threads, as_json):
    """Train lstm and attention the same way and compare them: per-validation losses,
    a summary table (bpc, accuracy, size, speed, latency, keystroke savings) and plots.

    \b
    charcomplete compare --corpus plays/ --max-minutes 4
    charcomplete compare --corpus notes.txt --epochs 20 --plot cmp.png
    charcomplete compare --corpus notes/ --notebook      # the notebook's own method, for reference
    """
    if importlib.util.find_spec("plotext") is None:
        raise fail(COMPARE_HINT)
    if not corpus:
        raise fail("no corpus given: use --corpus PATH (a file, folder or glob; repeatable)")
    for opt, value in (("--epochs", epochs), ("--max-minutes", max_minutes)):
        if value is not None and not value > 0:
            raise fail(f"{opt} must be > 0, got {value:g}")
    if epochs is None and max_minutes is None:
        epochs = 20.0 if notebook else 1.0
    try:
        run_compare_command(
            corpus=list(corpus), epochs=epochs, max_minutes=max_minutes, notebook=notebook, plot=plot, save=save, name=name,
            force=force, seed=seed, batch_size=batch_size, seq_len=seq_len, embed=embed or (128 if notebook else 64),
            hidden=hidden, layers=layers, window=window or (20 if notebook else 32), lr=lr, val_fraction=val_fraction,
            val_chars=val_chars, eval_every=eval_every, ksr_chars=ksr_chars, device=device, threads=threads, as_json=as_json,
        )
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def check_plot_path(path: str, force: bool = False) -> Path:
    """Fail before training if the PNG cannot be written there (or matplotlib is missing). An
    existing file is replaced only when it is a PNG (an earlier plot) or with --force: `--plot
    notes.txt` replaced the notes with a picture."""
    from charcomplete.experiments.plots import PNG_HINT, matplotlib_available

    p = Path(path).expanduser()
    if p.is_dir():
        raise click.ClickException(f"--plot {path}: is a folder; give a file name such as compare.png")
    if os.path.lexists(p) and not force:
        try:
            if not stat.S_ISREG(os.stat(p).st_mode):
                raise click.ClickException(f"--plot {path}: is not a regular file")
            with open(p, "rb") as f:
                is_png = f.read(len(PNG_SIGNATURE)) == PNG_SIGNATURE
        except OSError as e:
            raise click.ClickException(f"--plot {path}: cannot read it to check it is a PNG ({e.strerror or e})") from None
        if not is_png:
            raise click.ClickException(f"--plot {path}: exists and is not a PNG; use --force to replace it or give another name")
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise click.ClickException(f"--plot {path}: {folder} {what}")
    try:
        probe_folder(folder)
    except OSError as e:
        raise click.ClickException(f"--plot {path}: cannot write to {folder} ({e.strerror or e})") from None
    if not matplotlib_available():
        raise click.ClickException(PNG_HINT)
    return p


def save_paths(prefix: str, kinds, force: bool) -> dict:
    """kind -> user checkpoint path for --save, checked before training."""
    from charcomplete.errors import CheckpointError
    from charcomplete.jobs import check_writable
    from charcomplete.registry import user_checkpoint_path

    paths = {kind: user_checkpoint_path(f"{prefix}-{kind}") for kind in kinds}
    for path in paths.values():
        if path.exists() and not force:
            raise CheckpointError(f"model {path.stem!r} exists ({path}); use --force to replace it or another --name")
        check_writable(path)
    return paths


def _f(x, fmt: str = ".3f", none: str = "-") -> str:
    return none if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def eval_line(label: str, row: dict) -> str:
    """One validation, as `train` prints its own (bits per character; the losses in nats are in
    --json): a line that fits an 80-column terminal; a notebook run's ("lstm (notebook)") says so
    on a second, with its own split's numbers."""
    model = label.removesuffix(" (notebook)")
    line = (f"{model:<9} step {row['step']:>5} epoch {row['epoch']:5.2f}  train {_f(row.get('train_bpc'))} "
            f"val {_f(row.get('val_bpc'))} bpc  acc {_f(row.get('val_acc'))} {row['elapsed']:6.1f}s")
    if model != label:
        line += (f"\n{'':<9} (the notebook's method; its own split: val loss {_f(row.get('leaky_val_loss'))} nats, "
                 f"acc {_f(row.get('leaky_val_acc'))})")
    return line


MEASURES = [  # the summary table's rows: (name, the value shown from a run's summary)
    ("best val bpc", lambda s: _f(s["best_val_bpc"])),
    ("val acc", lambda s: _f(s["val_acc"])),
    ("parameters", lambda s: f"{s['parameters']:,}"),
    ("train time", lambda s: f"{s['seconds']:.1f}s"),
    ("chars/s", lambda s: f"{s['chars_per_s']:,.0f}"),
    ("latency p50/p99", lambda s: "-" if s.get("latency_p50_ms") is None else f"{s['latency_p50_ms']:.2f}/{s['latency_p99_ms']:.2f} ms"),
    ("KSR", lambda s: _f(s.get("ksr"))),
    ("precision", lambda s: _f(s.get("precision"))),
]


def summary_table(result, notebook: bool):
    """One column per run, one row per measure: it fits an 80-column terminal, the notebook's two
    runs included (a column per measure did not: its numbers were cut)."""
    from rich.table import Table

    table = Table(title="lstm vs attention (val: the held-out tail)")
    table.add_column("")
    for run in result.runs:
        table.add_column(run.model if run.method == "ours" else f"{run.model}\nnotebook's", justify="right")
    measures = MEASURES + ([("leaky val acc", lambda s: _f(s.get("leaky_val_acc")))] if notebook else [])
    for name, shown in measures:
        table.add_row(name, *(shown(run.summary) for run in result.runs))
    return table


def verdict(result) -> str:
    ours = [r for r in result.runs if r.method == "ours" and r.summary["best_val_bpc"] is not None]
    if len(ours) < 2:
        return ""
    best, other = sorted(ours, key=lambda r: r.summary["best_val_bpc"])[:2]
    gap = other.summary["best_val_bpc"] - best.summary["best_val_bpc"]
    return (f"{best.model} predicts the held-out text better than {other.model}: "
            f"{best.summary['best_val_bpc']:.3f} vs {other.summary['best_val_bpc']:.3f} bits per character ({gap:.3f} fewer)")


# (one function: it reads as the command's output, top to bottom, and every step uses the settings)
def run_compare_command(*, corpus, epochs, max_minutes, notebook, plot, save, name, force, seed, batch_size, seq_len,
                        embed, hidden, layers, window, lr, val_fraction, val_chars, eval_every, ksr_chars, device,
                        threads, as_json) -> None:
    import torch
    from rich.console import Console

    from charcomplete.config import KINDS
    from charcomplete.corpus import load_corpus, steps_per_epoch
    from charcomplete.device import resolve_device
    from charcomplete.experiments.compare import (
        CompareConfig,
        auto_eval_every,
        plot_series,
        run_compare,
    )
    from charcomplete.experiments.notebook import LEAK_NOTE
    from charcomplete.experiments.plots import save_png, terminal_plots
    from charcomplete.trainer import TrainConfig

    stream = sys.stderr if as_json else sys.stdout  # stdout holds only JSON with --json
    out = Console(file=stream, highlight=False, width=None if stream.isatty() else 160)
    if threads:
        torch.set_num_threads(threads)
    plot_path = check_plot_path(plot, force) if plot else None
    train_cfg = TrainConfig(epochs=epochs, max_minutes=max_minutes, batch_size=batch_size, seq_len=seq_len, lr=lr,
                            val_max_chars=val_chars, seed=seed, device=device).validate()
    resolve_device(device)
    out_paths = save_paths(name, KINDS, force) if save else None
    data = load_corpus(corpus, val_fraction=val_fraction)
    train_cfg.eval_every = eval_every or auto_eval_every(data, train_cfg)
    cfg = CompareConfig(train=train_cfg, embed=embed, hidden=hidden, layers=layers, window=window,
                        val_fraction=val_fraction, notebook=notebook, ksr_chars=ksr_chars, save_prefix=name if save else None)
    budget = " and ".join(b for b in (f"{epochs:g} epoch{'s' if epochs != 1 else ''}" if epochs else "", f"{max_minutes:g} min" if max_minutes else "") if b)
    out.print(f"corpus: {data.summary()}")
    out.print(f"each model: {budget}, embed {embed}, hidden {hidden}, window {window}, batch {batch_size}x{seq_len}, "
              f"lr {lr:g}, seed {seed}, validation every {train_cfg.eval_every} steps on {min(val_chars, len(data.val)):,} "
              f"held-out characters")
    spe = steps_per_epoch(len(data.train), batch_size, seq_len)
    if spe < 10:
        out.print(f"[yellow]hint:[/] at --batch-size {batch_size} --seq-len {seq_len} this text gives {spe} training step(s) per "
                  f"epoch; for a text this small try --batch-size 8 --seq-len 32")
    if notebook:
        out.print(f"[yellow]note:[/] {LEAK_NOTE}")
    result = run_compare(cfg, data, on_eval=lambda label, row: out.print(eval_line(label, row)), out_paths=out_paths)

    series = plot_series(result)
    width = max(60, min(shutil.get_terminal_size((100, 24)).columns, 140))
    color = not as_json and sys.stdout.isatty()
    if plot_path is not None:
        try:
            save_png(series, plot_path)
        except OSError as e:
            raise click.ClickException(f"--plot {plot}: cannot write ({e.strerror or e})") from None
    if as_json:
        click.echo(json.dumps(json_safe({
            "corpus": result.corpus, "settings": {"model": {"embed": embed, "hidden": hidden, "layers": layers, "window": window},
                                                  "train": vars(train_cfg), "notebook": notebook, "ksr_chars": ksr_chars},
            "runs": [{"model": r.model, "method": r.method, "summary": r.summary, "history": r.history} for r in result.runs],
            "notes": result.notes, "plot": str(plot_path) if plot_path else None,
        }), indent=2))
        return
    out.print(summary_table(result, notebook))
    if v := verdict(result):
        out.print(v)
    for note in result.notes:
        out.print(f"[yellow]note:[/] {note}")
    click.echo(terminal_plots(series, width=width, height=16 + 2 * len(series), color=color))
    if plot_path is not None:
        out.print(f"plots written to {plot_path}")
    if save:
        for run in result.runs:
            if run.summary.get("path"):
                out.print(f"saved {run.summary['path']}  (open it in the editor: charcomplete edit FILE --model {name}-{run.model})")

