"""Adaptation: the document and the user's history change the suggestions; off is exactly the
network; the history persists, can be forgotten, and a corrupt file is ignored with a warning."""

from __future__ import annotations

import json
import random
import warnings

import numpy as np
import pytest
from click.testing import CliRunner
from test_completion import as_array, reference_probs, tol

from charcomplete import history
from charcomplete.adapt import AdaptConfig, AdaptiveModel
from charcomplete.history import History, history_path
from charcomplete.ngram import FORMAT, CharCounts, common_prefix_len
from charcomplete.cli import cli
from charcomplete.completion import load_completer

# a name and a term the tiny model never saw, in its vocabulary's characters
DOC = ("we met zorblax quint today. zorblax quint said the lazy fox jumps. "
       "then zorblax quint left. the brown dog asked zorblax quint about the zarquib. ") * 2
PROBE = "later the dog saw zorb"


@pytest.fixture(autouse=True)
def fresh_process_state(monkeypatch):
    """Each test starts as a new process would: no shared history loaded yet."""
    monkeypatch.setattr(history, "_SHARED", {})


def type_text(c, text: str) -> None:
    """Type `text` one character at a time, the Completer observing it and asked for a suggestion
    after each key (as the editor does)."""
    for i in range(1, len(text) + 1):
        c.observe(text[:i])
        c.suggest(text[:i])


def test_a_name_typed_a_few_times_is_then_suggested(tiny_checkpoints):
    base = load_completer(tiny_checkpoints["attention"], adapt=False)
    c = load_completer(tiny_checkpoints["attention"], adapt=AdaptiveModel())
    assert not base.suggest(DOC + PROBE).text.startswith("lax")
    type_text(c, DOC)
    assert c.suggest(DOC + PROBE).text.startswith("lax")
    assert c.suggest(DOC + "about the zarq").text.startswith("ui")  # seen twice only
    c.adapt.new_document()  # (no history here): the name is gone
    assert not c.suggest(PROBE).text.startswith("lax")


@pytest.mark.parametrize("kind", ["lstm", "attention"])
def test_adaptation_off_is_exactly_the_network(tiny_checkpoints, kind):
    assert load_completer(tiny_checkpoints[kind]).adapt is None  # the API's default: off
    off = load_completer(tiny_checkpoints[kind], adapt=False)
    on = load_completer(tiny_checkpoints[kind], adapt=AdaptiveModel())
    type_text(off, DOC)
    type_text(on, DOC)
    ctx = DOC + PROBE
    assert np.abs(as_array(off, off.next_char_probs(ctx)) - reference_probs(off, ctx)).max() < tol(off)
    assert off.suggest(ctx).text == load_completer(tiny_checkpoints[kind], adapt=False).suggest(ctx).text
    assert on.suggest(ctx).text != off.suggest(ctx).text  # (so the comparison above can fail)


def test_mixed_probabilities_sum_to_one(tiny_checkpoints):
    c = load_completer(tiny_checkpoints["lstm"], adapt=AdaptiveModel())
    type_text(c, DOC[:120])
    for ctx in (DOC[:120], DOC[:120] + "zor", DOC + PROBE, "", "\U0001f600 emoji \u4e2d\u6587\r\nzorb"):
        p = as_array(c, c.next_char_probs(ctx))
        assert np.isfinite(p).all() and (p >= 0).all()
        assert abs(p.sum() - 1) < 1e-5
    s = c.suggest(DOC + PROBE)
    assert 0 < s.confidence <= 1 and all(0 < q <= 1 for q in s.char_probs)


def test_history_persists_into_a_new_completer_and_is_bounded(tiny_checkpoints, monkeypatch):
    c = load_completer(tiny_checkpoints["attention"], adapt=True, save_history=True)
    type_text(c, DOC)
    history.save_all()  # what happens at exit
    data = json.loads(history_path().read_text())
    assert data["format"] == FORMAT and "rbl" in data["contexts"]
    monkeypatch.setattr(history, "_SHARED", {})  # a new session
    fresh = load_completer(tiny_checkpoints["attention"], adapt=True)
    assert fresh.suggest(PROBE).text.startswith("lax")  # a new document, the name from history
    small = CharCounts(3, 7)
    small.add(DOC, 0)
    assert len(small.merged(CharCounts(3, 7), max_contexts=50)) == 50


def test_the_python_api_reads_the_history_but_never_writes_it_unless_asked(tiny_checkpoints):
    """`load_completer(name, adapt=True)` (a script, a benchmark) learned from every text it was
    given and saved it into the user's history at exit: a benchmark's test texts then scored
    better on each run, and the user's history held text they never typed."""
    c = load_completer(tiny_checkpoints["attention"], adapt=True)
    type_text(c, DOC)
    history.save_all()  # what happens at exit
    assert not history_path().exists()
    kept = load_completer(tiny_checkpoints["attention"], adapt=True, save_history=True)
    type_text(kept, DOC)
    history.save_all()
    assert history_path().exists()  # asked for: kept, as `edit` does


def test_forget_clears_memory_and_file(tiny_checkpoints):
    c = load_completer(tiny_checkpoints["attention"], adapt=True, save_history=True)
    type_text(c, DOC)
    history.save_all()
    assert history_path().exists()
    result = CliRunner().invoke(cli, ["forget"])
    assert result.exit_code == 0, result.output
    assert not history_path().exists()
    assert len(c.adapt.doc) == 0  # the open document's counts too (it relearns what is on screen)
    assert not c.suggest(PROBE).text.startswith("lax")
    history.save_all()
    assert not history_path().exists()  # nothing was left to save


def test_forget_in_another_process_reaches_a_running_session(tiny_checkpoints):
    c = load_completer(tiny_checkpoints["attention"], adapt=True, save_history=True)
    type_text(c, DOC)
    history._forgotten_path().parent.mkdir(parents=True, exist_ok=True)
    history._forgotten_path().write_text("now\n")  # what `charcomplete forget` leaves for running editors
    c.adapt.history.started -= 10  # this session began before it
    history.save_all()
    assert not history_path().exists()


def test_corrupt_history_is_ignored_with_a_warning(tiny_checkpoints):
    def history_json(contexts) -> str:
        return json.dumps({"format": FORMAT, "format_version": 1, "min_order": 3, "max_order": 7, "contexts": contexts})

    garbages = ("{not json", history_json({"abc": ["xy", [1]]}), history_json({"abc": ["xx", [1, 1]]}),
                history_json({"abc": ["x", [0.5]]}), history_json({"abc": 3}), "[]")
    for garbage in garbages:
        history_path().parent.mkdir(parents=True, exist_ok=True)
        history_path().write_text(garbage)
        history._SHARED.clear()
        with pytest.warns(RuntimeWarning, match="ignoring"):
            c = load_completer(tiny_checkpoints["lstm"], adapt=True, save_history=True)
        assert isinstance(c.suggest("the quick br").text, str)
    # each kept aside: a second unreadable history replaced the first one moved aside
    asides = [history_path().with_name("history.json.corrupt" + (f".{i}" if i > 1 else "")) for i in range(1, 7)]
    assert [p.read_text() for p in asides] == list(garbages)
    history.forget()
    assert not any(p.exists() for p in asides)  # forget forgets them all


def test_a_history_that_cannot_be_read_or_moved_aside_is_said_to_be_left_where_it_is(tmp_path):
    from charcomplete.history import History

    path = tmp_path / "history.json"
    path.write_text("{not json")
    for name in ["history.json.corrupt", *(f"history.json.corrupt.{i}" for i in range(2, 10))]:
        (tmp_path / name).mkdir()  # folders, not empty, where it would be moved aside
        (tmp_path / name / "keep").write_text("k")
    with pytest.warns(RuntimeWarning, match=r"\); left where it is$"):
        h = History(path, AdaptConfig())
    assert len(h.loaded.table) == 0 and path.read_text() == "{not json"
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")  # the history's folder cannot exist (a file is in its way): there is none, quietly
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(History(blocker / "history.json", AdaptConfig()).loaded.table) == 0


def test_observe_learns_each_piece_of_the_document_once():
    m = AdaptiveModel(AdaptConfig(typed_chars=4, learn_per_call=10, doc_window=25))
    m.observe("x" * 30 + "abcd")  # the document as opened: its last 25 characters learned, not typed
    assert m.doc.table["xxx"] == [22, {"x": 21, "a": 1}]
    m.new_document()
    m.observe("abcd")
    m.observe("abcde")
    m.observe("abc")  # backspaces: nothing new
    m.observe("abcde")  # retyped what was learned: not counted again
    assert m.doc.table["abcd"] == [1, {"e": 1}]
    m.observe("abcdX")  # an edit: the differing character is learned
    assert m.doc.table["abcd"] == [2, {"e": 1, "X": 1}]
    long = "abcdX" + "0123456789" * 5  # a jump 50 characters ahead
    m.observe(long)
    assert m.doc.table["0123"] == [1, {"4": 1}]  # the first 10 of the window's last 25 characters
    m.observe(long)
    m.observe(long)
    assert m.doc.table["0123"] == [2, {"4": 2}]
    counts = {k: [t, dict(c)] for k, (t, c) in m.doc.table.items()}
    m.observe(long)
    m.observe(long[:-7])
    m.observe(long)  # all known now: nothing more
    assert m.doc.table == counts
    assert m.history is None


def test_observe_follows_the_editors_sliding_window_and_edits_in_the_middle():
    m = AdaptiveModel(AdaptConfig(min_order=2, max_order=3))
    lines = [f"line {i} says hello\n" for i in range(6)]
    m.observe("".join(lines[:3]))
    learned = {k: [t, dict(c)] for k, (t, c) in m.doc.table.items()}
    m.observe("".join(lines[1:3]))  # the window starts a line later, nothing typed
    m.observe("".join(lines[1:3]) + "l")  # typed one character after the slide
    m.observe("".join(lines[:2]))  # the cursor moved up a line
    assert m.doc.table["o\n"] == [learned["o\n"][0] + 1, {**learned["o\n"][1], "l": learned["o\n"][1]["l"] + 1}]
    m.observe(lines[0] + "n")  # typing at the start of line 1
    m.observe(lines[0] + "new ")
    m.observe(lines[0] + "new " + lines[1] + lines[2] + "l")  # back at the end: nothing relearned
    assert m.doc.table["\nne"] == [1, {"w": 1}] and "w l" not in m.doc.table
    assert m.doc.table["o\n"][0] == learned["o\n"][0] + 2  # the typed "l" and "n" only


def test_common_prefix_len_matches_brute_force():
    rng = random.Random(0)
    for _ in range(200):
        a = "".join(rng.choice("ab") for _ in range(rng.randint(0, 12)))
        b = "".join(rng.choice("ab") for _ in range(rng.randint(0, 12)))
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        assert common_prefix_len(a, b) == n


def test_complete_command_adapts_to_its_text_unless_no_adapt(tiny_checkpoints):
    text = DOC + PROBE
    on = CliRunner().invoke(cli, ["complete", "--model", str(tiny_checkpoints["attention"]), text])
    off = CliRunner().invoke(cli, ["complete", "--no-adapt", "--model", str(tiny_checkpoints["attention"]), text])
    assert on.exit_code == 0 and off.exit_code == 0, on.output + off.output
    assert on.output.startswith("lax") and not off.output.startswith("lax")
    assert not history_path().exists()  # `complete` reads the history, never writes it


def test_no_warning_without_a_history_file(tiny_checkpoints):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_completer(tiny_checkpoints["lstm"], adapt=True).suggest("the")


def test_periodic_save_runs_in_the_background(tiny_checkpoints):
    h = History(history_path(), AdaptConfig(save_every_s=0))
    m = AdaptiveModel(h.cfg, h)
    m.observe("z")  # the document as opened
    m.observe("zorblax quint")  # typed: learned, and a save starts in a thread
    assert h._saver is not None
    h.finish()
    assert "zorb" in json.loads(history_path().read_text())["contexts"]


def test_a_model_switched_to_in_the_editor_adapts_as_the_first_and_shares_its_history(tiny_checkpoints):
    a = load_completer(tiny_checkpoints["lstm"], adapt=True, save_history=True)  # what `charcomplete edit` loads
    b = load_completer(tiny_checkpoints["attention"], **a.load_options())  # a model switched to in the editor
    assert a.adapt is not None and a.adapt.history is b.adapt.history and a.adapt.history.save_enabled
    off = load_completer(tiny_checkpoints["lstm"], adapt=False)  # `edit --no-adapt`
    assert load_completer(tiny_checkpoints["attention"], **off.load_options()).adapt is None
    assert load_completer(tiny_checkpoints["lstm"]).adapt is None  # the API: off unless asked
