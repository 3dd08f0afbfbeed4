"""Snapshot tests of the editor's screens (pytest-textual-snapshot; `--snapshot-update` to accept).

The tiny models are deterministic; the one number that is not (the suggestion's latency) is
pinned to 1.0 ms so the pictures compare exactly. The network steps in numpy, on every CPU alike
(network.c's int8 weights move the confidence's last digit and the sparkline's shades).
"""

from __future__ import annotations

import pytest

import charcomplete.native as native
from charcomplete.trainer import Progress
from charcomplete.tui.messages import TrainingProgressed
from charcomplete.tui.training import TrainingPanel

TEXT = "the quick brown fox jumps over the lazy dog.\nthe lazy dog sleeps while the quick brown fox runs.\n"
SIZE = (80, 20)


@pytest.fixture(autouse=True)
def numpy_step(monkeypatch):
    monkeypatch.setitem(native._loaded, "network", None)


def pinned(app):
    """The app with the suggestion latency fixed (everything else is deterministic)."""
    completer = app.model.completer
    suggest = completer.suggest

    def fixed(context, max_chars=None):
        s = suggest(context, max_chars)
        s.latency_ms = 1.0
        return s

    completer.suggest = fixed
    return app


async def type_the_qu(pilot):
    app = pilot.app
    app.editor.cursor_blink = False
    app.editor.move_cursor(app.editor.document.end)
    await pilot.press(*"the qu")
    while not app.model.idle:  # the model thread answers; its message lands on the next pause
        await pilot.pause()
    await pilot.pause()
    await pilot.pause()
    while app._figures is not None:  # the status bar and the sparkline drawn (app.FIGURES_AFTER after the ghost)
        await pilot.pause()
    assert app.editor.suggestion  # the picture shows a ghost


def test_main_screen_attention(snap_compare, make_editor):
    assert snap_compare(pinned(make_editor(TEXT)), terminal_size=SIZE, run_before=type_the_qu)


def test_main_screen_lstm_shows_confidence(snap_compare, make_editor):
    assert snap_compare(pinned(make_editor(TEXT, kind="lstm")), terminal_size=SIZE, run_before=type_the_qu)


def test_quit_dialog(snap_compare, make_editor):
    async def run_before(pilot):
        await type_the_qu(pilot)
        await pilot.press("ctrl+q")
        await pilot.pause()

    assert snap_compare(pinned(make_editor(TEXT)), terminal_size=SIZE, run_before=run_before)


def test_training_panel(snap_compare, make_editor):
    async def run_before(pilot):
        await type_the_qu(pilot)
        panel = pilot.app.query_one(TrainingPanel)
        panel.display = True
        panel.query_one("#train-title").update("Training attention model 'notes-attention' on notes.txt")
        for step, train_bpc, val_bpc in [(50, 3.1, 3.3), (100, 2.4, 2.7), (150, 2.0, 2.4), (200, 1.8, 2.3)]:
            p = Progress(kind="eval", step=step, total_steps=400, epoch=step / 100, elapsed=step / 10, chars=step * 512,
                         chars_per_s=5120.0, train_bpc=train_bpc, val_bpc=val_bpc, fraction=step / 400, eta=40.0 - step / 10)
            panel.post_message(TrainingProgressed(p))
        await pilot.pause()
        await pilot.pause()

    assert snap_compare(pinned(make_editor(TEXT)), terminal_size=SIZE, run_before=run_before)
