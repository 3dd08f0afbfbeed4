"""The `charcomplete` command line: a click group; each command imports what it needs
when it runs, so `charcomplete --help` starts fast (no torch import)."""

from __future__ import annotations

import os
import sys

import click

from charcomplete import __version__

MODEL_KINDS = ("lstm", "attention")
DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def fail(message: str) -> "click.ClickException":
    """A one-line error for the user (exit code 1)."""
    return click.ClickException(str(message).splitlines()[0] if message else "error")


def user_errors():
    """The project's own error types: shown as one line, never as a traceback."""
    from charcomplete.checkpoint import CheckpointError
    from charcomplete.corpus import CorpusError
    from charcomplete.device import DeviceError
    from charcomplete.trainer import TrainingError

    return (CheckpointError, CorpusError, DeviceError, TrainingError, ValueError)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="charcomplete")
def cli():
    """charcomplete: a text editor that completes what you type with small local
    character-level models (an LSTM, or an LSTM with attention)."""


# --- train ------------------------------------------------------------------------------


@cli.command()
@click.option("--model", "kind", type=click.Choice(MODEL_KINDS), default="attention", show_default=True, help="Model kind.")
@click.option("--corpus", "corpus", multiple=True, help="Training text: a file, a folder (recursive) or a glob; repeatable.")
@click.option("--data", "data", default=None, metavar="DIR", help="Train on a corpus made by `charcomplete prepare` (memory-mapped) instead of --corpus.")
@click.option("--epochs", type=float, default=None, help="Passes over the text (fractions allowed). Default 1 unless --max-minutes is given.")
@click.option("--max-minutes", type=float, default=None, help="Wall-clock budget in minutes (fractions allowed).")
@click.option("--batch-size", type=int, default=64, show_default=True, help="Parallel streams per step (under torchrun: in all, split over the processes).")
@click.option("--seq-len", type=int, default=128, show_default=True, help="Characters per chunk (truncated BPTT).")
@click.option("--embed", type=int, default=64, show_default=True, help="Embedding width.")
@click.option("--hidden", type=int, default=256, show_default=True, help="LSTM width.")
@click.option("--layers", type=int, default=1, show_default=True, help="LSTM layers.")
@click.option("--window", type=int, default=32, show_default=True, help="Attention window W (attention model).")
@click.option("--dropout", type=float, default=0.0, show_default=True, help="Dropout (between layers, before the output).")
@click.option("--lr", type=float, default=3e-3, show_default=True, help="Adam learning rate (cosine decay to 10%).")
@click.option("--val-fraction", type=float, default=0.05, show_default=True, help="Held-out tail of every file.")
@click.option("--eval-every", type=int, default=200, show_default=True, help="Steps between validations.")
@click.option("--device", type=click.Choice(DEVICE_CHOICES), default="auto", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice).")
@click.option("--name", default=None, help="Save as this model name in your data dir.")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Save to this path instead.")
@click.option("--force", is_flag=True, help="Replace an existing model of that name/path.")
@click.option("--resume", type=click.Path(dir_okay=False), default=None, help="Continue an interrupted run (its checkpoint or resume file).")
@click.option("--init", "init", default=None, help="Fine-tune this checkpoint (name or path) on the corpus.")
def train(kind, corpus, data, epochs, max_minutes, batch_size, seq_len, embed, hidden, layers, window, dropout, lr,
          val_fraction, eval_every, device, seed, threads, name, out, force, resume, init):
    """Train a model on your own text.

    \b
    charcomplete train --model attention --corpus notes/ --max-minutes 5
    charcomplete train --model lstm --corpus notes/ --corpus '*.md' --epochs 3 --name my-notes
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
    if epochs is None and max_minutes is None:
        epochs = 1.0
    from charcomplete.train_cli import run_train

    try:
        run_train(
            kind=kind, corpus=list(corpus), data_dir=data, epochs=epochs, max_minutes=max_minutes, batch_size=batch_size, seq_len=seq_len,
            embed=embed, hidden=hidden, layers=layers, window=window, dropout=dropout, lr=lr, val_fraction=val_fraction,
            eval_every=eval_every, device=device, seed=seed, threads=threads, name=name, out=out, force=force,
            resume=resume, init=init,
        )
    except user_errors() as e:
        raise fail(str(e)) from None


# --- models -----------------------------------------------------------------------------


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def models(as_json):
    """List the shipped and your own trained models."""
    import json

    from charcomplete.checkpoint import CheckpointError, CheckpointMeta, list_checkpoints, read_safetensors

    rows = []
    for e in list_checkpoints():
        row = {"name": e.name, "source": e.source, "path": str(e.path), "kind": "?", "val_bpc": None, "parameters": None, "error": None}
        try:
            _, md = read_safetensors(e.path)
            meta = CheckpointMeta.from_metadata(md, str(e.path))
            row.update(kind=meta.config.get("kind", "?"), val_bpc=meta.metrics.get("val_bpc"), parameters=meta.metrics.get("parameters"),
                       corpus=meta.corpus.get("paths", ""), created=meta.created)
        except CheckpointError as err:
            row["error"] = str(err)
        rows.append(row)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not rows:
        console.print("No models yet: train one with `charcomplete train --corpus PATH`.")
        return
    columns = ["name", "kind", "source", "val bpc", "params", "trained on", "path"]
    cells = [[r["name"], "unreadable" if r["error"] else r["kind"], r["source"],
              f"{r['val_bpc']:.3f}" if isinstance(r["val_bpc"], (int, float)) else "-",
              f"{r['parameters']:,}" if isinstance(r["parameters"], int) else "-",
              str(r.get("corpus", ""))[:40], r["path"]] for r in rows]
    for optional in ("trained on", "path"):  # one line per model: drop these before cutting a name
        widths = [max(len(c[i]) for c in [columns, *cells]) + 3 for i in range(len(columns))]
        if sum(widths) + 1 <= console.width:
            break
        i = columns.index(optional)
        del columns[i]
        for c in cells:
            del c[i]
    table = Table(title="charcomplete models", caption=None if "path" in columns else "paths: charcomplete models --json")
    for i, col in enumerate(columns):  # a name is never cut: the other columns give way
        table.add_column(col, no_wrap=True, min_width=max(len(c[i]) for c in cells) if col == "name" else None)
    for c, r in zip(cells, rows):
        table.add_row(*c, style="red" if r["error"] else None)
    console.print(table)


# --- complete -----------------------------------------------------------------------------


@cli.command()
@click.argument("text", required=False)
@click.option("--model", default=None, help="Model name or checkpoint path (default: the editor's default model).")
@click.option("--max-chars", type=click.IntRange(1, 1000), default=None, help="Longest suggestion (default: the policy's).")
@click.option("-k", "--alternatives", "k", type=click.IntRange(1, 20), default=1, help="Show up to K alternatives with their confidence.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (text, confidence, per-char probabilities, attention).")
@click.option("--device", type=click.Choice(DEVICE_CHOICES), default="cpu", show_default=True)
@click.option("--no-adapt", is_flag=True, help="The model alone: do not adapt to TEXT and your history (see `charcomplete forget`).")
def complete(text, model, max_chars, k, as_json, device, no_adapt):
    """Print the suggestion for TEXT (or stdin when TEXT is - or missing).

    \b
    charcomplete complete "To be, or not to b"
    echo -n "def main(" | charcomplete complete --json -
    """
    from charcomplete.adapt import set_default
    from charcomplete.eval_cli import run_complete

    set_default(not no_adapt, save=False)  # adapts to TEXT and reads your history; never writes it
    try:
        run_complete(model, text, max_chars, k, as_json, device)
    except user_errors() as e:
        raise fail(str(e)) from None


# --- eval ---------------------------------------------------------------------------------


@cli.command("eval")
@click.argument("paths", nargs=-1, required=True)
@click.option("--model", "models", multiple=True, help="Model name or path; repeat to compare (default: lstm and attention).")
@click.option("--limit", type=click.IntRange(1), default=None, help="Evaluate at most N characters in all.")
@click.option("--reference", default=None, help="Text the keyword baseline knows words from (e.g. the training text).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--device", type=click.Choice(DEVICE_CHOICES), default="cpu", show_default=True)
def eval_cmd(paths, models, limit, reference, as_json, device):
    """Evaluate models on texts they did not train on: bits per character, top-1/top-3
    accuracy, keystroke savings (and the keyword baseline's), suggestion latency.

    \b
    charcomplete eval notes.txt
    charcomplete eval --model attention --model my-notes --json --limit 20000 notes/
    """
    from charcomplete.eval_cli import run_eval

    try:
        run_eval(list(models) or ["lstm", "attention"], list(paths), as_json, limit, device, reference)
    except user_errors() as e:
        raise fail(str(e)) from None


# --- more commands register below (one block each) ---------------------------------------


# --- compare ------------------------------------------------------------------------------


@cli.command()
@click.option("--corpus", "corpus", multiple=True, help="Text to train and validate on: a file, a folder (recursive) or a glob; repeatable.")
@click.option("--epochs", type=float, default=None, help="Passes over the text, per model. Default 1 (20 with --notebook) unless --max-minutes is given.")
@click.option("--max-minutes", type=float, default=None, help="Wall-clock budget per model (and per method with --notebook).")
@click.option("--notebook", is_flag=True, help="Also train both models with the notebook's method (20-char windows, random split) for reference.")
@click.option("--plot", default=None, metavar="PATH", help="Also write the two plots as a PNG here (needs charcomplete[plot]).")
@click.option("--save", is_flag=True, help="Keep both trained models as user models NAME-lstm and NAME-attention.")
@click.option("--name", default="compare", show_default=True, help="Name prefix for --save.")
@click.option("--force", is_flag=True, help="With --save: replace models of those names.")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same initial weights and data order for both models.")
@click.option("--batch-size", type=int, default=64, show_default=True, help="Parallel streams per step (our trainer).")
@click.option("--seq-len", type=int, default=128, show_default=True, help="Characters per chunk (our trainer).")
@click.option("--embed", type=int, default=None, help="Embedding width. [default: 64; 128 with --notebook, as the notebook]")
@click.option("--hidden", type=int, default=256, show_default=True, help="LSTM width.")
@click.option("--layers", type=int, default=1, show_default=True, help="LSTM layers.")
@click.option("--window", type=int, default=None, help="Attention window (and the notebook's window length). [default: 32; 20 with --notebook]")
@click.option("--lr", type=float, default=3e-3, show_default=True, help="Adam learning rate of our trainer (cosine decay); the notebook's method keeps its constant 0.003.")
@click.option("--val-fraction", type=float, default=0.05, show_default=True, help="Held-out tail of every file.")
@click.option("--val-chars", type=int, default=65536, show_default=True, help="Validate on at most this many held-out characters.")
@click.option("--eval-every", type=int, default=None, help="Steps between validations. [default: about 20 per run with --epochs, else 50]")
@click.option("--ksr-chars", type=int, default=4000, show_default=True, help="Keystroke savings on this many characters of held-out text.")
@click.option("--device", type=click.Choice(DEVICE_CHOICES), default="auto", show_default=True)
@click.option("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output on stdout (progress goes to stderr).")
def compare(corpus, epochs, max_minutes, notebook, plot, save, name, force, seed, batch_size, seq_len, embed, hidden, layers,
            window, lr, val_fraction, val_chars, eval_every, ksr_chars, device, threads, as_json):
    """Train lstm and attention the same way and compare them: per-validation losses,
    a summary table (bpc, accuracy, size, speed, latency, keystroke savings) and plots.

    \b
    charcomplete compare --corpus ../shared/corpus/shakespeare --max-minutes 4
    charcomplete compare --corpus notes.txt --epochs 20 --plot cmp.png
    charcomplete compare --corpus notes/ --notebook      # the notebook's own method, for reference
    """
    if not corpus:
        raise fail("no corpus given: use --corpus PATH (a file, folder or glob; repeatable)")
    for opt, value in (("--epochs", epochs), ("--max-minutes", max_minutes)):
        if value is not None and not value > 0:
            raise fail(f"{opt} must be > 0, got {value:g}")
    for opt, value in (("--batch-size", batch_size), ("--seq-len", seq_len), ("--hidden", hidden), ("--layers", layers),
                       ("--embed", embed), ("--window", window), ("--val-chars", val_chars), ("--eval-every", eval_every),
                       ("--ksr-chars", ksr_chars), ("--threads", threads)):
        if value is not None and value < (0 if opt == "--ksr-chars" else 1):
            raise fail(f"{opt} must be {'>= 0' if opt == '--ksr-chars' else '>= 1'}, got {value}")
    if epochs is None and max_minutes is None:
        epochs = 20.0 if notebook else 1.0
    from charcomplete.compare_cli import run_compare_command

    try:
        run_compare_command(
            corpus=list(corpus), epochs=epochs, max_minutes=max_minutes, notebook=notebook, plot=plot, save=save, name=name,
            force=force, seed=seed, batch_size=batch_size, seq_len=seq_len, embed=embed or (128 if notebook else 64),
            hidden=hidden, layers=layers, window=window or (20 if notebook else 32), lr=lr, val_fraction=val_fraction,
            val_chars=val_chars, eval_every=eval_every, ksr_chars=ksr_chars, device=device, threads=threads, as_json=as_json,
        )
    except user_errors() as e:
        raise fail(str(e)) from None
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)


# --- edit -------------------------------------------------------------------------------


@cli.command()
@click.argument("file", type=click.Path(dir_okay=True, readable=False, path_type=str))  # Document.open says why, in one line
@click.option("--model", "model", default=None, help="Model name (see `charcomplete models`) or a .safetensors path. Default: the shipped default model.")
@click.option("--device", type=click.Choice(DEVICE_CHOICES), default="auto", show_default=True, help="Where the model runs.")
@click.option("--encoding", default="utf-8", show_default=True, help="The file's text encoding (e.g. latin-1); saved back in it.")
@click.option("--no-adapt", is_flag=True, help="Do not learn from what you type (and do not use what was learned before).")
def edit(file, model, device, encoding, no_adapt):
    """Edit FILE with model suggestions as ghost text (Tab accepts). FILE is created on the first save.

    \b
    charcomplete edit notes.txt
    charcomplete edit notes.txt --model my-notes --device cpu
    charcomplete edit old.txt --encoding latin-1
    """
    from charcomplete.document import Document, DocumentError

    try:
        document = Document.open(file, encoding=encoding)
    except DocumentError as e:
        raise fail(str(e)) from None
    from charcomplete.adapt import set_default
    from charcomplete.completion import load_completer

    set_default(not no_adapt)  # every model the editor loads adapts (and saves your history) unless --no-adapt
    try:
        completer = load_completer(model, device=device)
    except user_errors() as e:
        raise fail(str(e)) from None
    except OSError as e:
        raise fail(f"cannot load the model: {e}") from None
    # Textual repaints at most TEXTUAL_FPS times a second (60 by default); a ghost that arrives just
    # after the repaint of its key waits for the next one. Repaints happen only on change, so a
    # finer grid costs nothing while idle: 480 brings key -> ghost p99 from 44 ms to 16 ms
    # (bench/editor_latency.py, README "The editor").
    os.environ.setdefault("TEXTUAL_FPS", "480")
    from charcomplete.tui.app import EditorApp

    app = EditorApp(document, completer)
    try:
        app.run()
    except BaseException:
        app.write_recovery()
        raise
    if app.return_code:
        sys.exit(app.return_code)


# --- prepare ------------------------------------------------------------------------------


@cli.command()
@click.argument("corpus", nargs=-1, required=True)
@click.option("-o", "--out", "out", required=True, metavar="DIR", help="Folder to write the prepared corpus to (new or empty).")
@click.option("--val-fraction", type=float, default=0.05, show_default=True, help="Held-out tail of every file.")
@click.option("--force", is_flag=True, help="Replace a corpus prepared in DIR before.")
def prepare(corpus, out, val_fraction, force):
    """Tokenize a corpus once into memory-mapped id files, for `train --data DIR`.

    Files are read one at a time (two passes), so a corpus larger than memory prepares
    and trains with flat memory. Same vocabulary and train/validation split as --corpus.

    \b
    charcomplete prepare notes/ '*.md' -o prepared/
    charcomplete train --data prepared/ --max-minutes 60
    """
    from charcomplete.prepare_cli import run_prepare

    try:
        run_prepare(list(corpus), out, val_fraction, force)
    except user_errors() as e:
        raise fail(str(e)) from None


# --- forget (adaptation: charcomplete/adapt.py) ---------------------------------------------


@cli.command()
def forget():
    """Forget what the editor learned from your writing (the adaptation history).

    Deletes the history file in your data dir; a running editor drops what it learned too.
    `edit --no-adapt` / `complete --no-adapt` turn learning off.
    """
    from charcomplete.adapt import adapt_dir, forget as forget_history

    removed = forget_history()
    click.echo(f"Forgot {len(removed)} file(s) in {adapt_dir()}." if removed else f"Nothing to forget in {adapt_dir()}.")
