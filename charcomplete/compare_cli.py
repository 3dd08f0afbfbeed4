"""`charcomplete compare`: runs compare.py and renders it - one line per validation, a rich
summary table, the two plots in the terminal and, with --plot, as a PNG; --json for scripts.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path

import click


def check_plot_path(path: str) -> Path:
    """Fail before training if the PNG cannot be written there (or matplotlib is missing)."""
    from charcomplete.plots import PNG_HINT, matplotlib_available

    p = Path(path).expanduser()
    if p.is_dir():
        raise click.ClickException(f"--plot {path}: is a folder; give a file name such as compare.png")
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise click.ClickException(f"--plot {path}: {folder} {what}")
    try:
        fd, probe = tempfile.mkstemp(prefix=".charcomplete-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise click.ClickException(f"--plot {path}: cannot write to {folder} ({e.strerror or e})") from None
    if not matplotlib_available():
        raise click.ClickException(PNG_HINT)
    return p


def save_paths(prefix: str, kinds, force: bool) -> dict:
    """kind -> user checkpoint path for --save, checked before training."""
    from charcomplete.checkpoint import CheckpointError, user_checkpoint_path
    from charcomplete.train_cli import check_writable

    paths = {kind: user_checkpoint_path(f"{prefix}-{kind}") for kind in kinds}
    for path in paths.values():
        if path.exists() and not force:
            raise CheckpointError(f"model {path.stem!r} exists ({path}); use --force to replace it or another --name")
        check_writable(path)
    return paths


def _f(x, fmt: str = ".3f", none: str = "-") -> str:
    return none if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def eval_line(label: str, row: dict) -> str:
    """One validation, as the notebook printed its epochs (losses in nats, plus bpc)."""
    line = (f"{label:<22} step {row['step']:>6}  epoch {row['epoch']:7.2f}  train loss {_f(row.get('train_loss'))}  "
            f"val loss {_f(row.get('val_loss'))}  val {_f(row.get('val_bpc'))} bpc  acc {_f(row.get('val_acc'))}  "
            f"{row['elapsed']:7.1f}s")
    if "leaky_val_acc" in row:
        line += f"  | notebook's split: val loss {_f(row.get('leaky_val_loss'))} acc {_f(row.get('leaky_val_acc'))}"
    return line


def summary_table(result, notebook: bool):
    from rich.table import Table

    table = Table(title="lstm vs attention  (val = the contiguous held-out tail)")
    cols = ["model", "method", "best val bpc", "val acc", "params", "train time", "chars/s", "latency p50/p99", "KSR"]
    if notebook:
        cols.append("leaky val acc")
    for c in cols:
        table.add_column(c, justify="left" if c in ("model", "method") else "right")
    for run in result.runs:
        s = run.summary
        latency = "-" if s.get("latency_p50_ms") is None else f"{s['latency_p50_ms']:.2f}/{s['latency_p99_ms']:.2f} ms"
        row = [run.model, "ours" if run.method == "ours" else "notebook's", _f(s["best_val_bpc"]), _f(s["val_acc"]),
               f"{s['parameters']:,}", f"{s['seconds']:.1f}s", f"{s['chars_per_s']:,.0f}", latency, _f(s.get("ksr"))]
        if notebook:
            row.append(_f(s.get("leaky_val_acc")))
        table.add_row(*row)
    return table


def verdict(result) -> str:
    ours = [r for r in result.runs if r.method == "ours" and r.summary["best_val_bpc"] is not None]
    if len(ours) < 2:
        return ""
    best, other = sorted(ours, key=lambda r: r.summary["best_val_bpc"])[:2]
    gap = other.summary["best_val_bpc"] - best.summary["best_val_bpc"]
    return (f"{best.model} predicts the held-out text better than {other.model}: "
            f"{best.summary['best_val_bpc']:.3f} vs {other.summary['best_val_bpc']:.3f} bits per character ({gap:.3f} fewer)")


def run_compare_command(*, corpus, epochs, max_minutes, notebook, plot, save, name, force, seed, batch_size, seq_len,
                        embed, hidden, layers, window, lr, val_fraction, val_chars, eval_every, ksr_chars, device,
                        threads, as_json) -> None:
    import torch
    from rich.console import Console

    from charcomplete.compare import CompareConfig, auto_eval_every, plot_series, run_compare
    from charcomplete.corpus import load_corpus, steps_per_epoch
    from charcomplete.device import resolve_device
    from charcomplete.models import KINDS
    from charcomplete.notebook import LEAK_NOTE
    from charcomplete.plots import save_png, terminal_plots
    from charcomplete.trainer import TrainConfig

    stream = sys.stderr if as_json else sys.stdout  # stdout holds only JSON with --json
    out = Console(file=stream, highlight=False, width=None if stream.isatty() else 160)
    if threads:
        torch.set_num_threads(threads)
    plot_path = check_plot_path(plot) if plot else None
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
        click.echo(json.dumps({
            "corpus": result.corpus, "settings": {"model": {"embed": embed, "hidden": hidden, "layers": layers, "window": window},
                                                  "train": vars(train_cfg), "notebook": notebook, "ksr_chars": ksr_chars},
            "runs": [{"model": r.model, "method": r.method, "summary": r.summary, "history": r.history} for r in result.runs],
            "notes": result.notes, "plot": str(plot_path) if plot_path else None,
        }, indent=2))
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

