"""Seeded runs of editor sessions on one file, each ended by a save, a crash (what SIGHUP,
SIGTERM and an unhandled exception do: the recovery file, then exit), a quit that discards, or a
save that fails and then a crash; each opened with the recovery question answered at random.
Checked against a model of what must hold: every recovered text the user did not discard or
save is still in a recovery file, the newest is offered first with the count of the others
(Discard offers the next at once), and Restore puts exactly it in the buffer. (This found "Later", then a crash, overwriting the
text kept for later: seed 11 fails on the code before. More seeds: SEEDS=6,7,8 pytest ...)"""

from __future__ import annotations

import os
import random
from collections import Counter

import pytest

from charcomplete.tui.dialogs import Choice
from test_editor_app import type_at_end

WORDS = ["alpha ", "beta\n", "gamma ", "\u00e9t\u00e9 ", "delta\n"]


def recovery_texts(folder, data_dir) -> Counter:
    files = list(folder.glob(".notes.txt.charcomplete-recovery*")) + list((data_dir / "recovery").glob("*notes.txt.charcomplete-*"))
    return Counter(p.read_text() for p in files)


class Written:
    """One recovery file of the model: its text and when it was last written."""

    clock = 0

    def __init__(self, text: str):
        self.text = ""
        self.write(text)

    def write(self, text: str) -> None:
        Written.clock += 1
        self.text, self.when = text, Written.clock


async def one_session(make_editor, path, rng, pending: list[Written], log, monkeypatch) -> None:
    disk = path.read_text() if path.exists() else ""
    pending[:] = [w for w in pending if w.text != disk]  # one that holds just the file is removed when read
    app = make_editor(path=path)
    own = None  # the model's recovery file of this session (restored from, or written)
    async with app.run_test() as pilot:
        await pilot.pause()
        while pending:  # the newest is offered; Discard offers the next at once
            assert isinstance(app.screen, Choice), log
            newest = max(pending, key=lambda w: w.when)
            others = len(pending) - 1
            assert (f"{others} more" in app.screen.message) == bool(others), (log, app.screen.message)
            choice = rng.choice("rdl")
            log.append(f"offered {newest.text!r}, {others} more: {choice}")
            await pilot.press(choice)
            await pilot.pause()
            if choice == "r":
                assert app.editor.text == newest.text, log
                own = newest
            elif choice == "d":
                pending.remove(newest)
                continue
            break
        assert not isinstance(app.screen, Choice), log
        for _ in range(rng.randint(0, 2)):
            await type_at_end(pilot, rng.choice(WORDS))
        end = rng.choice(["save", "crash", "discard", "failed save"])
        log.append(end)
        buffer = app.editor.text
        modified = app.is_modified()
        if end == "save":
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert path.read_text() == buffer, log
            if own in pending:
                pending.remove(own)
            await pilot.press("ctrl+q")
            await pilot.pause()
        elif end == "discard":
            await pilot.press("ctrl+q")
            await pilot.pause()
            if isinstance(app.screen, Choice):
                await pilot.press("d")
                await pilot.pause()
                if own in pending:  # a restored text discarded on quit: its recovery file goes too
                    pending.remove(own)
        else:
            if end == "failed save":
                with monkeypatch.context() as m:
                    m.setattr(os, "replace", lambda *a, **k: (_ for _ in ()).throw(OSError(28, "No space left on device")))
                    await pilot.press("ctrl+s")
                    await pilot.pause()
                assert path.read_text() == disk, log
            if modified:  # the failed save and the crash write this session's recovery file
                if own is None:
                    own = Written(buffer)
                    pending.append(own)
                else:
                    own.write(buffer)
            app.write_recovery()
            app.exit()
            await pilot.pause()


@pytest.mark.parametrize("seed", [int(s) for s in os.environ.get("SEEDS", "0,1,2,3,4,11").split(",")])
async def test_recovered_text_is_never_lost_over_sessions(make_editor, tmp_path, isolated_data_dir, monkeypatch, seed):
    rng = random.Random(seed)
    folder = tmp_path / "project"
    folder.mkdir()
    path = folder / "notes.txt"
    path.write_text("start\n")
    pending: list[Written] = []
    log: list[str] = []
    for session in range(6):
        log.append(f"session {session}")
        await one_session(make_editor, path, rng, pending, log, monkeypatch)
        assert recovery_texts(folder, isolated_data_dir) == Counter(w.text for w in pending), log
