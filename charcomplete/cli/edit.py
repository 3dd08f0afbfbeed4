"""`charcomplete edit FILE`: the editor."""

from __future__ import annotations

import os
import sys

import click

from charcomplete.cli.options import device_option, fail


@click.command("edit")
@click.argument("file", type=click.Path(dir_okay=True, readable=False, path_type=str))  # Document.open says why, in one line
@click.option("--model", "model", default=None, help="Model name (see `charcomplete models`) or a .safetensors path. Default: the code model for source files, the prose model for the rest.")
@device_option("auto", help="Where the model runs.")
@click.option("--encoding", default="utf-8", show_default=True, help="The file's text encoding (e.g. latin-1); saved back in it.")
@click.option("--no-adapt", is_flag=True, help="Do not learn from what you type (and do not use what was learned before).")
@click.option("--large", is_flag=True, help="On a fast machine: the wider network of the file's kind (prose-large, code-large): better suggestions, slower keys.")
@click.option("--no-neighbours", is_flag=True, help="Do not learn from the files beside FILE (its repository's tracked files, or its folder). Nothing leaves the machine either way.")
def command(file, model, device, encoding, no_adapt, large, no_neighbours):
    """Edit FILE with model suggestions as ghost text (Tab accepts). FILE is created on the first save.

    \b
    charcomplete edit notes.txt
    charcomplete edit notes.txt --model my-notes --device cpu
    charcomplete edit script.py --large
    charcomplete edit old.txt --encoding latin-1
    """
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one step is small: BLAS threads only contend (2x slower)
    from charcomplete.checkpoint import inspect_checkpoint
    from charcomplete.device import resolve_device_cheaply
    from charcomplete.document import Document
    from charcomplete.registry import model_for_file, model_name, resolve_model

    if model and large:
        raise fail("--model and --large both name a model: give one of them")
    document = Document.open(file, encoding=encoding)
    # bad --model / --device fail here, in one line, before the UI: the model's name, header and
    # metadata are checked without reading the weights; the weights load after the first paint
    path = resolve_model(str(model or model_for_file(file, large)))  # the prose or the code model by the file's kind (--large: its wider one)
    try:
        inspect_checkpoint(path)
    except OSError as e:
        raise fail(f"cannot load the model: {e}") from None
    resolved = resolve_device_cheaply(device)  # None: auto, and only torch can tell (resolved on load)
    if not has_terminal():  # else the screen's escape codes pour into a pipe or file
        raise fail("edit needs a terminal (its input and output are not one); from a script, "
                   "`charcomplete complete TEXT` prints the suggestion")

    def load():  # in the editor's thread worker; every model it loads adapts unless --no-adapt
        from charcomplete.completion import load_completer

        return load_completer(path, device=resolved or device, adapt=not no_adapt, save_history=not no_adapt)

    # Textual repaints at most TEXTUAL_FPS times a second (60 by default); a ghost that arrives just
    # after the repaint of its key waits for the next one. Repaints happen only on change, so a
    # finer grid costs nothing while idle: 480 brings key -> ghost p99 from 44 ms to 16 ms
    # (bench/editor_latency.py, docs/benchmarks.md).
    os.environ.setdefault("TEXTUAL_FPS", "480")
    from charcomplete.tui.app import EditorApp

    app = EditorApp(document, None, load=load, loading=model_name(path))
    app.learn_neighbours = not no_neighbours  # the editor reads it (F4 / the palette toggle it)
    try:
        app.run()
    except BaseException:
        app.write_recovery()
        raise
    if app.return_code:
        sys.exit(app.return_code)


def has_terminal() -> bool:
    """Whether the editor can draw: its input and output are a terminal."""
    return bool(sys.stdin and sys.stdout and sys.stdin.isatty() and sys.stdout.isatty())  # (None under pythonw)
