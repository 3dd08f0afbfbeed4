"""`charcomplete forget`: delete what the editor learned from the user's writing."""

from __future__ import annotations

import click


@click.command("forget")
def command():
    """Forget what the editor learned from your writing (the adaptation history).

    Deletes the history file in your data dir; a running editor drops what it learned too.
    `edit --no-adapt` / `complete --no-adapt` turn learning off.
    """
    from charcomplete.history import forget
    from charcomplete.paths import adapt_dir

    removed = forget()
    click.echo(f"Forgot {len(removed)} file(s) in {adapt_dir()}." if removed else f"Nothing to forget in {adapt_dir()}.")
