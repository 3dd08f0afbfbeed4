"""Ctrl+Home / Ctrl+End, find (Ctrl+F), replace (Ctrl+R) and go to line (Ctrl+G), through Textual's Pilot."""

from __future__ import annotations

import time

import pytest

from charcomplete.completion import load_completer
from charcomplete.tui.find import FindBar, Matches, find_pattern

TEXT = "alpha beta\nthe quick fox\nBeta gamma beta\nlast line\n"
BETAS = [((0, 6), (0, 10)), ((2, 0), (2, 4)), ((2, 11), (2, 15))]  # "beta", any case
LINE = "the quick brown fox jumps over the lazy dog.\n"


async def until(pilot, condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause()


async def settle(pilot) -> None:
    """Let the model thread answer and its message land."""
    await pilot.pause()
    await until(pilot, lambda: pilot.app.model.idle)
    await pilot.pause()
    await pilot.pause()
    await until(pilot, lambda: pilot.app._figures is None)  # the status bar drawn (app.FIGURES_AFTER)


def bar(app) -> FindBar:
    return app.query_one(FindBar)


def selected(app):
    return tuple(app.editor.selection)


async def find(pilot, query: str) -> None:
    await pilot.press("ctrl+f")
    await pilot.press(*query)
    await pilot.pause()


def notes(app) -> list[str]:
    return [n.message for n in app._notifications]


async def test_ctrl_home_end_move_and_shift_selects(make_editor):
    app = make_editor(TEXT)
    async with app.run_test() as pilot:
        ed = app.editor
        ed.move_cursor((1, 3))
        await pilot.press("ctrl+end")
        assert selected(app) == ((4, 0), (4, 0))
        await pilot.press("ctrl+home")
        assert selected(app) == ((0, 0), (0, 0))
        await pilot.press("ctrl+shift+end")
        assert selected(app) == ((0, 0), (4, 0)) and ed.selected_text == TEXT
        ed.move_cursor((2, 2))
        await pilot.press("ctrl+shift+home")
        assert selected(app) == ((2, 2), (0, 0))
        assert ed.selected_text == TEXT[: TEXT.index("ta gamma")]


async def test_ctrl_end_scrolls_a_long_file(make_editor):
    app = make_editor("".join(f"line {i}\n" for i in range(300)))
    async with app.run_test() as pilot:
        await pilot.press("ctrl+end")
        await pilot.pause()
        assert app.editor.cursor_location == (300, 0) and app.editor.scroll_offset.y > 200
        await pilot.press("ctrl+home")
        await pilot.pause()
        assert app.editor.cursor_location == (0, 0) and app.editor.scroll_offset.y == 0


async def test_find_highlights_every_match_and_selects_the_first(make_editor):
    app = make_editor(TEXT)
    async with app.run_test() as pilot:
        await find(pilot, "beta")
        assert bar(app).display and app.focused.id == "find-input"
        assert selected(app) == BETAS[0]
        assert bar(app).message == "1 of 3"
        style = app.editor.get_component_rich_style("text-area--find-match")
        spans = [(s.start, s.end) for s in app.editor.get_line(2).spans if s.style == style]
        assert spans == [(0, 4), (11, 15)]  # every match on the line, "Beta" too (lower-case query: any case)
        assert app.editor.get_line(1).spans == []


@pytest.mark.parametrize("steps", [
    [("enter", 1, "2 of 3"), ("enter", 2, "3 of 3"), ("enter", 0, "1 of 3 · wrapped to the top"), ("down", 1, "2 of 3")],
    [("shift+enter", 2, "3 of 3 · wrapped to the bottom"), ("shift+enter", 1, "2 of 3"), ("up", 0, "1 of 3")],
], ids=["enter-forward", "shift-enter-back"])
async def test_next_and_previous_wrap_around_and_say_so(make_editor, steps):
    """Enter / Shift+Enter; Down / Up do the same for terminals that send Shift+Enter as Enter."""
    app = make_editor(TEXT)
    async with app.run_test() as pilot:
        await find(pilot, "beta")
        for key, i, message in steps:
            await pilot.press(key)
            assert (selected(app), bar(app).message) == (BETAS[i], message), key


async def test_search_starts_at_the_cursor_and_a_capital_makes_it_case_sensitive(make_editor):
    app = make_editor(TEXT)
    async with app.run_test() as pilot:
        app.editor.move_cursor((1, 0))
        await find(pilot, "beta")
        assert selected(app) == BETAS[1]  # the first match after the cursor
        await pilot.press("ctrl+f")  # again: the query is selected, typing replaces it
        await pilot.press(*"Beta")
        await pilot.pause()
        assert selected(app) == BETAS[1] and bar(app).message == "1 of 1"


async def test_no_match_says_so_and_leaves_the_selection(make_editor):
    app = make_editor(TEXT)
    async with app.run_test() as pilot:
        app.editor.move_cursor((1, 2))
        await find(pilot, "zebra")  # "ze" matches nothing: the cursor goes back to where it was
        assert bar(app).message == "no match"
        assert selected(app) == ((1, 2), (1, 2))
        await pilot.press("enter")
        assert bar(app).message == "no match" and selected(app) == ((1, 2), (1, 2))


async def test_escape_closes_the_bar_and_the_editor_has_the_match_selected(make_editor):
    app = make_editor(TEXT)
    async with app.run_test() as pilot:
        await find(pilot, "beta")
        await pilot.press("enter")
        await pilot.press("escape")
        await pilot.pause()
        assert not bar(app).display
        assert app.focused is app.editor
        assert selected(app) == BETAS[1] and app.editor.selected_text == "Beta"
        assert app.editor.find_pattern is None  # highlights gone with the bar


async def test_go_to_line_moves_the_cursor_and_scrolls_it_into_view(make_editor):
    app = make_editor("".join(f"line {i}\n" for i in range(1, 301)))
    async with app.run_test() as pilot:
        await pilot.press("ctrl+g")
        assert bar(app).display and app.focused.id == "goto-input"
        await pilot.press(*"250", "enter")
        await pilot.pause()
        ed = app.editor
        assert ed.cursor_location == (249, 0) and app.focused is ed and not bar(app).display
        top = ed.scroll_offset.y
        assert top <= 249 < top + ed.scrollable_content_region.height
        await pilot.press("ctrl+g", *"3:4", "enter")
        assert ed.cursor_location == (2, 3)
        await pilot.press("ctrl+g", *"7:99", "enter")  # a column past the end: the line's end
        assert ed.cursor_location == (6, len("line 7"))


@pytest.mark.parametrize("bad", ["abc", "0", "302", "4:x"])
async def test_a_bad_line_number_is_a_one_line_notice(make_editor, bad):
    app = make_editor("".join(f"line {i}\n" for i in range(1, 301)))
    async with app.run_test() as pilot:
        app.editor.move_cursor((5, 1))
        await pilot.press("ctrl+g", *bad, "enter")
        await pilot.pause()
        msgs = [m for m in notes(app) if m.startswith("Go to line")]
        assert len(msgs) == 1 and "\n" not in msgs[0] and "1–301" in msgs[0]
        assert app.editor.cursor_location == (5, 1)
        assert bar(app).display and app.focused.id == "goto-input"  # still open, to correct it


async def test_replace_one_at_a_time_and_undo_each(make_editor):
    app = make_editor(TEXT)
    async with app.run_test() as pilot:
        await pilot.press("ctrl+r")
        assert bar(app).query_one("#replace-row").display
        await pilot.press(*"beta", "tab", *"delta")  # Tab: to the replace field
        assert app.focused.id == "replace-input"
        await pilot.press("enter")
        assert app.editor.text == TEXT.replace("alpha beta", "alpha delta")
        assert selected(app) == BETAS[1]  # on to the next match
        assert app.status.modified and app.is_modified()
        await pilot.press("enter")
        assert app.editor.text == TEXT.replace("alpha beta", "alpha delta").replace("Beta gamma", "delta gamma")
        await pilot.press("escape", "ctrl+z")
        assert app.editor.text == TEXT.replace("alpha beta", "alpha delta")  # one replacement undone
        await pilot.press("ctrl+z")
        assert app.editor.text == TEXT


async def test_replace_all_is_one_undo_step(make_editor):
    app = make_editor(TEXT)
    async with app.run_test() as pilot:
        app.editor.move_cursor(app.editor.document.end)
        await pilot.press(*"x")  # an earlier edit: undo must not take it with the replacement
        await pilot.press("ctrl+r", *"beta", "tab", *"β", "alt+a")
        await pilot.pause()
        assert app.editor.text == "alpha β\nthe quick fox\nβ gamma β\nlast line\nx"
        assert any(m.startswith("Replaced 3 matches") for m in notes(app))
        assert app.status.modified
        await pilot.press("escape", "ctrl+z")
        assert app.editor.text == TEXT + "x"
        await pilot.press("ctrl+y")
        assert app.editor.text == "alpha β\nthe quick fox\nβ gamma β\nlast line\nx"


async def test_replace_all_button_and_a_read_only_file(make_editor, tmp_path):
    p = tmp_path / "ro.txt"
    p.write_text(TEXT)
    p.chmod(0o444)
    app = make_editor(path=p)
    async with app.run_test() as pilot:
        await pilot.press("ctrl+r", *"beta")
        await pilot.click("#replace-all")
        await pilot.pause()
        assert app.editor.text == TEXT
        assert any("Read-only" in m for m in notes(app))


async def test_the_ghost_is_cleared_while_the_bar_has_the_focus_and_back_after(make_editor, tiny_checkpoints):
    from charcomplete.completion import Suggestion

    try:
        from charcomplete.tui.messages import SuggestionReady
    except ImportError:  # before the messages moved out of the editor
        from charcomplete.tui.editor import GhostEditor

        SuggestionReady = GhostEditor.SuggestionReady

    app = make_editor(LINE)
    fresh = load_completer(tiny_checkpoints["attention"], adapt=False)
    async with app.run_test() as pilot:
        ed = app.editor
        ed.move_cursor(ed.document.end)
        await pilot.press(*"the", "space")
        await settle(pilot)
        ghost = ed.suggestion
        assert ghost and ghost == fresh.suggest(ed.context()).text
        await pilot.press("ctrl+f")
        await settle(pilot)
        assert ed.suggestion == ""
        ed.update_suggestion()  # the model is asked again: it must not show a ghost behind the bar
        ed.post_message(SuggestionReady(ed._generation, Suggestion("GHOST", 0.9, [0.9] * 5), "x"))
        await settle(pilot)
        assert ed.suggestion == ""
        await pilot.press(*"zzz")  # "z" selects the z of "lazy", "zz" matches nothing: back to the cursor
        await settle(pilot)
        assert ed.suggestion == "" and bar(app).message == "no match"
        await pilot.press("escape")
        await settle(pilot)
        assert app.focused is ed and ed.suggestion == ghost


async def test_every_key_is_in_the_footer_or_the_key_list(make_editor):
    app = make_editor(TEXT)
    async with app.run_test() as pilot:
        keys = app.screen.active_bindings  # what the palette's "Keys" panel lists
        for key in ("ctrl+f", "ctrl+g", "ctrl+r", "ctrl+home", "ctrl+end", "ctrl+shift+home", "ctrl+shift+end"):
            assert key in keys, key
        shown = {k for k, b in keys.items() if b.binding.show}
        assert {"ctrl+f", "ctrl+g"} <= shown
        await pilot.press("ctrl+r")
        keys = app.screen.active_bindings
        assert {"escape", "shift+enter", "alt+a"} <= {k for k, b in keys.items() if b.binding.show and b.enabled}


async def test_go_to_line_from_the_palette(make_editor):
    app = make_editor(TEXT)
    async with app.run_test() as pilot:
        await pilot.press("ctrl+p", *"go to line")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert bar(app).display and app.focused.id == "goto-input"
        await pilot.press("3", "enter")
        assert app.editor.cursor_location == (2, 0)


def test_matches_map_offsets_to_locations():
    lines = ["ab", "", "xabab"]
    m = Matches(lines, find_pattern("AB"))
    assert len(m) == 0  # a capital: case-sensitive
    m = Matches(lines, find_pattern("ab"))
    assert [tuple(m.selection(i)) for i in range(len(m))] == [((0, 0), (0, 2)), ((2, 1), (2, 3)), ((2, 3), (2, 5))]


async def test_alt_a_from_a_real_terminal_replaces_all_and_types_nothing(make_editor):
    """A terminal sends Alt+A as Esc a, which Textual reports as the key alt+a *carrying* the
    character "a" (Pilot's press("alt+a") carries none): the focused Input typed the "a" and
    Replace all never ran."""
    from textual import events

    app = make_editor(TEXT)
    async with app.run_test() as pilot:
        await pilot.press("ctrl+r", *"beta", "tab", *"β")
        app.post_message(events.Key("alt+a", "a"))  # as textual's xterm parser makes it from "\x1ba"
        await pilot.pause()
        await pilot.pause()
        assert app.editor.text == "alpha β\nthe quick fox\nβ gamma β\nlast line\n"
        assert bar(app).query_one("#replace-input").value == "β"


ALPHABET = ["a", "A", "b", "\n", " ", "ß", "ẞ", "İ", "i", "ﬁ", "é", "\t", "aa", ".", "*", "(", "\\"]


@pytest.mark.parametrize("seed", range(6))
async def test_replace_all_on_random_unicode_is_re_sub_and_undoes_exactly(make_editor, seed):
    """Random text, query and replacement (case folding that changes lengths, regex characters,
    tabs, line breaks): Replace all gives what re.sub gives, Ctrl+Z the text before, Ctrl+Y it again."""
    import random

    from textual.document._wrapped_document import WrappedDocument

    rng = random.Random(seed)
    pick = lambda lo, hi: "".join(rng.choice(ALPHABET) for _ in range(rng.randint(lo, hi)))  # noqa: E731
    app = make_editor(pick(0, 200).encode())
    async with app.run_test(size=(40, 12)) as pilot:
        ed, start = app.editor, app.editor.text
        query, replacement = pick(1, 3), pick(0, 3)
        app.action_replace()
        await pilot.pause()
        bar(app).query_one("#find-input").value = query
        bar(app).query_one("#replace-input").value = replacement
        await pilot.pause()
        bar(app).action_replace_all()
        await pilot.pause()
        expected = find_pattern(query).sub(lambda _: replacement, start)
        assert ed.text == expected
        assert ed.wrapped_document.lines == WrappedDocument(ed.document, ed.wrap_width, ed.indent_width).lines
        await pilot.press("escape", "ctrl+z")
        await pilot.pause()
        assert ed.text == start
        await pilot.press("ctrl+y")
        await pilot.pause()
        assert ed.text == expected


async def test_search_as_you_type_after_the_text_was_cut_meanwhile(make_editor):
    """The bar opened with the cursor on line 30; the user clicked into the text, cut most of it
    and went back to the bar: the next letter typed there searched from a line no longer in the
    document (IndexError: the editor crashed; found by a seeded fuzz)."""
    app = make_editor(LINE * 40)
    async with app.run_test() as pilot:
        app.editor.move_cursor((30, 8))
        await pilot.press("ctrl+f")
        await pilot.pause()
        app.editor.focus()
        app.editor.select_all()
        await pilot.press("x")  # the whole text replaced by one letter, the bar still open
        await pilot.pause()
        bar(app).query_one("#find-input").focus()
        await pilot.press("q")
        await pilot.pause()
        assert app.is_running and bar(app).message == "no match"
        app.editor.replace(LINE * 2, (0, 0), app.editor.document.end)
        await pilot.press("u")  # "qu": found, from the start of what is there now
        await pilot.pause()
        assert bar(app).message.startswith("1 of 2") and selected(app) == ((0, 4), (0, 6))  # from the end of the text: wrapped
