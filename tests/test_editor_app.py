"""The editor through Textual's Pilot (headless, tiny CPU models, no sleeps as synchronisation)."""

from __future__ import annotations

import errno
import os
import shutil
import time

import pytest
from textual import events
from textual.keys import _character_to_key

from charcomplete.completion import load_completer
from charcomplete.tui.dialogs import Choice
from charcomplete.tui.messages import SuggestionReady
from charcomplete.tui.training import TrainDialog, TrainingPanel
from pilot_helpers import until

LINE = "the quick brown fox jumps over the lazy dog.\n"


async def settle(pilot) -> None:
    """Let the model answer, every other worker finish, and every message they posted be handled."""
    app = pilot.app
    await pilot.pause()
    await until(pilot, lambda: app.model.idle)
    others = [w for w in app.workers if w.group != "model"]
    if others:  # (an empty list would mean: all workers, the long-lived model thread too)
        await app.workers.wait_for_complete(others)
    await until(pilot, lambda: app.model.idle)
    await pilot.pause()
    await pilot.pause()
    await until(pilot, lambda: app._figures is None)  # the status bar and the sparkline drawn (app.FIGURES_AFTER)


def install_user_model(checkpoint, name: str) -> None:
    """Copy `checkpoint` into the user's models folder as NAME (the palette lists it)."""
    from charcomplete.registry import user_checkpoint_path

    dest = user_checkpoint_path(name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(checkpoint, dest)


def expected(app):
    """What an independent Completer of the same model suggests for the editor's current context."""
    return app._fresh.suggest(app.editor.context()).text


@pytest.fixture
def editor(make_editor, tiny_checkpoints):
    def make(text=LINE, kind="attention", **kw):
        app = make_editor(text, kind=kind, **kw)
        app._fresh = load_completer(tiny_checkpoints[kind], adapt=False)  # an independent copy for expected answers
        return app

    return make


async def type_text(pilot, text: str, wait_for_model: bool = True) -> None:
    """Send `text` as key events all at once (as fast as a paste-speed typist), then let them land."""
    ed = pilot.app.editor
    before = ed.text
    for ch in text:
        key = "enter" if ch == "\n" else ch if ch.isalnum() else _character_to_key(ch)
        pilot.app.post_message(events.Key(key, ch))
    await until(pilot, lambda: len(ed.text) >= len(before) + len(text))
    if wait_for_model:
        await settle(pilot)


async def type_at_end(pilot, text: str) -> None:
    ed = pilot.app.editor
    ed.move_cursor(ed.document.end)
    await type_text(pilot, text)


async def test_typing_shows_the_models_suggestion_and_tab_inserts_exactly_it(editor):
    app = editor()
    async with app.run_test() as pilot:
        await type_at_end(pilot, "the qu")
        ghost = app.editor.suggestion
        assert ghost and ghost == expected(app)
        assert app.status.shown >= 1 and app.status.latency_ms is not None
        await pilot.press("tab")
        assert app.editor.text == LINE + "the qu" + ghost
        await settle(pilot)
        assert app.status.accepted == 1


async def test_tab_without_a_suggestion_indents(editor):
    app = editor()
    async with app.run_test() as pilot:
        await pilot.press("f2")  # suggestions off
        await type_at_end(pilot, "x")
        assert app.editor.suggestion == ""
        await pilot.press("tab")
        assert app.editor.text == LINE + "x" + " " * 3  # to the next tab stop (4)


async def test_enter_keeps_the_indentation_and_leaves_blank_lines_empty(editor):
    app = editor(text="def f():\n\tif x:\n        y = 1")
    async with app.run_test() as pilot:
        await pilot.press("f2")  # suggestions off: only the keys' own edits
        ed = app.editor
        ed.move_cursor(ed.document.end)
        await pilot.press("enter")
        assert ed.text.endswith("        y = 1\n        ") and ed.cursor_location == (3, 8)
        await pilot.press("enter")  # on a line of nothing but the indentation: it moves down, the line stays empty
        assert ed.text.endswith("        y = 1\n\n        ") and ed.cursor_location == (4, 8)
        await pilot.press("ctrl+z")  # one undo step each
        assert ed.text.endswith("        y = 1\n        ")
        ed.move_cursor((1, 6))  # a tab-indented line: its tab comes along
        await pilot.press("enter")
        assert ed.document[1] == "\tif x:" and ed.document[2] == "\t"
        ed.move_cursor((0, 0))  # at a line's start: a plain line break
        await pilot.press("enter")
        assert ed.document[0] == "" and ed.document[1] == "def f():"
        ed.move_cursor((1, 4))
        await pilot.press("shift+end", "enter")  # a selection is replaced, the indentation before it kept
        assert ed.document[1] == "def " and ed.document[2] == ""


async def test_a_burst_of_keys_lands_in_the_order_typed(editor):
    """Bound keys (End, Backspace, arrows) and typed characters arriving together, as from a fast
    macro or on a loaded machine: Textual let the bound ones bubble to the app first, so "End a b c"
    wrote "abc" before the End (Textual issue 6605); now the widget runs its own bindings in order."""
    app = editor(text="hello world")
    async with app.run_test() as pilot:
        await pilot.press("f2")  # suggestions off: only the keys' own edits
        ed = app.editor
        ed.move_cursor((0, 0))
        burst = [("end", None), ("space", " "), ("b", "b"), ("a", "a"), ("backspace", None), ("c", "c"),
                 ("left", None), ("x", "x"), ("home", None), ("y", "y")]
        for key, ch in burst:
            app.post_message(events.Key(key, ch))
        await until(pilot, lambda: len(ed.text) >= len("hello world") + 4)
        await settle(pilot)
        assert ed.text == "yhello world bxc"


async def test_tab_indents_a_selection_of_lines_and_shift_tab_dedents(editor):
    """Tab on a selection that spans lines indents them (TextArea replaced the selected lines with
    four spaces: "return 1" was gone); Shift+Tab dedents, also the cursor's line alone."""
    from textual.widgets.text_area import Selection

    app = editor(text="def f():\nreturn 1\n\nx = 2\n")
    async with app.run_test() as pilot:
        await pilot.press("f2")  # suggestions off: only the keys' own edits
        ed = app.editor
        ed.selection = Selection((1, 0), (4, 0))  # three whole lines, to the next line's start
        await pilot.press("tab")
        assert ed.text == "def f():\n    return 1\n\n    x = 2\n"  # the blank line stays blank
        assert ed.selection == Selection((1, 0), (4, 0))
        await pilot.press("tab")  # again: one more level, the same lines still selected
        assert ed.text == "def f():\n        return 1\n\n        x = 2\n"
        await pilot.press("shift+tab")
        assert ed.text == "def f():\n    return 1\n\n    x = 2\n"
        await pilot.press("ctrl+z")  # one undo step each
        assert ed.text == "def f():\n        return 1\n\n        x = 2\n"
        ed.selection = Selection.cursor((3, 6))  # no selection: Shift+Tab dedents the cursor's line, the cursor stays on its character
        await pilot.press("shift+tab")
        assert ed.document[3] == "    x = 2" and ed.cursor_location == (3, 2)
        ed.selection = Selection((1, 8), (1, 14))  # "return", within one line: Tab replaces it, as before
        await pilot.press("tab")
        assert ed.document[1] == " " * 11 + "1"  # "return" replaced by the spaces to the next tab stop


async def test_ctrl_right_takes_one_word(editor):
    app = editor()
    async with app.run_test() as pilot:
        await type_at_end(pilot, "the lazy dog sleeps while the q")
        ghost = app.editor.suggestion
        assert ghost.startswith("uick ")
        app.editor.suggestion = "uick brown fox"  # a multi-word ghost, to see exactly one word taken
        with app.model.lock:  # hold the model: see the ghost before its next answer
            await pilot.press("ctrl+right")
            assert app.editor.text.endswith("the quick ")
            assert app.editor.suggestion == "brown fox"


async def test_escape_and_cursor_moves_clear_the_ghost(editor):
    app = editor()
    async with app.run_test() as pilot:
        await type_at_end(pilot, "the qu")
        assert app.editor.suggestion
        await pilot.press("escape")
        await settle(pilot)
        assert app.editor.suggestion == ""
        await pilot.press("backspace")
        await settle(pilot)
        assert app.editor.suggestion  # a new edit asks again
        await pilot.press("left")
        await settle(pilot)
        assert app.editor.suggestion == ""  # cursor moved: cleared, and mid-word now: none offered
        await pilot.press("end", "shift+left")
        await settle(pilot)
        assert app.editor.suggestion == ""  # a selection: no ghost


async def test_typing_through_trims_the_ghost_without_waiting_for_the_model(editor):
    app = editor()
    async with app.run_test() as pilot:
        await type_at_end(pilot, "the qu")
        ghost = app.editor.suggestion
        assert ghost.startswith("ick")
        with app.model.lock:  # the model is busy: nothing it says can arrive meanwhile
            await pilot.press("i", "c")
            assert app.editor.suggestion == ghost[2:]
            await type_text(pilot, "k brown", wait_for_model=False)  # typing never waits for the model
            assert app.editor.text.endswith("the quick brown")
        await settle(pilot)
        assert app.editor.suggestion == expected(app)


async def test_the_screen_waits_for_the_ghost_but_never_longer_than_ghost_wait(editor, monkeypatch):
    """A typed character and its ghost are painted in one frame: after a key that asks the model
    the screen holds its paint until the answer is applied, or GHOST_WAIT has passed."""
    import charcomplete.tui.editor as editor_module

    monkeypatch.setattr(editor_module, "GHOST_WAIT", 0.3)  # longer than the Pilot's own waits, to see the hold
    app = editor()
    async with app.run_test() as pilot:
        await type_at_end(pilot, "the q")
        assert app._batch_count == 0 and app.editor.suggestion
        with app.model.lock:  # the model cannot answer
            await pilot.press("u")
            assert app.editor.text.endswith("the qu") and app._batch_count == 1  # typed, its paint held for the ghost
            await pilot.pause(0.6)
            assert app._batch_count == 0  # no answer: painted anyway after GHOST_WAIT
        monkeypatch.setattr(editor_module, "GHOST_WAIT", 60.0)
        await pilot.press("i")
        await settle(pilot)  # the model answers: the hold ends with the ghost applied, not by the timer
        assert app._batch_count == 0 and app.editor.suggestion == expected(app)
        await pilot.press("left")  # a cursor move asks nothing: nothing held
        assert app._batch_count == 0


async def test_wrapped_rows_are_added_without_laying_out_the_screen_and_it_still_scrolls(editor):
    """GhostEditor._refresh_size: a new wrapped row repaints the editor only (a screen layout
    cost 20-30 ms a key); the scrollbar still appears when the text outgrows the editor."""
    app = editor()
    async with app.run_test(size=(50, 14)) as pilot:
        ed = app.editor
        await type_at_end(pilot, "the ")  # the first ghost sizes the sparkline (a layout, once)
        layouts = []
        refresh_layout = app.screen._refresh_layout
        app.screen._refresh_layout = lambda *a, **kw: (layouts.append(1), refresh_layout(*a, **kw))[1]
        await type_text(pilot, "word " * 20)  # 100 characters: two more rows at this width
        assert ed.virtual_size.height == ed.wrapped_document.height >= 4
        assert not layouts and not ed.show_vertical_scrollbar
        await type_text(pilot, "\n" * 15)  # more rows than the editor shows
        assert ed.show_vertical_scrollbar and ed.scroll_y > 0  # scrolled to the cursor
        assert ed.vertical_scrollbar.window_virtual_size == ed.virtual_size.height == ed.wrapped_document.height
        layouts.clear()
        await type_text(pilot, "\n" * 5)  # the scrollbar follows more rows without a layout
        assert ed.vertical_scrollbar.window_virtual_size == ed.virtual_size.height == ed.wrapped_document.height
        assert not layouts


async def test_kept_rows_are_what_textarea_itself_renders(editor):
    """tui/rows.py: through edits, a selection, find highlights, line numbers, scrolling, a theme
    change and soft wrap off, every visible row is TextArea's own rendering of it now."""
    import re

    text = "".join(f"line {i}: the quick brown fox jumps over the lazy dog, again and again\n" for i in range(40))
    app = editor(text=text)
    async with app.run_test(size=(50, 16)) as pilot:
        ed = app.editor

        async def same() -> None:
            await settle(pilot)  # painted: the frame's rows were asked for
            rows = range(ed.size.height)
            assert [ed.render_line(y) for y in rows] == [ed._render_line(y) for y in rows]

        await same()
        assert len(ed._kept) > 0  # rows were kept
        ed.move_cursor((3, 10))
        await type_text(pilot, "NEW ")  # an edit mid-file: its line rewraps
        await same()
        await pilot.press("shift+down", "shift+down")  # a selection over rows kept before
        await same()
        await pilot.press("left", "enter")  # a line inserted: the rows below move
        await same()
        ed.highlight_matches(re.compile("fox"))
        await same()
        ed.show_line_numbers = True
        await same()
        ed.scroll_to(y=20, animate=False)
        await same()
        app.theme = "textual-light"
        await same()
        ed.soft_wrap = False
        await same()
        ed.scroll_to(x=8, animate=False)
        await same()
        assert ed.scroll_offset.x == 8


async def test_rows_of_the_cursor_line_before_the_cursor_are_kept_as_textarea_renders_them(editor):
    """tui/rows.py: a paragraph that wraps over many rows, typed at its end, in the middle, with a
    tab, a bracket matched rows back, line numbers and a find pattern: every visible row is TextArea's own rendering of it now, and rows before the cursor
    on its own line were kept."""
    import re

    para = "(the quick\tbrown fox [jumps] over the lazy dog, again and again, "
    app = editor(text=para * 3 + "\nsecond line\n")
    async with app.run_test(size=(40, 16)) as pilot:
        ed = app.editor

        async def same() -> None:
            await settle(pilot)
            rows = range(ed.size.height)
            assert [ed.render_line(y) for y in rows] == [ed._render_line(y) for y in rows]

        def kept_on_cursor_line() -> int:
            return sum(1 for key in ed._kept.keys() if key[1] == "cursor line")

        ed.move_cursor((0, len(para) * 3))
        await same()
        await type_text(pilot, "and on it goes")
        await same()
        assert kept_on_cursor_line() > 0
        await type_text(pilot, ")")
        await pilot.press("left")  # the cursor on it: its partner, the last repeat's first character, is rows back
        assert ed._matching_bracket_location == (0, 2 * len(para))
        await same()
        await pilot.press("end", "backspace", "backspace")
        await same()
        ed.show_line_numbers = True
        await same()
        ed.move_cursor((0, 70))  # the middle of the paragraph: the rows after it are TextArea's
        await type_text(pilot, "XY ")
        await same()
        await pilot.press("left")  # the cursor moves within its row: that row is TextArea's
        await same()
        ed.move_cursor((0, 5))
        await pilot.press("shift+right")
        await pilot.press("Q")  # "quick" -> "Quick": the first row's text changes, its wrapping does not
        ed.move_cursor((0, len(ed.document[0])))
        await same()
        ed.highlight_matches(re.compile("fox"))
        await type_text(pilot, "fo")
        await same()
        ed.highlight_matches(None)
        ed.move_cursor((1, 3))  # the cursor leaves the paragraph: its rows are ordinary rows again
        await same()


async def test_garbage_is_collected_in_typing_pauses_and_the_collector_restored_after(editor, monkeypatch):
    """tui/collect.py: no full pass while keys come, Python's own thresholds in a pause; as before after."""
    import gc
    import weakref

    import charcomplete.tui.collect as collect

    monkeypatch.setattr(collect, "CHECK_EVERY", 0.05)
    monkeypatch.setattr(collect, "PAUSE", 60.0)
    was = gc.isenabled(), gc.get_threshold()
    app = editor()
    async with app.run_test() as pilot:
        # before any key the editor counts as paused (on a slow start the first look may come first): a key is typing
        await pilot.press("end")
        assert gc.isenabled() and gc.get_threshold() == (collect.FORCE, collect.TYPING_GEN1, collect.NEVER)
        monkeypatch.setattr(collect, "PAUSE", 0.1)

        class Node:
            pass

        node = Node()
        node.me = node  # a cycle: only the collector frees it
        freed = weakref.ref(node)
        del node
        await type_at_end(pilot, "the q")
        # the pause brings Python's own thresholds back; the cycle is freed by then or in the pause
        # (a young pass while typing may free it first: FORCE allocations can come from the keys alone)
        await until(pilot, lambda: gc.get_threshold() == was[1], timeout=10)
        await until(pilot, lambda: freed() is None, timeout=10)
        monkeypatch.setattr(collect, "PAUSE", 60.0)
        await pilot.press("u")
        assert gc.get_threshold()[2] == collect.NEVER  # a key: typing thresholds again
    assert (gc.isenabled(), gc.get_threshold()) == was and gc.get_freeze_count() == 0


async def test_young_garbage_is_collected_while_typing_even_if_the_pause_never_comes(editor, monkeypatch):
    """The collector is never off: a loop that never idles (no pause, no timer) still frees young
    cycles once FORCE objects were allocated; memory stays bounded."""
    import weakref

    import charcomplete.tui.collect as collect

    monkeypatch.setattr(collect, "CHECK_EVERY", 3600.0)  # the pause is never looked for
    monkeypatch.setattr(collect, "FORCE", 5_000)
    app = editor()
    async with app.run_test() as pilot:
        await type_at_end(pilot, "the q")

        class Node:
            pass

        node = Node()
        node.me = node
        freed = weakref.ref(node)
        del node
        # allocations, no await (the loop never idles here): enough for a pass over the middle generation too
        kept = [[] for _ in range(2 * collect.FORCE * (collect.TYPING_GEN1 + 1))]
        assert freed() is None
        del kept


async def test_the_figures_are_drawn_after_the_ghost_and_while_keys_keep_coming(editor, monkeypatch):
    """app.FIGURES_AFTER: the status bar's per-key figures (Ln:Col, latency, acc) and the sparkline
    are drawn after the key's ghost, not in its frame; typing on, they are still drawn that often."""
    import charcomplete.tui.app as app_module

    monkeypatch.setattr(app_module, "FIGURES_AFTER", 3.0)  # (a ghost comes in milliseconds: a slow machine too)
    app = editor()
    async with app.run_test() as pilot:
        await type_at_end(pilot, "the q")
        (row, col), bars = app.status.cursor, app.query_one("#spark-chars").render().plain
        app.status.latency_ms = None
        await pilot.press("u")
        await until(pilot, lambda: app.model.idle and app.editor.suggestion == expected(app))
        await pilot.pause()
        assert app.status.cursor == (row, col) and app.status.latency_ms is None  # the ghost is here, the figures not yet
        assert app.query_one("#spark-chars").render().plain == bars
        await until(pilot, lambda: app._figures is None)
        assert app.status.cursor == (row, col + 1) and app.status.latency_ms is not None
        assert app.query_one("#spark-chars").render().plain.endswith("the·qu")

        monkeypatch.setattr(app_module, "FIGURES_AFTER", 0.2)
        seen = {app.status.cursor}
        for ch in "ick brown fox":  # 1.3 s of keys, 0.1 s apart: the figures are not put off until the last
            await pilot.press(ch if ch != " " else "space")
            await pilot.pause(0.1)
            seen.add(app.status.cursor)
        assert len(seen) >= 4


async def test_figures_due_as_the_app_closes_draw_nothing_and_raise_nothing(editor, monkeypatch):
    import charcomplete.tui.app as app_module

    monkeypatch.setattr(app_module, "FIGURES_AFTER", 0.3)
    app = editor()
    async with app.run_test() as pilot:
        await type_at_end(pilot, "the qu")
        await pilot.press("left")
        assert app._figures is not None  # due when the app exits
        app.exit()
    app._last_shown = (app._fresh.suggest("the qu"), "attention")
    app._show_figures()  # a timer that fires after the widgets are gone (the sparkline's bars raised NoMatches)
    assert app.return_code == 0


async def test_a_stale_answer_is_dropped(editor):
    from charcomplete.completion import Suggestion

    app = editor()
    async with app.run_test() as pilot:
        await type_at_end(pilot, "the qu")
        ghost, shown = app.editor.suggestion, app.status.shown
        old = app.editor._generation - 1  # an answer asked before the last edit
        app.editor.post_message(SuggestionReady(old, Suggestion("STALE", 0.9, [0.9] * 5), "x"))
        await pilot.pause()
        assert app.editor.suggestion == ghost and app.status.shown == shown


async def test_no_ghost_mid_word(editor):
    app = editor()
    async with app.run_test() as pilot:
        app.editor.move_cursor((0, 4))  # "the |quick"
        await pilot.press("x")
        await settle(pilot)
        assert app.editor.suggestion == ""


async def test_undoing_a_long_paste_in_a_short_file_does_not_crash(editor):
    # Textual 8 (issue 6686): undo shortens the document before it restores the cursor, the
    # vertical scrollbar goes away meanwhile and scrolls to a cursor row that no longer exists.
    app = editor("a")
    async with app.run_test(size=(40, 8)) as pilot:
        ed = app.editor
        ed.move_cursor((0, 1))
        app.post_message(events.Paste("x\n" * 20))  # as the terminal's driver sends it
        await pilot.pause()
        assert ed.text == "a" + "x\n" * 20 and ed.show_vertical_scrollbar
        await pilot.press("ctrl+z")
        await pilot.pause()
        assert app.is_running and ed.text == "a" and ed.cursor_location == (0, 1)
        await pilot.press("ctrl+y")
        await pilot.pause()
        assert ed.text == "a" + "x\n" * 20 and ed.cursor_location == (20, 0)


async def test_undoing_a_batch_of_edits_across_lines_keeps_the_wrapping_true(editor):
    # Textual 8 rewrapped too few rows after undoing several edits at once (an Enter and the keys
    # after it, typed within one undo step): one wrapped line too many, and the next frame crashed.
    from textual.document._wrapped_document import WrappedDocument

    app = editor("hello\n")
    async with app.run_test(size=(80, 20)) as pilot:
        ed = app.editor
        for text in ["word ", "x", "\n", "x"]:
            ed.insert(text)
        await pilot.press("ctrl+z")
        ed.insert("x")
        await pilot.pause(0.2)
        ed.insert("x")
        ed.insert("\n")
        await pilot.press("ctrl+z", "ctrl+z")
        await pilot.pause()
        assert app.is_running and ed.text == "word xhello\n"
        assert ed.wrapped_document.lines == WrappedDocument(ed.document, ed.wrap_width, ed.indent_width).lines
        await pilot.press("ctrl+y", "ctrl+y")
        await pilot.pause()
        assert app.is_running and ed.wrapped_document.lines == WrappedDocument(ed.document, ed.wrap_width, ed.indent_width).lines


async def test_messages_that_land_as_the_editor_closes_are_harmless(editor):
    app = editor()
    async with app.run_test():
        app.editor.insert("late\n")  # its Changed message is handled after the screen's widgets are gone
    assert getattr(app, "_exception", None) is None


async def test_alternatives_cycle(editor):
    app = editor()
    async with app.run_test() as pilot:
        await type_at_end(pilot, "the ")
        best = app.editor.suggestion
        alts = [s.text for s in app._fresh.alternatives(app.editor.context(), k=4) if s.text]
        assert len(alts) >= 2 and alts[0] == best
        await pilot.press("alt+n")
        await settle(pilot)
        assert app.editor.suggestion == alts[1]
        await pilot.press("alt+left_square_bracket")
        await settle(pilot)
        assert app.editor.suggestion == alts[0]


async def test_burst_of_1000_characters(editor):
    app = editor(text=None)
    text = ("a quick brown fox is quick and a lazy dog is lazy. " * 20)[:1000]
    async with app.run_test() as pilot:
        await type_text(pilot, text)
        assert app.editor.text == text
        assert app.editor.suggestion == expected(app)


async def test_sparkline_names_the_attention_model_before_anything_is_typed(editor):
    """An empty document gets no ghost (and no attention to draw): the label still names the
    attention model, not the lstm's confidence bars (it said "confidence (lstm)")."""
    app = editor(text=None)
    async with app.run_test() as pilot:
        await type_text(pilot, "the qu")
        assert app.query_one("#spark-label").render().plain.startswith("attention · last")
        await pilot.press(*["backspace"] * 6)  # empty again: the model answers with no ghost
        await settle(pilot)
        assert app.editor.text == "" and app.editor.suggestion == "" and app.status.shown >= 1
        assert app.query_one("#spark-label").render().plain == "attention"


async def test_switch_model_from_the_palette(editor, tiny_checkpoints):
    install_user_model(tiny_checkpoints["lstm"], "tiny-lstm")
    app = editor()
    async with app.run_test() as pilot:
        await type_at_end(pilot, "the qu")
        assert app.status.model == "attention"
        await pilot.press("ctrl+p")
        await pilot.press(*"tiny-lstm")
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot)
        assert app.model.completer.name == "tiny-lstm" and app.status.model == "tiny-lstm (lstm)"
        await pilot.press("space", "l", "a")
        await settle(pilot)
        lstm = load_completer(tiny_checkpoints["lstm"], adapt=False)
        assert app.editor.suggestion == lstm.suggest(app.editor.context()).text
        assert app.query_one("#spark-label").render().plain.startswith("confidence")


async def test_the_palette_says_what_each_shipped_model_is_for(editor, tiny_checkpoints):
    """Switch model's help line: a shipped model's purpose (prose-large: slower keys), a user model's path."""
    from charcomplete.registry import SHIPPED_ABOUT, list_checkpoints
    from charcomplete.tui.commands import EditorCommands

    install_user_model(tiny_checkpoints["lstm"], "tiny-lstm")
    app = editor()
    async with app.run_test():
        helps = {title: help for title, _, help in EditorCommands(app.screen)._commands() if title.startswith("Switch model: ")}
        for e in list_checkpoints():
            said = helps[f"Switch model: {e.name}"]
            assert said.startswith(f"{e.source} model")
            assert said.endswith(SHIPPED_ABOUT[e.name] if e.source == "shipped" else str(e.path)), said
        assert "slower keys" in helps["Switch model: prose-large"]


async def test_ctrl_p_under_a_dialog_opened_from_the_palette_does_not_open_a_second_palette(editor):
    from textual.command import CommandPalette

    app = editor()
    async with app.run_test() as pilot:
        await type_at_end(pilot, "unsaved")
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press("ctrl+q")  # a priority key: the quit dialog goes over the palette
        await pilot.pause()
        await pilot.press("ctrl+p")  # Textual saw no palette on top and mounted a second one: DuplicateIds
        await pilot.pause()
        assert app.is_running and sum(isinstance(s, CommandPalette) for s in app.screen_stack) == 1
        await pilot.press("escape")  # Cancel in the quit dialog: back to the palette, then the editor
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.screen_stack[0] and app.editor.text.endswith("unsaved")


@pytest.mark.parametrize("width", [4, 6])
async def test_the_palette_in_a_terminal_a_few_columns_wide_works(editor, width):
    """Textual's palette list had no width left there and crashed wrapping a command (`range() arg
    3 must not be zero`): the editor was gone (app fuzz). It is never narrower than 24 columns now."""
    app = editor()
    async with app.run_test(size=(80, 24)) as pilot:
        await type_at_end(pilot, "unsaved")
        await pilot.resize_terminal(width, 22)
        await pilot.pause()
        await pilot.press("ctrl+p", *"save as")
        await pilot.pause(0.3)
        assert app.is_running
        await pilot.press("enter")
        await pilot.pause()
        assert type(app.screen).__name__ == "PathPrompt"
        await pilot.press("escape")
        await pilot.pause()
        assert app.is_running and app.editor.text.endswith("unsaved")


async def test_train_on_this_file_names_the_model_after_the_file_and_the_model_it_tunes(make_editor, tiny_checkpoints, tmp_path):
    from charcomplete.document import Document
    from charcomplete.tui.app import EditorApp

    shutil.copy(tiny_checkpoints["attention"], tmp_path / "prose.safetensors")  # a model named as the shipped prose one
    (tmp_path / "notes.txt").write_text(LINE * 10)
    app = EditorApp(Document.open(tmp_path / "notes.txt"), load_completer(tmp_path / "prose.safetensors", adapt=False))
    async with app.run_test() as pilot:
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert isinstance(app.screen, TrainDialog)
        assert app.screen.query_one("#train-name").value == "notes-prose"  # not "notes-attention": the kind says less


async def test_train_on_a_file_with_nul_characters_says_so_and_trains_nothing(editor):
    """A buffer with a NUL (past the first 8 KB, which opening sniffs): the trainer skipped its copy
    as binary and the error named the temporary copy."""
    app = editor(text=LINE * 200 + "\x00" + LINE * 5, name="dump.txt")
    async with app.run_test() as pilot:
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert not isinstance(app.screen, TrainDialog) and not app.training_running
        assert [n.message for n in app._notifications][-1].startswith("dump.txt holds NUL characters")


async def test_train_on_a_file_with_a_long_name_opens_the_form(editor):
    """A 254-character file name: the buffer's temporary copy took it as its prefix, the name was
    too long, and Ctrl+T said "no room for a copy of the text"."""
    app = editor(text=LINE * 100, name="n" * 250 + ".txt")
    async with app.run_test() as pilot:
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert isinstance(app.screen, TrainDialog), [n.message for n in app._notifications]
        name = app.screen.query_one("#train-name").value
        assert name.startswith("nnn") and name.endswith("-attention") and len(name) <= 100  # a name a file can take
        await pilot.press("enter")  # it crashed here: OSError (File name too long) looking for a shipped model of that name
        await settle(pilot)
        assert app.model.completer.name == name


async def test_train_on_this_file_completes_and_switches(editor, tiny_checkpoints):
    from charcomplete.registry import user_checkpoint_path

    app = editor(text=LINE * 100)  # more than jobs.MIN_TRAIN_CHARS
    async with app.run_test() as pilot:
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert isinstance(app.screen, TrainDialog)
        await pilot.press("enter")  # the name field is focused: Enter starts
        await settle(pilot)
        assert not app.query_one(TrainingPanel).running
        assert app.model.completer.name == "notes-attention"
        assert user_checkpoint_path("notes-attention").is_file()
        assert app.query_one(TrainingPanel).val_curve  # the curve got points
        assert any("switched to it" in n.message and "was " in n.message for n in app._notifications)  # both scores shown
        assert app.model.completer.model.cfg.hidden == load_completer(tiny_checkpoints["attention"]).model.cfg.hidden  # fine-tuned


def test_better_means_a_lower_bpc_and_a_ksr_no_lower():
    """jobs.TrainOutcome.better: a lower bpc with fewer keys saved is not better (the 2 KB notes)."""
    from pathlib import Path

    from charcomplete.jobs import TailScores, TrainOutcome

    old = TailScores(2.738, 0.170, 0.260)
    assert not TrainOutcome(Path("x"), TailScores(2.413, 0.130, 0.235), old).better  # bpc better, KSR worse
    assert not TrainOutcome(Path("x"), TailScores(2.800, 0.200, 0.300), old).better  # KSR better, bpc worse
    assert TrainOutcome(Path("x"), TailScores(2.413, 0.170, 0.260), old).better  # KSR as good, bpc better
    assert TrainOutcome(Path("x"), TailScores(9.0, 0.0, None), None).better  # nothing to compare with


async def test_a_worse_model_is_kept_saved_but_not_switched_to(editor, monkeypatch):
    import charcomplete.jobs as jobs
    from charcomplete.registry import user_checkpoint_path

    real = jobs.score_tail

    def score_tail(path, corpus, **kw):  # the new model (in the user's models folder) scores worse
        s = real(path, corpus, **kw)
        return jobs.TailScores(s.bpc + 1.0, s.ksr, s.precision) if "notes-attention" in str(path) else s

    monkeypatch.setattr(jobs, "score_tail", score_tail)
    app = editor(text=LINE * 100)
    async with app.run_test() as pilot:
        await pilot.press("ctrl+t")
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot)
        assert app.model.completer.name == "attention"  # kept
        assert user_checkpoint_path("notes-attention").is_file()  # saved, to be picked in the palette
        assert any(n.message.startswith("Kept attention") and "bpc" in n.message and "precision" in n.message
                   for n in app._notifications)  # the old and the new model's scores, precision too


async def test_a_model_picked_while_training_is_not_replaced_when_the_training_ends(editor, tiny_checkpoints, monkeypatch):
    """The run was scored against the model it started from; the user switched to another one
    meanwhile: that choice stands, and the notice names the model the scores were taken with."""
    import threading

    import charcomplete.jobs as jobs

    install_user_model(tiny_checkpoints["lstm"], "tiny-lstm")
    switched = threading.Event()
    real = jobs.score_tail

    def score_tail(path, corpus, **kw):  # the scoring waits until the user has picked another model
        switched.wait(30)
        return real(path, corpus, **kw)

    monkeypatch.setattr(jobs, "score_tail", score_tail)
    app = editor(text=LINE * 100)
    async with app.run_test() as pilot:
        await pilot.press("ctrl+t")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        app.action_switch_model("tiny-lstm")
        await until(pilot, lambda: app.model.completer.name == "tiny-lstm")
        assert app.training_running and app.status.activity == "training"  # it said nothing once the model loaded
        app.action_switch_model("no-such-model")
        await until(pilot, lambda: any("Could not load no-such-model" in n.message for n in app._notifications))
        assert app.training_running and app.status.activity == "training"
        switched.set()
        await settle(pilot)
        assert app.model.completer.name == "tiny-lstm"  # the user's choice stands
        assert app.status.activity == ""
        note = next(n.message for n in app._notifications if "notes-attention" in n.message and "Could not" not in n.message)
        assert "with attention" in note and "tiny-lstm" in note and "palette" in note


async def test_a_text_too_small_to_learn_from_gets_a_notice(editor):
    from charcomplete.paths import models_dir

    app = editor(text=LINE * 30)
    async with app.run_test() as pilot:
        await pilot.press("ctrl+t")
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot)
        assert app.model.completer.name == "attention"
        assert any("too little to learn from" in n.message for n in app._notifications)
        assert not models_dir().exists() or not any(models_dir().glob("*.safetensors"))


async def test_a_new_model_from_scratch_is_still_offered(editor):
    from charcomplete.completion import load_completer as load

    app = editor(text=LINE * 100)
    async with app.run_test() as pilot:
        await pilot.press("ctrl+t")
        await pilot.pause()
        app.screen.query_one("#train-kind").value = "lstm"
        await pilot.click("#train-start")
        await settle(pilot)
        from charcomplete.registry import user_checkpoint_path

        new = load(user_checkpoint_path("notes-attention"))  # switched to or not, by its score
        assert new.kind == "lstm" and new.model.cfg.hidden == 16  # the form's small settings, not the model in use


async def test_train_on_a_folder(editor, tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.txt").write_text(LINE * 100)  # what the tiny model knows, said over and over: fine-tuning helps
    tiny_corpus = folder
    app = editor()
    async with app.run_test() as pilot:
        await pilot.press("ctrl+p")
        await pilot.press(*"on a folder")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, TrainDialog)
        app.screen.query_one("#train-corpus").value = str(tiny_corpus)
        app.screen.query_one("#train-name").value = "folder-model"
        await pilot.click("#train-start")
        await settle(pilot)
        assert app.model.completer.name == "folder-model"


async def test_failed_training_is_one_line_and_keeps_the_model(editor, tmp_path):
    from charcomplete.paths import models_dir as user_dir

    empty = tmp_path / "empty"
    empty.mkdir()
    app = editor()
    async with app.run_test() as pilot:
        app.action_train_folder()
        await pilot.pause()
        app.screen.query_one("#train-corpus").value = str(empty)
        await pilot.click("#train-start")
        await settle(pilot)
        assert app.model.completer.name == "attention"
        assert any(n.message.startswith("Training failed: no text files") for n in app._notifications)
        leftovers = list(user_dir().glob("*")) if user_dir().exists() else []
        assert leftovers == []


async def test_cancel_training_keeps_the_current_model(editor):
    from charcomplete.paths import models_dir as user_dir

    app = editor(text=LINE * 100)  # more than jobs.MIN_TRAIN_CHARS
    async with app.run_test() as pilot:
        app.train_overrides["epochs"] = 1000.0
        await pilot.press("ctrl+t")
        await pilot.pause()
        await pilot.press("enter")
        app.action_cancel_training()
        await settle(pilot)
        assert app.model.completer.name == "attention"
        assert not any(user_dir().glob("notes-attention*"))  # no model: the run is paused, not saved
        assert any("cancelled" in n.message for n in app._notifications)


async def test_quitting_while_a_model_trains_asks_first_and_pauses_the_run(editor):
    from charcomplete.resume import paused_run_dir as paused_dir
    from charcomplete.tui.dialogs import Choice

    app = editor(text=LINE * 100)  # more than jobs.MIN_TRAIN_CHARS
    async with app.run_test() as pilot:
        app.train_overrides["epochs"] = 1000.0  # runs until stopped
        await pilot.press("ctrl+t")
        await pilot.pause()
        await pilot.press("enter")
        await until(pilot, lambda: app.training_running)
        await pilot.press("ctrl+q")
        await pilot.pause()
        question = str(app.screen.query_one("#question").render())
        assert isinstance(app.screen, Choice) and "still training. Quit and pause it?\n" in question  # its line break kept (not '?')
        await pilot.press("c")  # cancel: nothing stops
        await pilot.pause()
        assert app.training_running and app.is_running
        await pilot.press("ctrl+q")
        await pilot.pause()
        await pilot.press("q")  # quit: the run is paused, to be resumed from the palette
        await until(pilot, lambda: not app.is_running or not app.training_running)
    deadline = time.monotonic() + 60  # the training thread writes the paused run as it stops
    while not paused_dir("notes-attention").is_dir() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert paused_dir("notes-attention").is_dir()


async def test_a_cancelled_run_resumes_from_the_palette_where_it_stopped(editor, monkeypatch):
    import charcomplete.trainer as trainer
    from charcomplete.paths import models_dir as user_dir
    from charcomplete.tui.commands import EditorCommands
    from charcomplete.resume import paused_run_dir as paused_dir

    real_train, runs = trainer.train, []

    def train(*args, callback=None, should_stop=None, **kw):
        """The real trainer; in the first run the user presses Cancel once step 5 is done."""
        steps = []
        runs.append((kw.get("resume"), steps))

        def on_progress(p):
            steps.append((p.kind, p.step))
            callback(p)

        first = len(runs) == 1
        stop = (lambda: should_stop() or any(s >= 5 for _, s in steps)) if first else should_stop
        return real_train(*args, callback=on_progress, should_stop=stop, **kw)

    monkeypatch.setattr(trainer, "train", train)
    app = editor(text=LINE * 100)  # more than jobs.MIN_TRAIN_CHARS
    name = "notes-attention"
    async with app.run_test() as pilot:
        # the epoch budget binds (an hour is far off): the learning rate follows the step, so the resume is exact
        app.train_overrides.update(epochs=4.0, max_minutes=60.0, eval_every=5)
        await pilot.press("ctrl+t")
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot)
        assert any("cancelled" in n.message for n in app._notifications)
        assert (paused_dir(name) / "request.json").is_file() and not (user_dir() / f"{name}.safetensors").exists()
        assert app.model.completer.name == "attention"
        commands = [c[0] for c in EditorCommands(app.screen)._commands()]
        assert f"Resume training: {name}" in commands
        app.action_resume_training(name)
        await settle(pilot)
        assert len(runs) == 2 and runs[1][0] is not None  # the second run resumed from the paused state
        first_step = min(s for kind, s in runs[1][1] if kind == "step")
        assert first_step == 6  # it goes on after step 5, not from 0
        assert app.model.completer.name == name
        assert (user_dir() / f"{name}.safetensors").is_file() and not paused_dir(name).exists()


async def test_save_is_atomic_and_a_failed_save_keeps_the_original(editor, monkeypatch):
    app = editor()
    path = app.document.path
    async with app.run_test() as pilot:
        await type_at_end(pilot, "more")

        replace = os.replace

        def disk_full(src, dst, *a, **k):  # the file's rename fails; the small recovery file's goes through
            if os.fspath(dst) == os.fspath(path):
                raise OSError(errno.ENOSPC, "No space left on device")
            return replace(src, dst, *a, **k)

        monkeypatch.setattr(os, "replace", disk_full)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert path.read_text() == LINE  # untouched
        assert app.status.modified and app.is_modified()
        kept = app.document.recovery_path
        assert kept.read_text() == LINE + "more"  # the buffer is kept while the file cannot take it
        assert any("No space left" in n.message and f"your text is kept in {kept}" in n.message for n in app._notifications)
        monkeypatch.undo()
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert path.read_text() == LINE + "more"
        assert not app.status.modified and not kept.exists()


async def test_a_save_into_a_folder_removed_meanwhile_keeps_the_text_and_says_where(editor, tmp_path):
    folder = tmp_path / "project"
    folder.mkdir()
    app = editor(path=folder / "notes.txt")
    async with app.run_test() as pilot:
        await type_at_end(pilot, "more")
        shutil.rmtree(folder)  # rm -r, a checkout of another branch
        await pilot.press("ctrl+s")
        await pilot.pause()
        kept = app.document.recovery_path
        assert kept.read_text() == LINE + "more" and kept.parent != folder  # in the data dir's recovery/
        assert any(f"its folder {folder} no longer exists; nothing was written; your text is kept in {kept}" in n.message
                   for n in app._notifications)
    folder.mkdir()  # the folder is back: the next `edit` of the file offers the text
    app = editor(None, path=folder / "notes.txt")
    async with app.run_test() as pilot:
        await pilot.pause()
        assert isinstance(app.screen, Choice) and "recovered" in app.screen.message


async def test_a_file_changed_on_disk_is_never_silently_overwritten(editor):
    app = editor()
    path = app.document.path
    async with app.run_test() as pilot:
        await type_at_end(pilot, "mine")
        path.write_text("theirs\n")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, Choice)
        await pilot.press("c")
        await pilot.pause()
        assert path.read_text() == "theirs\n"
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press("o")
        await pilot.pause()
        assert path.read_text() == LINE + "mine"


@pytest.mark.parametrize("choice", ["cancel", "discard", "save"])
async def test_quit_with_unsaved_changes_asks(editor, choice):
    app = editor()
    path = app.document.path
    async with app.run_test() as pilot:
        await type_at_end(pilot, "new")
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert isinstance(app.screen, Choice) and "unsaved" in app.screen.message
        assert app.editor.suggestion == ""  # the dialog took the focus: no ghost behind it
        await pilot.press(choice[0])
        await pilot.pause()
        assert app.is_running == (choice == "cancel")
    assert path.read_text() == (LINE + "new" if choice == "save" else LINE)


async def test_quit_without_changes_just_quits(editor):
    app = editor()
    async with app.run_test() as pilot:
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert not app.is_running
    for text in ("", LINE):  # empty, or only viewed (a log another program appends to): nothing of ours to lose
        app = editor(text)
        async with app.run_test() as pilot:
            app.document.path.write_text(text + "theirs\n")
            await pilot.press("ctrl+q")
            await pilot.pause()
            assert not app.is_running


@pytest.mark.parametrize("what", ["deleted", "changed"])
@pytest.mark.parametrize("choice", ["cancel", "discard", "save"])
async def test_quit_after_another_program_deleted_or_changed_the_saved_file_asks(editor, what, choice):
    """Saved, then deleted or rewritten by another program (a checkout, a sync): the text is only
    in the editor, so quitting asks as if it were unsaved; Save writes it (no second question)."""
    app = editor()
    path = app.document.path
    async with app.run_test() as pilot:
        await type_at_end(pilot, "new")
        await pilot.press("ctrl+s")
        await pilot.pause()
        path.unlink() if what == "deleted" else path.write_text("theirs\n")
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert isinstance(app.screen, Choice) and "changed on disk since you saved it" in app.screen.message
        assert ("it was deleted" if what == "deleted" else "changed by another program") in app.screen.message
        await pilot.press(choice[0])
        await pilot.pause()
        assert app.is_running == (choice == "cancel")
    theirs = None if what == "deleted" else "theirs\n"
    assert (path.read_text() if path.exists() else None) == (LINE + "new" if choice == "save" else theirs)


async def save_as(pilot, path) -> None:
    """Save as… from the palette's action: type `path` over the name filled in, Enter."""
    from charcomplete.tui.dialogs import PathPrompt

    pilot.app.action_save_as()
    await pilot.pause()
    assert isinstance(pilot.app.screen, PathPrompt)
    box = pilot.app.screen.query_one("#path-input")
    box.value = str(path)
    await pilot.press("enter")
    await pilot.pause()


async def test_save_as_writes_a_new_file_and_goes_on_editing_it(editor, tmp_path):
    app = editor(b"one\r\ntwo\r\n", name="first.txt")
    old = app.document.path
    async with app.run_test() as pilot:
        await pilot.press("ctrl+end", "x")
        await save_as(pilot, tmp_path / "copy.txt")
        assert (tmp_path / "copy.txt").read_bytes() == b"one\r\ntwo\r\nx"  # the line endings go along
        assert old.read_bytes() == b"one\r\ntwo\r\n"  # the old file is left as it was
        assert app.document.path == tmp_path / "copy.txt" and not app.is_modified() and "copy.txt" in app.title
        await pilot.press("y", "ctrl+s")
        await pilot.pause()
        assert (tmp_path / "copy.txt").read_bytes() == b"one\r\ntwo\r\nxy" and old.read_bytes() == b"one\r\ntwo\r\n"


async def test_save_as_over_an_existing_file_asks_and_bad_names_are_one_notice(editor, tmp_path):
    app = editor()
    other = tmp_path / "other.txt"
    other.write_text("theirs\n")
    (tmp_path / "fifo").exists() or os.mkfifo(tmp_path / "fifo")
    async with app.run_test() as pilot:
        await type_at_end(pilot, "mine")
        for bad, said in [(tmp_path, "is a folder"), (tmp_path / "nowhere" / "x.txt", "does not exist"),
                          ("  ", "give a file name"), (tmp_path / "fifo", "not a regular file"),
                          ("z" * 256, "File name too long"), ("\N{PARTY POPPER}" * 70, "File name too long"),
                          ("nul\0name.txt", "NUL")]:  # the last three: OSError / ValueError tracebacks (app fuzz)
            await save_as(pilot, bad)
            assert app.screen is app.screen_stack[0] and any(said in n.message for n in app._notifications), bad
        await save_as(pilot, other)
        assert isinstance(app.screen, Choice) and "exists" in app.screen.message
        await pilot.press("c")
        await pilot.pause()
        assert other.read_text() == "theirs\n" and app.document.path.name == "notes.txt" and app.is_modified()
        await save_as(pilot, other)
        await pilot.press("r")
        await pilot.pause()
        assert other.read_text() == LINE + "mine" and app.document.path == other and not app.is_modified()


async def test_save_as_makes_a_read_only_file_editable_as_a_copy(editor, tmp_path, monkeypatch):
    p = tmp_path / "ro.txt"
    p.write_text(LINE)
    p.chmod(0o444)
    monkeypatch.setenv("HOME", str(tmp_path))
    app = editor(path=p)
    async with app.run_test() as pilot:
        assert app.editor.read_only
        await save_as(pilot, "~/mine.txt")
        assert not app.editor.read_only and "read-only" not in app.status.render().plain
        await type_at_end(pilot, "more")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert (tmp_path / "mine.txt").read_text() == LINE + "more" and p.read_text() == LINE


async def test_read_only_file_opens_read_only(editor, tmp_path):
    p = tmp_path / "ro.txt"
    p.write_text(LINE)
    p.chmod(0o444)
    app = editor(path=p)
    async with app.run_test() as pilot:
        assert app.editor.read_only and "read-only" in app.status.render().plain
        assert any("read-only" in n.message for n in app._notifications)
        await pilot.press("ctrl+s")
        assert p.read_text() == LINE


async def test_a_file_with_mixed_line_endings_says_what_an_edited_save_writes(editor, tmp_path):
    p = tmp_path / "mixed.txt"
    app = editor(b"one\r\ntwo\r\nthree\nfour\r\n", path=p)
    async with app.run_test() as pilot:
        assert any("mixes line endings (LF and CRLF)" in n.message and "every line ends in CRLF" in n.message
                   for n in app._notifications)
        await pilot.press("ctrl+s")  # unedited: byte-identical
        await pilot.pause()
        assert p.read_bytes() == b"one\r\ntwo\r\nthree\nfour\r\n"
        await pilot.press("ctrl+end", "x", "ctrl+s")
        await pilot.pause()
        assert p.read_bytes() == b"one\r\ntwo\r\nthree\r\nfour\r\nx"
    app = editor(b"one\r\ntwo\r\n", path=tmp_path / "plain.txt")
    async with app.run_test():
        assert not any("line endings" in n.message for n in app._notifications)


async def test_recovery_file_is_offered_and_restored(editor, tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text(LINE)
    (tmp_path / ".notes.txt.charcomplete-recovery").write_text(LINE + "unsaved work\n")
    app = editor(text=None, path=p)
    async with app.run_test() as pilot:
        await pilot.pause()
        assert isinstance(app.screen, Choice) and "recovered" in app.screen.message
        await pilot.press("r")
        await pilot.pause()
        assert app.editor.text == LINE + "unsaved work\n" and app.status.modified
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert p.read_text() == LINE + "unsaved work\n"
        assert not (tmp_path / ".notes.txt.charcomplete-recovery").exists()


async def test_status_bar_and_toggles(editor):
    app = editor()
    async with app.run_test() as pilot:
        await type_at_end(pilot, "the qu")
        line = app.status.render().plain
        for part in ("notes.txt ●", "attention", "cpu", " ms", "conf ", "acc 0/", "Ln 2, Col 7"):
            assert part in line, (part, line)
        await pilot.press("f3")
        assert not app.query_one("#sparkline").display
        await pilot.press("f2")
        await settle(pilot)
        assert app.editor.suggestion == "" and "suggestions off" in app.status.render().plain


async def test_a_narrow_status_bar_drops_the_figures_before_training_and_what_was_learned(editor):
    """In an 80-column terminal the line was cut at its end, so "training 42%" and "doc + 1
    file" were an ellipsis (tried in tmux). The figures give way first now, in order."""
    app = editor()
    async with app.run_test(size=(80, 24)) as pilot:
        await type_at_end(pilot, "the qu")
        status = app.status
        status.learned, status.activity = "doc + 12 files", "training 42%"
        await pilot.pause()
        line = status.render().plain
        for part in ("notes.txt ●", "attention", "doc + 12 files", "training 42%", "Ln 2, Col 7"):
            assert part in line, (part, line)
        assert "conf" not in line and "…" not in line and len(line) == 80
        status.activity = ""
        await pilot.pause()
        line = status.render().plain
        assert "conf" not in line and "cpu" in line and "doc + 12 files" in line, line  # only what has to go
        await pilot.resize_terminal(30, 24)
        await pilot.pause()
        line = status.render().plain
        assert line.startswith(" notes.txt ●") and line.endswith("Ln 2, Col 7 ") and "…" in line and len(line) == 30


def test_an_editor_job_on_text_in_another_alphabet_trains_a_new_model(tiny_checkpoints, tmp_path, isolated_data_dir):
    from charcomplete.jobs import TrainRequest, run_training

    notes = tmp_path / "ru.txt"
    notes.write_text("съешь же ещё этих мягких французских булок, да выпей чаю.\n" * 60)
    req = TrainRequest(corpus=[str(notes)], name="ru", init=str(tiny_checkpoints["attention"]), embed=8, hidden=16, window=4,
                       batch_size=4, seq_len=16, epochs=0.2)
    out = run_training(req, None, lambda: False, compare_with=str(tiny_checkpoints["attention"]))
    assert "outside the model's characters" in out.note
    assert "ъ" in load_completer(out.path, memory=False).vocab.chars and out.better  # the old model cannot read it


def test_an_editor_job_never_replaces_a_model_that_took_its_name_meanwhile(tiny_checkpoints, tmp_path, isolated_data_dir):
    """A run's name is checked when it starts; a model saved under that name while it trains or is
    paused (`train --name` in a shell) was replaced when the run ended. It is saved beside it now."""
    from charcomplete.jobs import TrainRequest, run_training
    from charcomplete.registry import user_checkpoint_path

    notes = tmp_path / "notes.txt"
    notes.write_text(LINE * 60)
    mine = user_checkpoint_path("notes-lstm")
    mine.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(tiny_checkpoints["lstm"], mine)  # came while the run below trained
    before = mine.read_bytes()
    req = TrainRequest(corpus=[str(notes)], name="notes-lstm", init=str(tiny_checkpoints["lstm"]), batch_size=4, seq_len=16, epochs=0.2)
    out = run_training(req, None, lambda: False, compare_with=str(tiny_checkpoints["lstm"]))
    assert mine.read_bytes() == before
    assert out.path == user_checkpoint_path("notes-lstm-2") and out.path.is_file()
    assert "appeared while this one trained: saved as 'notes-lstm-2'" in out.note


async def test_alt_n_from_a_real_terminal_cycles_and_types_nothing(editor):
    """Alt+N from a terminal is Esc n: the key alt+n carrying the character "n". TextArea typed
    the "n" (found in tmux: "then the" became "then then"); it must show the next alternative."""
    app = editor()
    async with app.run_test() as pilot:
        await type_at_end(pilot, "the qu")
        before = app.editor.text
        assert app.editor.suggestion
        app.post_message(events.Key("alt+n", "n"))
        await settle(pilot)
        assert app.editor.text == before
        assert app.editor._alternatives  # the alternatives were asked for and shown
        assert app.editor.suggestion == app.editor._alternatives[app.editor._alt_index].text


async def test_a_name_typed_in_the_train_form_never_replaces_a_model_or_hides_a_shipped_one(editor, tiny_checkpoints):
    """The form once let a typed name overwrite a model of yours when the run ended (the CLI asks
    for --force) or hide a shipped model; it says why and stays open instead."""
    from charcomplete.registry import user_checkpoint_path

    mine = user_checkpoint_path("mine")
    mine.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(tiny_checkpoints["lstm"], mine)
    before = mine.read_bytes()
    app = editor(text=LINE * 100)
    async with app.run_test() as pilot:
        for name, said in (("mine", "exists already"), ("prose", "shipped model's name"), ("../x", "bad model name"), ("[/]", "bad model name")):
            await pilot.press("ctrl+t")
            await pilot.pause()
            assert isinstance(app.screen, TrainDialog)
            app.screen.query_one("#train-name").value = name
            await pilot.click("#train-start")
            await pilot.pause()
            assert isinstance(app.screen, TrainDialog) and not app.query_one(TrainingPanel).running  # still asking
            assert any(said in n.message and not n.markup for n in app._notifications), [n.message for n in app._notifications]
            await pilot.press("escape")  # (plain text: a typed `[/` is no markup to choke on)
            await pilot.pause()
    assert mine.read_bytes() == before
    assert not user_checkpoint_path("prose").exists()


async def test_minutes_of_zero_below_or_nan_keep_the_train_form_open(editor):
    """0, -1 or nan minutes closed the form and started a run that failed in its worker ("Training
    failed: max-minutes must be > 0"); the form says so and stays open, as for "abc" (training fuzz)."""
    app = editor(text=LINE * 100)
    async with app.run_test() as pilot:
        for minutes in ("0", "-1", "nan", "-inf", "abc"):
            await pilot.press("ctrl+t")
            await pilot.pause()
            app.screen.query_one("#train-minutes").value = minutes
            await pilot.click("#train-start")
            await pilot.pause()
            assert isinstance(app.screen, TrainDialog) and not app.query_one(TrainingPanel).running, minutes
            assert app._notifications and list(app._notifications)[-1].message == "Minutes must be a number above 0."
            await pilot.press("escape")
            await pilot.pause()


def drawn_text(app) -> str:
    """Every character the screen's next full frame would write to the terminal, escape codes of
    its own styles and cursor moves left out."""
    update = app.screen._compositor.render_full_update()
    return "".join(seg.text for line in update.strips for strip in line for seg in strip if not seg.control)


@pytest.mark.parametrize("width", [80, 6])
async def test_the_theme_picker_is_the_editors_palette_too(editor, width):
    """Ctrl+P, "Theme": Textual's own picker (a plain CommandPalette) drew a pasted escape code
    raw and crashed in a terminal 4 or 6 columns wide (app fuzz seed 47)."""
    from textual.command import CommandInput

    app = editor()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+p", *"theme")
        await pilot.pause(0.5)
        await pilot.press("down", "enter")
        await pilot.pause(0.5)
        assert app.screen.query_one(CommandInput).placeholder == "Search for themes…"
        await pilot.resize_terminal(width, 22)
        app.post_message(events.Paste("\x1b[31mred\x1b[0m \x9b2J \x7f"))
        await pilot.pause(0.3)
        await pilot.press("d")
        await pilot.pause(0.3)
        assert app.is_running
        assert not [c for c in drawn_text(app) if ord(c) < 32 and c != "\n" or 0x7F <= ord(c) <= 0x9F]


async def test_control_characters_in_the_file_its_name_and_a_ghost_are_never_drawn_raw(editor, tmp_path):
    """A coloured log, or a file someone sent holding escape codes: its ESC went to the terminal as
    it was (recoloured the screen, retitled the window, could set the clipboard). They are drawn as
    zero-width spaces (the columns stay TextArea's), names show them as '?', a ghost stops before
    one, a notice says so, and the file keeps them."""
    from textual.widgets.text_area import Selection

    from charcomplete.completion import Suggestion

    body = "ok \x1b[31mred\x1b[0m done \x1b]0;PWNED\x1b\\ \x9b2J \x07\x7f end\n"
    app = editor(text=body, name="log\x1b[5m.txt")
    async with app.run_test(size=(100, 20)) as pilot:
        await settle(pilot)
        shown = drawn_text(app)
        assert "red" in shown and "done" in shown and "PWNED" in shown
        assert not any(c in shown for c in "\x1b\x9b\x07\x7f"), repr(shown)
        assert "log?[5m.txt" in shown  # the status bar's name
        assert any("holds 7 control characters" in n.message and "log?[5m.txt" in n.message for n in app._notifications)
        ed = app.editor
        await pilot.press("end")
        assert ed.cursor_location == (0, len(body) - 1)
        await settle(pilot)
        ed.post_message(SuggestionReady(ed._generation, Suggestion("xyz\x1b[0m", 0.9, [0.9] * 8), "x"))
        await pilot.pause()
        assert ed.suggestion == "xyz"
        await pilot.press("tab", "!")
        ed.selection = Selection((0, 3), (0, 11))  # "ESC[31mred": Ctrl+F fills the find field with it
        await pilot.press("ctrl+f")
        await pilot.pause()
        assert app.query_one("#find-input").value == "\x1b[31mred"
        assert (3, 11) in [(span.start, span.end) for span in ed.get_line(0).spans]  # the match is highlighted, ESC and all
        shown = drawn_text(app)
        assert "[31mred" in shown and not any(c in shown for c in "\x1b\x9b\x07\x7f"), repr(shown)
        await pilot.press("escape", "ctrl+s")
        await settle(pilot)
    assert (tmp_path / "log\x1b[5m.txt").read_text() == body[:-1] + "xyz!\n"  # every control character kept


async def test_a_model_file_named_with_escape_codes_is_listed_safely(editor, tiny_checkpoints, isolated_data_dir):
    """A model file in the data dir whose name holds escape codes (made by hand: `train --name`
    refuses such a name now) was drawn raw in the palette, and so were escape codes pasted into
    its search field or the train form's fields."""
    folder = isolated_data_dir / "models"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(tiny_checkpoints["lstm"], folder / "odd\x1b[31mname.safetensors")
    app = editor(text=LINE * 10)  # enough to train on
    async with app.run_test(size=(100, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        for ch in "switch":
            await pilot.press(ch)
        await until(pilot, lambda: "odd?[31mname" in drawn_text(app))
        assert not any(c in drawn_text(app) for c in "\x1b\x9b"), repr(drawn_text(app))
        app.post_message(events.Paste(" \x1b[5m"))  # escape codes pasted into the palette's search field
        await until(pilot, lambda: "[5m" in drawn_text(app))
        assert "\x1b" not in drawn_text(app), repr(drawn_text(app))
        await pilot.press("escape", "escape")
        await pilot.press("ctrl+t")  # and into the train form's name field
        await pilot.pause()
        assert isinstance(app.screen, TrainDialog)
        app.post_message(events.Paste("\x1b[7m"))
        await until(pilot, lambda: "[7m" in drawn_text(app))
        assert "\x1b" not in drawn_text(app), repr(drawn_text(app))
