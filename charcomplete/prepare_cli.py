"""`charcomplete prepare`: tokenizes a corpus into DIR with a progress bar per pass."""

from __future__ import annotations

import click


def run_prepare(corpus: list[str], out: str, val_fraction: float, force: bool) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from charcomplete.prepare import prepare_corpus

    console = Console(stderr=True)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("files"),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        tasks = {}

        def on_file(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task({"count": "counting characters", "encode": "encoding"}[phase], total=total)
            bar.update(tasks[phase], completed=done)

        data = prepare_corpus(corpus, out, val_fraction=val_fraction, force=force, on_file=on_file)
    click.echo(f"prepared {out}: {data.summary()}; ids {data.train.dtype}")
    click.echo(f"train with: charcomplete train --data {out}")
