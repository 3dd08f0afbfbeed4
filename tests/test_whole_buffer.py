"""The document cache knows the whole buffer (before and after the cursor), learned in the
background and kept true to the buffer through edits, deletions, pastes and undo (issue 12, item 1)."""

from __future__ import annotations

import random

import pytest

from charcomplete.adapt import AdaptConfig, AdaptiveModel, BufferLearner
from charcomplete.completion import load_completer
from charcomplete.ngram import CharCounts

from conftest import TINY_TEXT
from pilot_helpers import until

NAME = "zanzibarqux"
TOP = f"the {NAME} is quick. the {NAME} is lazy. a {NAME} sleeps.\n"


def recount(text: str, words: bool = False) -> dict:
    c = CharCounts(2, 6)
    c.add(text, 0)
    return c.words if words else c.table


# --- counts -----------------------------------------------------------------------------------


def test_update_and_remove_match_add():
    rng = random.Random(0)
    text = "".join(rng.choice("ab c\n") for _ in range(2000))
    c = CharCounts(2, 6)
    for a, b in ((0, 1), (1, 700), (700, 1999), (1999, 2000)):
        c.update(text, a, b)
    assert c.table == recount(text)
    assert c.words == recount(text, words=True) and c.words["ab"][1]  # partial words, counted in pieces
    c.remove(text, 300, 1200)
    expect = CharCounts(2, 6)
    expect.add(text, 0, 300)
    expect.add(text, 1200)
    assert c.table == expect.table
    assert c.words == expect.words
    assert all(total == sum(counts.values()) and min(counts.values()) > 0 for total, counts in c.table.values())
    c.remove(text, 0)  # what is left, and more: never below zero, nothing left over
    c.remove(text, 0)
    assert c.table == {} and c.words == {}


def test_learner_stays_true_to_random_edits():
    rng = random.Random(1)
    text = "".join(rng.choice("abc d\n") for _ in range(3000))
    text = text[:1000] + "x" * 60 + text[1000:]  # a word longer than words.WORD_MAX
    learner = BufferLearner()
    learner.open(text)
    k = learner.edit_window
    for _ in range(200):  # insertions, deletions, replacements anywhere, queued while the first count runs
        a = rng.randrange(len(text) + 1)
        b = min(len(text), a + rng.choice([0, 0, 1, 3, 40]))
        new = "".join(rng.choice("abc d\n") for _ in range(rng.choice([0, 1, 1, 5, 30])))
        if rng.random() < 0.1:
            new = "y" * rng.choice([20, 45])  # a long word, so that edits cut and join words near WORD_MAX
        learner.edit(text[max(0, a - k) : a], text[a:b], new, text[b : b + k])
        text = text[:a] + new + text[b:]
        learner.work(rng.choice([0, 50, 500]))
    while learner.work(1000):
        pass
    assert learner.doc.table == recount(text)
    assert learner.doc.words == recount(text, words=True)  # the partial words too (the edit window covers them)
    assert learner.label() == "doc"
    found = 0
    for i in range(0, len(text), 7):  # the match model's answers are the buffer's as it is now
        ch, rank = learner.doc_match.find(text[:i][-30:], learner.doc.table, 6)
        if ch is not None:
            found += 1
            assert text[:i][-6:] + ch in text
    assert found > 50


def test_the_match_model_learns_the_buffer_and_what_is_typed_and_forgets_what_is_deleted():
    line = "the brazen fox quirks at the zoo. "
    filler = "".join(random.Random(2).choice("abc d\n") for _ in range(3000))
    buffer = filler + line + filler
    learner = BufferLearner()
    learner.open(buffer)
    while learner.work(700):  # in pieces, as the model thread counts
        pass
    assert len(learner.doc_match) == len(buffer)
    twelve = learner.doc_match.lengths.index(12) + 1  # the rank of a 12-character context
    assert learner.doc_match.find("xx the brazen fox", learner.doc.table, 6) == (" ", twelve)
    typed = "\nthe brazen ox came. "  # typed at the end, a key at a time
    for i, ch in enumerate(typed):
        learner.edit((buffer + typed[:i])[-learner.edit_window :], "", ch, "")
        learner.work(64)
    assert learner.doc_match.find("\nthe brazen ox", learner.doc.table, 6) == (" ", twelve)
    start = len(filler)
    learner.edit(buffer[start - 41 : start], line, "", buffer[start + len(line) : start + len(line) + 41])  # deleted
    while learner.work(700):
        pass
    assert learner.doc_match.find("xx the brazen fox", learner.doc.table, 6) == (None, 0)
    learner.open("something else entirely")  # a new buffer: the old one is gone
    learner.work(1 << 16)
    assert len(learner.doc_match) == len("something else entirely")


def test_attached_model_suggests_a_name_from_the_top_of_a_long_buffer(tiny_checkpoints):
    buffer = TOP + TINY_TEXT[:5000]  # the name is ~5 KB before the end: outside the editor's context
    typed = buffer + "the zanz"

    def suggest(completer):
        ctx = typed[-1024:]
        completer.observe(ctx)
        return completer.suggest(ctx).text

    today = load_completer(tiny_checkpoints["lstm"], adapt=AdaptiveModel(AdaptConfig(), None))
    assert not suggest(today).startswith("ibar")
    whole = load_completer(tiny_checkpoints["lstm"], adapt=AdaptiveModel(AdaptConfig(), None))
    learner = BufferLearner()
    learner.open(buffer)
    whole.adapt.attach(learner)
    while learner.work(4096):
        pass
    learner.edit(buffer[-6:], "", "the zanz", "")  # what was typed at the end
    learner.work()
    assert suggest(whole).startswith("ibar")


# --- the editor ------------------------------------------------------------------------------


@pytest.fixture
def adaptive_editor(tiny_checkpoints, tmp_path):
    """An editor whose model adapts (no user history), neighbouring files off unless asked."""
    from charcomplete.document import Document
    from charcomplete.tui.app import EditorApp

    def make(text: str, name: str = "notes.txt", neighbours: bool = False, folder=None):
        p = (folder or tmp_path) / name
        p.write_text(text)
        completer = load_completer(tiny_checkpoints["lstm"], adapt=AdaptiveModel(AdaptConfig(), None))
        completer.policy.read_cost = 0.0  # the whole name as the ghost: these tests are about what is learned
        app = EditorApp(Document.open(p), completer)
        app.learn_neighbours = neighbours
        return app

    return make


async def learned(pilot) -> None:
    """Wait until everything queued is counted and the model answered."""
    app = pilot.app
    await until(pilot, lambda: not app.editor.learner.busy and app.model.idle)
    await pilot.pause()
    await until(pilot, lambda: not app.editor.learner.busy and app.model.idle)
    await pilot.pause()


async def ghost_after(pilot, keys: str) -> str:
    await pilot.press(*[{" ": "space", ".": "full_stop", "\n": "enter"}.get(ch, ch) for ch in keys])
    await learned(pilot)
    return pilot.app.editor.suggestion


async def test_editor_suggests_names_from_the_top_and_from_after_the_cursor(adaptive_editor):
    below = f"\n{TOP}"
    app = adaptive_editor(TOP + TINY_TEXT[:4000] + "\n\n" + TINY_TEXT[:3000] + below.replace(NAME, "quorblenth"))
    async with app.run_test() as pilot:
        ed = app.editor
        await learned(pilot)
        assert app.status.learned == "doc"
        ed.move_cursor(((TOP + TINY_TEXT[:4000]).count("\n") + 1, 0))  # the empty line in the middle
        assert (await ghost_after(pilot, "the zanz")).startswith("ibar")  # from the top, 4 KB up
        assert (await ghost_after(pilot, "ibarqux. the quorb")).startswith("len")  # only below the cursor
        ed.move_cursor(ed.document.end)
        assert (await ghost_after(pilot, "\nthe zanz")).startswith("ibar")


async def test_a_deleted_name_stops_being_suggested_and_undo_brings_it_back(adaptive_editor):
    app = adaptive_editor(TOP + TINY_TEXT[:3000])
    async with app.run_test() as pilot:
        ed = app.editor
        await learned(pilot)
        ed.move_cursor(ed.document.end)
        assert (await ghost_after(pilot, "the zanz")).startswith("ibar")
        for _ in range(4):
            await pilot.press("backspace")
        ed.move_cursor((0, 0))
        ed.move_cursor((1, 0), select=True)
        await pilot.press("delete")  # the only line that held the name
        assert NAME not in ed.text
        ed.move_cursor(ed.document.end)
        assert not (await ghost_after(pilot, "zanz")).startswith("ibar")
        assert ed.learner.doc.table.get("zanz") is None  # not a trace of it in the counts
        for _ in range(4):
            await pilot.press("backspace")
        for _ in range(10):  # undo back to the deletion (Textual batches quick edits): the name is back
            if NAME in ed.text:
                break
            await pilot.press("ctrl+z")
        await learned(pilot)
        assert NAME in ed.text
        assert ed.learner.doc.table.get("zanz") is not None
        full = CharCounts(2, 6)
        full.add(app.buffer_text(), 0)
        assert ed.learner.doc.table == full.table  # exactly the buffer's counts


async def test_cutting_the_last_line_without_a_selection_keeps_the_counts_true(adaptive_editor):
    # Ctrl+X with nothing selected cuts the cursor's line: on the last line Textual's edit ends on
    # the row after the document's end, which the learner's hook once read (IndexError: a crash)
    app = adaptive_editor(TOP + TINY_TEXT[:2000] + f"\nthe {NAME} at the end")
    async with app.run_test() as pilot:
        ed = app.editor
        await learned(pilot)
        ed.move_cursor(ed.document.end)
        await pilot.press("ctrl+x")
        await learned(pilot)
        assert not ed.text.endswith("at the end") and ed.text.endswith("\n")
        await pilot.press("ctrl+x")  # again, on the (now empty) last line
        await pilot.press("t", "h", "e")
        await learned(pilot)
        assert app.is_running
        full = CharCounts(2, 6)
        full.add(app.buffer_text(), 0)
        assert ed.learner.doc.table == full.table


async def test_opening_a_large_file_paints_before_the_buffer_is_learned(adaptive_editor):
    text = (TINY_TEXT * 200)[:1_000_000]  # 1 MB
    app = adaptive_editor(text)
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.editor.document.line_count > 1000  # painted, the buffer there
        assert app.editor.learner.doc_progress < 1.0  # still learning in the background
        assert app.status.learned == "" or app.status.learned.startswith("doc ")
        await pilot.press("a")  # a key is handled while it learns
        await pilot.pause()
        assert app.editor.text.startswith("a")


async def test_idle_counting_waits_while_the_user_types_and_lets_go_between_steps(adaptive_editor):
    """The model thread counts a long buffer only in typing pauses, and waits between its steps
    (the counting is pure Python: without the waits the UI thread queues behind it for the GIL)."""
    from charcomplete.tui.learning import LEARN_GAP, TYPING_QUIET

    app = adaptive_editor("short note\n")
    async with app.run_test() as pilot:
        ed = app.editor
        await learned(pilot)
        assert ed._learn_wait(0.0, 100.0) == 0.5  # nothing to count: requests only
        ed.learner.open("a long buffer of text " * 20_000)  # 440,000 characters queued
        now = 100.0
        assert abs(ed._learn_wait(now, now) - TYPING_QUIET) < 1e-9  # a key just came: no counting yet
        assert abs(ed._learn_wait(now - TYPING_QUIET / 2, now) - TYPING_QUIET / 2) < 1e-9
        assert ed._learn_wait(now - 10, now) == LEARN_GAP  # a pause: a step, then a short wait
        await until(pilot, lambda: not ed.learner.busy, timeout=60)
        assert ed.learner.doc_progress == 1.0
