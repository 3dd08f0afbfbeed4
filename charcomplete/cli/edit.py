"""`charcomplete edit FILE`: the editor."""

from __future__ import annotations

import os
import sys

import click

from charcomplete.cli.options import device_option, fail


@click.command("edit")
@click.argument("file", type=click.Path(dir_okay=True, readable=False, path_type=str))  # Document.open says why, in one line
@click.option("--model", "model", default=None, help="Model name (see `charcomplete models`) or a .safetensors path. Default: the shipped default model.")
@device_option("auto", help="Where the model runs.")
@click.option("--encoding", default="utf-8", show_default=True, help="The file's text encoding (e.g. latin-1); saved back in it.")
@click.option("--no-adapt", is_flag=True, help="Do not learn from what you type (and do not use what was learned before).")
def command(file, model, device, encoding, no_adapt):
    """Edit FILE with model suggestions as ghost text (Tab accepts). FILE is created on the first save.

    \b
    charcomplete edit notes.txt
    charcomplete edit notes.txt --model my-notes --device cpu
    charcomplete edit old.txt --encoding latin-1
    """
    from charcomplete.completion import load_completer
    from charcomplete.document import Document

    document = Document.open(file, encoding=encoding)
    try:  # every model the editor loads adapts (and saves your history) unless --no-adapt
        completer = load_completer(model, device=device, adapt=not no_adapt, save_history=not no_adapt)
    except OSError as e:
        raise fail(f"cannot load the model: {e}") from None
    # Textual repaints at most TEXTUAL_FPS times a second (60 by default); a ghost that arrives just
    # after the repaint of its key waits for the next one. Repaints happen only on change, so a
    # finer grid costs nothing while idle: 480 brings key -> ghost p99 from 44 ms to 16 ms
    # (bench/editor_latency.py, docs/benchmarks.md).
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
