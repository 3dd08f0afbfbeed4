"""The `charcomplete` command line: a click group with one error edge.

Every command lives in its own module here and imports what it needs when it runs, so
`charcomplete --help` starts fast (no torch import). The project's own errors
(`errors.CharcompleteError`) and the system's about a file the user named (an OSError with a file
name: too long, no room, not allowed) become one line and exit 1, here and nowhere else; anything
else is a bug and keeps its traceback. No error line holds a control character (`options.printable`).
"""

from __future__ import annotations

import warnings

import click

from charcomplete.version import __version__
from charcomplete.cli.options import fail, printable
from charcomplete.errors import CharcompleteError, CharcompleteWarning


def _plain_warnings() -> None:
    """Show a CharcompleteWarning as one plain line on stderr: Python's default adds `file:line:
    RuntimeWarning:` and a line of our source code. Installed for the rest of the process, so
    that a warning at exit (the history saved by atexit) is plain too; other warnings as before."""
    shown = warnings.showwarning
    if getattr(shown, "_charcomplete", False):
        return

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, CharcompleteWarning):
            click.echo(str(message), err=True)
        else:
            shown(message, category, filename, lineno, file, line)

    show._charcomplete = True
    warnings.showwarning = show


class Group(click.Group):
    """The group: a CharcompleteError from any command is shown as one line (exit 1); a
    CharcompleteWarning as one plain line on stderr."""

    def invoke(self, ctx: click.Context):
        _plain_warnings()
        try:
            return super().invoke(ctx)
        except click.ClickException as e:  # click's usage errors and ours: one printable line
            e.message = printable(e.message)
            raise
        except CharcompleteError as e:
            raise fail(str(e)) from None
        except OSError as e:
            if e.filename is None:
                raise
            raise fail(f"{e.filename}: {e.strerror or e}") from None


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="charcomplete")
def cli():
    """charcomplete: a text editor that completes what you type with small local
    character-level models (an LSTM, or an LSTM with attention)."""


from charcomplete.cli import compare, complete, edit, eval, forget, memory, models, prepare, train  # noqa: E402 (they register on `cli`)

for _module in (edit, complete, eval, train, memory, compare, models, prepare, forget):
    cli.add_command(_module.command)
