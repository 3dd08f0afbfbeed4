"""What several commands share: the one-line failure and option decorators."""

from __future__ import annotations

import math
import re

import click

from charcomplete.config import KINDS
from charcomplete.device import DEVICES


CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def printable(text: str, keep: str = "") -> str:
    """`text` with its control characters (but those in `keep`) written as escapes (`\\n`, `\\x1b`):
    a file or model name holding a line break or an escape code stays one line, and never drives
    the terminal."""
    return CONTROL.sub(lambda m: m.group() if m.group() in keep else repr(m.group())[1:-1], text)


def json_safe(value):
    """`value` with every NaN or infinity as null: JSON has no NaN (`compare --json` printed `NaN`,
    which strict parsers refuse)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def fail(message: str) -> click.ClickException:
    """A one-line error for the user (exit code 1)."""
    return click.ClickException(printable(str(message)) if message else "error")


def not_empty(ctx, param, value):
    """A click callback: an option given as "" is a usage error (taken as not given, `--resume ""` crashed)."""
    if value == "":
        raise click.BadParameter("must not be empty")
    return value


def device_option(default: str, help: str | None = None):
    """--device: where the model runs (auto: cuda, then mps, then cpu)."""
    return click.option("--device", type=click.Choice(DEVICES), default=default, show_default=True, help=help)


def kind_option(param: str = "kind"):
    """--model for training: which kind of network."""
    return click.option("--model", param, type=click.Choice(KINDS), default="attention", show_default=True, help="Model kind.")


def threads_option():
    return click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU threads for torch (default: torch's choice).")


def one_cpu_thread(torch_too: bool = False) -> None:
    """Suggestions are tiny sequential computations: one thread is fastest and steadiest. BLAS
    (numpy's) is told before numpy loads; torch only when the command needs it anyway (torch_too)
    or has loaded it: the CPU path of a suggestion never imports torch (0.8 s of start-up)."""
    import os
    import sys

    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    if torch_too:
        import torch  # noqa: F401
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


VAL_FRACTION = click.FloatRange(0, 1, min_open=True, max_open=True)  # --val-fraction: the held-out tail of every file
