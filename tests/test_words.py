"""The partial-word model (words.py): what counts as the word being typed, its counts in the
document (kept true through removals) and in the corpus memory, the blend, and the Completer
using it — a memory built before it still loads and works."""

from __future__ import annotations

import random
import re
import shutil

import numpy as np
import pytest

from charcomplete.adapt import AdaptiveModel
from charcomplete.completion import load_completer
from charcomplete.memory import MemoryConfig, build_memory, load_memory
from charcomplete.memory_file import write_memory
from charcomplete.ngram import CharCounts
from charcomplete.registry import memory_path_for
from charcomplete.vocab import Vocab
from charcomplete.words import WORD_MAX, blend, count_words, partial_word, prepared


def test_partial_word():
    assert partial_word("see Py_tss_N") == "Py_tss_N"
    assert partial_word("the end. ") == ""
    assert partial_word("f(x2") == "x2"
    assert partial_word("élan") == "élan"  # letters beyond ASCII are letters
    assert partial_word("a " + "x" * WORD_MAX) == "x" * WORD_MAX
    assert partial_word("a " + "x" * (WORD_MAX + 1)) == ""  # too long to look up


def test_partial_word_is_the_regex_word_at_the_end():
    """The loop back over the letters gives what `\\w+\\Z` (Unicode words) found from WORD_MAX + 1 back."""
    rng = random.Random(7)
    pieces = ["a", "Z", "_", "9", "é", "ß", "٣", "\u0301", "²", " ", ".", "-", "\n", "’", "x" * 39, "y" * 41]
    for _ in range(3000):
        tail = "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 8)))
        m = re.compile(r"\w+\Z").search(tail, max(0, len(tail) - WORD_MAX - 1))
        want = "" if m is None or m.end() - m.start() > WORD_MAX else m.group()
        assert partial_word(tail) == want, repr(tail)


def _recount(text: str) -> dict:
    table: dict = {}
    count_words(table, text, 0, len(text))
    return table


def test_counts_are_each_character_after_its_partial_word():
    t = _recount("the then. th")
    assert t["t"] == [3, {"h": 3}]
    assert t["th"] == [2, {"e": 2}]  # the last "th" is not followed by anything yet
    assert t["the"] == [2, {" ": 1, "n": 1}]  # the word's end is predicted too
    assert t["then"] == [1, {".": 1}]
    assert "he" not in t and "en" not in t  # only from a word's start


def test_counting_in_pieces_and_removing_match_a_recount():
    rng = random.Random(3)
    text = "".join(rng.choice(["ab", "abc", "b_1", " ", ". ", "\n", "x" * 45]) for _ in range(800))
    table: dict = {}
    for a, b in ((0, 1), (1, 500), (500, len(text))):
        count_words(table, text, a, b)
    assert table == _recount(text)
    count_words(table, text, 300, 900, -1)
    want: dict = {}
    count_words(want, text, 0, 300)
    count_words(want, text, 900, len(text))
    assert table == want
    assert all(total == sum(c.values()) and min(c.values()) > 0 for total, c in table.values())
    count_words(table, text, 0, len(text), -1)
    count_words(table, text, 0, len(text), -1)  # never below zero, nothing left over
    assert table == {}


def test_char_counts_keep_words_beside_the_ngrams():
    c = CharCounts(2, 6)
    c.add("the then", 0)
    assert c.words["the"][1] == {" ": 1, "n": 1}
    copy = c.copy()
    c.clear()
    assert c.words == {} and c.table == {} and copy.words["the"][0] == 2
    history = CharCounts(2, 6, words=False)  # the user's history keeps n-grams only (its file has no words)
    history.add("the then", 0)
    history.update("the then", 0, 8, -1)
    assert history.words is None and history.copy().words is None


def test_blend_is_a_distribution_that_follows_the_counts():
    index = {"a": 1, "b": 2, "c": 3}
    base = np.full(4, 0.25)
    p = blend(base, [[3, {"a": 3}], (np.array([2]), np.array([5], np.uint8)), [2, {"b": 1, "é": 1}]], index)
    assert abs(p.sum() - 1) < 1e-12 and p.min() > 0
    assert p[2] > p[3] and p[1] > p[3]  # "b" (top level) and "a" lead the uncounted "c"
    assert p[0] > 0.25 * 0.1  # a character outside the vocabulary counts for <unk>
    np.testing.assert_array_equal(blend(base, [], index), base)


@pytest.mark.parametrize("n", [1, 8, 9, 40])
def test_a_prepared_level_blends_as_the_counts_do(n):
    """The Completer keeps the memory's answers prepared (words.prepared): the very same numbers."""
    rng = np.random.default_rng(n)
    index = {chr(97 + i): i + 1 for i in range(50)}
    base = rng.dirichlet(np.ones(51))
    ids = rng.choice(np.arange(1, 51), n, replace=False)
    cnts = rng.integers(1, 256, n).astype(np.uint8)
    node = [9, {"a": 4, "b": 5}]
    np.testing.assert_array_equal(blend(base, [prepared(ids, cnts), node], index), blend(base, [(ids, cnts), node], index))


TEXT = "the zanzibarqux rests. the zanzibarqux eats. a zanzibarquux is rare. " * 8 + "def main():\n    return 0\n"
VOCAB = Vocab.build(TEXT + "QZ")


def test_memory_word_table_matches_the_counts(tmp_path):
    mem = build_memory(TEXT, VOCAB, MemoryConfig())
    want = _recount(TEXT)
    for prefix, (total, counts) in want.items():
        ids, cnts = mem.word_counts(prefix)
        assert {VOCAB.token(int(i)): int(n) for i, n in zip(ids, cnts)} == counts  # all below 256: unscaled
    assert mem.word_counts("zanzibarqQ") is None and mem.word_counts("x" * 50) is None
    path = tmp_path / "m.safetensors"
    mem.save(path)
    back = load_memory(path)
    for prefix in ("zanzibarq", "t", "retur"):
        a, b = mem.word_counts(prefix), back.word_counts(prefix)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_a_memory_without_a_word_table_still_loads_and_predicts(tmp_path):
    mem = build_memory(TEXT, VOCAB, MemoryConfig())
    old = tmp_path / "old.safetensors"
    write_memory(old, mem.cfg, mem.vocab, mem.unigram_counts, mem.tables, mem.corpus)  # as memories were written before
    back = load_memory(old)
    assert back.words is None and back.word_counts("zanz") is None
    np.testing.assert_array_equal(back.predict_text("the zanz")[0], mem.predict_text("the zanz")[0])


@pytest.fixture
def model_with_memory(tiny_checkpoints, tmp_path):
    """The tiny attention model beside a memory of plain English (no "zanzibar" in it)."""
    path = tmp_path / "m.safetensors"
    shutil.copy(tiny_checkpoints["attention"], path)
    vocab = load_completer(path, memory=False).vocab
    build_memory("the quick brown fox jumps over the lazy dog. " * 30, vocab, MemoryConfig()).save(memory_path_for(path))
    return path


def test_the_document_s_partial_words_are_used(model_with_memory):
    """A word seen twice in the document, its ending different from its start's n-gram habits:
    after its first eight letters the partial-word model puts most of the mass on its ninth."""
    c = load_completer(model_with_memory, adapt=AdaptiveModel(history=None))
    text = "a zanzibarqux here, a zanzibarqux there; zanzi barq zanzibar qi. the zanzibarq"
    c.observe(text)
    base = np.full(len(c.vocab), 1 / len(c.vocab))
    p, seen = c._words(base, text)
    u = c.vocab._index["u"]
    assert seen == 2 and p[u] > 0.5
    assert c._words(base, text + " ")[1] == 0  # no word being typed: the base, unchanged
    p = c.probs(text)
    assert abs(p.sum() - 1) < 1e-6 and np.argmax(p) == u


def test_the_completer_works_with_a_memory_built_before_word_tables(model_with_memory):
    mem = load_memory(memory_path_for(model_with_memory))
    write_memory(memory_path_for(model_with_memory), mem.cfg, mem.vocab, mem.unigram_counts, mem.tables, mem.corpus)
    c = load_completer(model_with_memory, adapt=AdaptiveModel(history=None))
    assert c.memory is not None and c.memory.words is None
    text = "the quick brown fox jumps over the lazy dog. the qui"
    for i in range(1, len(text) + 1):
        c.observe(text[:i])
        s = c.suggest(text[:i])
    assert s.text.startswith("ck")


@pytest.mark.parametrize("text", ["", "a", "ab cd", "hello world"])
def test_a_memory_of_a_text_shorter_than_its_longest_context_builds(text, tmp_path):
    vocab = Vocab.build(text or "x")
    mem = build_memory(text, vocab, MemoryConfig())
    mem.save(tmp_path / "m.safetensors")
    back = load_memory(tmp_path / "m.safetensors")
    p, _ = back.predict_text(text)
    assert abs(p.sum() - 1) < 1e-9
    if text == "hello world":
        ids, cnts = back.word_counts("hel")
        assert vocab.token(int(ids[0])) == "l" and cnts[0] == 1


def test_the_whole_buffer_s_and_the_neighbours_partial_words_are_used(model_with_memory):
    """With the editor's BufferLearner attached, the partial words come from the whole buffer
    (kept true to edits) and the neighbouring files, and go when those do."""
    from charcomplete.adapt import BufferLearner

    c = load_completer(model_with_memory, adapt=AdaptiveModel(history=None))
    learner = BufferLearner()
    buffer = "the zanzibarqux is here.\n" + "the lazy dog. " * 200  # the name far above any editor context
    learner.open(buffer)
    learner.add_file("a quolorbex and a quolorbex\n")
    while learner.work(1 << 16):
        pass
    c.adapt.attach(learner)
    base = np.full(len(c.vocab), 1 / len(c.vocab))
    assert c._words(base, "a zanzibarq")[1] == 1  # from the top of the buffer
    p, seen = c._words(base, "a quolor")
    assert seen == 2 and np.argmax(p) == c.vocab._index["b"]  # from the neighbouring file
    learner.edit("the ", "zanzibarqux", "", " is here.\n" + "the lazy dog. " * 3)  # the name deleted
    learner.set_neighbours(False)
    learner.work()
    for tail in ("a zanzibarq", "a quolor"):
        p, seen = c._words(base, tail)
        assert seen == 0 and p is base  # nothing knows them any more: the base, unchanged
