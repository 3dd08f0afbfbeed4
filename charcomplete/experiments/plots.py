"""The notebook's two plots - training loss and validation accuracy, every run on each - in
the terminal (plotext) and as a PNG (matplotlib, the optional extra `charcomplete[plot]`).

A series is a dict: label, epoch (x), train_loss (nats per character), val_acc; None
values (e.g. no training loss before the first step) are left out.
"""

from __future__ import annotations

import io
from pathlib import Path

from charcomplete.fileio import atomic_write

PLOTS = (("train_loss", "Training loss (nats/char)"), ("val_acc", "Validation accuracy (held-out tail)"))
PNG_HINT = "--plot needs matplotlib: pip install 'charcomplete[plot]'"
MARKERS = ("•", "x", "o", "+", "*", "#")  # without colour, each series its own character


def _points(series: dict, key: str) -> tuple[list[float], list[float]]:
    pairs = [(x, y) for x, y in zip(series["epoch"], series[key]) if y is not None and y == y]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def terminal_plots(series: list[dict], width: int = 100, height: int = 20, color: bool = True) -> str:
    """Both plots side by side, as text of about `width` x `height` terminal cells."""
    import plotext as plt

    fig = plt.figure
    fig.clear()
    plt.terminal.limit(False, False)  # the size below, whatever the terminal (or none: a pipe)
    fig.plot_size(width, height)
    fig.subplots(1, len(PLOTS))
    for col, (key, title) in enumerate(PLOTS, start=1):
        ax = fig.subplot(1, col)
        ax.title(title)
        ax.label("epoch")
        xs_all, ys_all = [], []
        for i, s in enumerate(series):
            xs, ys = _points(s, key)
            if xs:
                marker = None if color else MARKERS[i % len(MARKERS)]
                ax.draw(fig.signal(xs, ys, marker=marker).label(s["label"]).lines())
                xs_all += xs
                ys_all += ys
        if xs_all:  # the legend where the curves are not: top right for a loss, bottom right for accuracy
            top = key == "train_loss"
            ax.legend(x=max(xs_all), y=max(ys_all) if top else min(ys_all), ha="right",
                      va="top" if top else "bottom", relative=True)
    text = fig.build().string(colorless=not color)
    fig.clear()
    return text


def matplotlib_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def save_png(series: list[dict], path: str | Path) -> Path:
    """Write both plots side by side to `path` (the notebook's 12 x 5 inch figure)."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    fig = Figure(figsize=(12, 5))
    axes = fig.subplots(1, len(PLOTS))
    for ax, (key, title) in zip(axes, PLOTS):
        for s in series:
            xs, ys = _points(s, key)
            ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, label=s["label"])
        ax.set_xlabel("epoch")
        ax.set_ylabel(title)
        ax.set_title(title.split(" (")[0] + " comparison")
        ax.legend()
        ax.grid(True)
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format="png")
    return atomic_write(path, png.getvalue())  # never half a file; never into a FIFO
