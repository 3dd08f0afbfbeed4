"""`charcomplete prepare`: tokenizes a corpus into DIR with a progress bar per pass."""

from __future__ import annotations

import click

from charcomplete.cli.options import VAL_FRACTION


@click.command("prepare")
@click.argument("corpus", nargs=-1, required=True)
@click.option("-o", "--out", "out", required=True, metavar="DIR", help="Folder to write the prepared corpus to (new or empty).")
@click.option("--val-fraction", type=VAL_FRACTION, default=0.05, show_default=True, help="Held-out tail of every file.")
@click.option("--force", is_flag=True, help="Replace a corpus prepared in DIR before.")
def command(corpus, out, val_fraction, force):
    """Tokenize a corpus once into memory-mapped id files, for `train --data DIR`.

    Files are read one at a time (two passes), so a corpus larger than memory prepares
    and trains with flat memory. Same vocabulary and train/validation split as --corpus.

    \b
    charcomplete prepare notes/ '*.md' -o prepared/
    charcomplete train --data prepared/ --max-minutes 60
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from charcomplete.prepare import prepare_corpus

    console = Console(stderr=True)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("files"),
                  TimeElapsedColumn(), console=console, transient=True,
                  disable=not console.is_terminal) as bar:  # piped or logged: no bar (it left a blank line before the output)
        tasks = {}

        def on_file(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task({"count": "counting characters", "encode": "encoding"}[phase], total=total)
            bar.update(tasks[phase], completed=done)

        data = prepare_corpus(list(corpus), out, val_fraction=val_fraction, force=force, on_file=on_file)
    click.echo(f"prepared {out}: {data.summary()}; ids {data.train.dtype}")
    click.echo(f"train with: charcomplete train --data {out}")
