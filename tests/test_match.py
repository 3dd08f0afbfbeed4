"""The match model (charcomplete/match.py): the hash tables agree with a brute-force search."""

from __future__ import annotations

import random

import numpy as np
import pytest

from charcomplete.match import MATCH_EPS, DocumentMatch, MatchIndex, match_expert
from charcomplete.ngram import CharCounts

WORDS = "def self return import from click context option value name the of and to ñ é —".split()


def _texts(seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(50, 400))) + "\n" for _ in range(4)]


def _brute(texts: list[str], tail: str, lengths) -> tuple[str | None, int]:
    """The first occurrence inside one text, followed by a character there, of the longest of
    tail's contexts (the texts in the order they were indexed)."""
    for r in range(len(lengths) - 1, -1, -1):
        L = lengths[r]
        if len(tail) < L:
            continue
        for text in texts:
            i = text.find(tail[-L:])
            while i >= 0 and i + L >= len(text):
                i = text.find(tail[-L:], i + 1)
            if i >= 0:
                return text[i + L], r + 1
    return None, 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_find_agrees_with_brute_force_when_indexed_in_pieces(seed):
    rng = random.Random(seed)
    index = MatchIndex(lengths=(3, 8, 16), bits=20)  # big tables for these texts: no slot is shared
    texts = _texts(seed)
    for text in texts:
        base = index.append(text)
        pos = 0
        while pos < len(text):  # in pieces, as the model thread indexes between keys
            step = rng.randint(1, 700)
            index.index(base, text, pos, pos + step)
            pos += step
    joined = index.text
    hits = 0
    for _ in range(400):
        i = rng.randint(0, len(joined))
        tail = joined[max(0, i - rng.randint(0, 30)) : i] + rng.choice(["", "x", " the", "qq"])
        want = _brute(texts, tail, index.lengths)
        assert index.find(tail) == want, (tail, want)
        hits += want[1] > 0
    assert hits > 100  # many tails are found


def test_a_shared_slot_loses_a_match_but_never_gives_a_wrong_one():
    index = MatchIndex(lengths=(4, 8), bits=4)  # 16 slots: almost every context shares one
    text = " ".join(_texts(5))
    index.index(index.append(text), text, 0, len(text))
    found = 0
    for i in range(8, len(text), 7):
        ch, r = index.find(text[:i])
        if r:
            L = index.lengths[r - 1]
            ctx = text[i - L : i]
            assert any(text[j : j + L] == ctx and text[j + L] == ch for j in range(len(text) - L)), (ctx, ch)
            found += 1
    assert found > 0


def test_nothing_indexed_finds_nothing_and_clear_forgets():
    index = MatchIndex()
    assert index.find("import os\nfrom pathlib import") == (None, 0)
    text = "import os\nfrom pathlib import Path\n" * 3
    index.index(index.append(text), text, 0, len(text))
    assert index.find("\nfrom pathlib import ") == ("P", 3)  # the 16-character context: "m pathlib import "
    assert index.find("short") == (None, 0)  # shorter than the shortest context
    index.clear()
    assert len(index) == 0 and index.find("\nfrom pathlib import ") == (None, 0)


def test_answers_kept_between_keys_follow_the_index_as_it_grows():
    # find keeps its latest answers (a suggestion's contexts are asked again on the next keys): a
    # context asked before the text holding it was indexed is found once it is, and an answer
    # asked again is the same one
    index = MatchIndex()
    first = "def helper(value):\n    return value\n"
    index.index(index.append(first), first, 0, len(first))
    tail = "\nresult = compute_total(items, "
    assert index.find(tail) == (None, 0)
    assert index.find("def helper(value):\n    ") == ("r", 3) == index.find("def helper(value):\n    ")
    second = "result = compute_total(items, discount=0.2)\n"
    base = index.append(second)
    assert index.find(tail) == (None, 0)  # appended, not indexed yet
    index.index(base, second, 0, len(second))
    assert index.find(tail) == ("d", 4)  # the 24-character context, now indexed
    assert index.find("def helper(value):\n    ") == ("r", 3)


def test_the_expert_puts_most_mass_on_the_match_and_a_constant_without_one():
    p = np.full(5, 0.2)
    flat = np.ones(5)
    q = match_expert(p, 3, flat)
    assert q[3] == pytest.approx(1 - MATCH_EPS + 0.2 * MATCH_EPS) and q.sum() == pytest.approx(1.0)
    assert p[3] == 0.2  # the mixture is not changed
    assert match_expert(p, None, flat) is flat


# --- the document's own match model ----------------------------------------------------------


def _brute_latest(text: str, tail: str, lengths) -> tuple[str | None, int]:
    """The latest occurrence in `text`, followed by a character there, of the longest of tail's contexts."""
    for r in range(len(lengths) - 1, -1, -1):
        L = lengths[r]
        if len(tail) < L:
            continue
        i = text.rfind(tail[-L:], 0, len(text) - 1)
        if i >= 0:
            return text[i + L], r + 1
    return None, 0


@pytest.mark.parametrize("seed", [0, 1])
def test_the_document_match_finds_the_latest_occurrence_when_added_in_pieces(seed):
    rng = random.Random(seed)
    doc = DocumentMatch(lengths=(3, 8, 16))
    doc.reserve(1 << 19)  # big tables for this text: no slot is shared
    text = "".join(_texts(seed))
    pos = 0
    while pos < len(text):  # keys typed (indexed in Python) and pastes (numpy), each after its context
        step = rng.choice([1, 1, 2, 5, rng.randint(9, 900)])
        doc.add(text[max(0, pos - 64) : pos], text[pos : pos + step])
        pos += step
    assert len(doc) == len(text)  # each piece followed the last: no context was copied
    counts = CharCounts(2, 6)
    counts.add(text, 0)
    hits = 0
    for _ in range(400):
        i = rng.randint(0, len(text))
        tail = text[max(0, i - rng.randint(0, 30)) : i] + rng.choice(["", "x", " the", "qq"])
        want = _brute_latest(text, tail, doc.lengths)
        assert doc.find(tail, counts.table, 6) == want, (tail, want)
        hits += want[1] > 0
    assert hits > 100


def test_the_document_match_grows_its_tables_and_stops_at_its_bound():
    text = "".join("".join(_texts(s)) for s in range(3, 15))  # more characters than half the first tables' slots
    doc = DocumentMatch()
    doc.add("", text[:1000])
    first = doc.bits
    for i in range(1000, len(text), 5000):
        doc.add(text[i - 64 : i], text[i : i + 5000])
    assert len(text) * 2 > 1 << first and doc.bits > first  # indexed again with more slots
    counts = CharCounts(2, 6)
    counts.add(text, 0)
    tail = text[-40:-1]
    assert doc.find(tail, counts.table, 6) == _brute_latest(text, tail, doc.lengths)
    # the older text goes into the grown tables a step at a time and never over newer text: once
    # done, the tables are those of the whole text indexed at once (the latest occurrence in each slot)
    doc = DocumentMatch()
    for i in range(0, len(text), 300):
        doc.add(text[max(0, i - 64) : i], text[i : i + 300])
    assert doc.bits > 16 and doc._redone == doc._old > 0
    ref = DocumentMatch()
    ref.bits = doc.bits
    ref.add("", text)
    assert all(a == b for a, b in zip(doc._tables, ref._tables))
    small = DocumentMatch(max_chars=120)  # (room is kept for a context copied before an addition: 24)
    small.add("", "a" * 80)
    small.add("a" * 10, "b" * 80)  # past the bound: not kept
    assert len(small) == 80


def test_a_match_the_document_no_longer_holds_is_passed_over():
    """The counts are the document as it is now: a match into deleted text is not used."""
    doc = DocumentMatch()
    text = "the brazen fox quirks at noon. a calm day. the brazen fox sleeps."
    doc.add("", text)
    counts = CharCounts(2, 6)
    counts.add(text, 0)
    sixteen = doc.lengths.index(16) + 1  # the rank of a 16-character context
    assert doc.find("... the brazen fox ", counts.table, 6) == ("s", sixteen)  # the latest occurrence: "sleeps"
    counts = CharCounts(2, 6)
    counts.add(text.replace(" sleeps.", "."), 0)  # "sleeps" deleted
    assert doc.find("... the brazen fox ", counts.table, 6) == (None, 0)
    assert doc.find("at noon. a calm", counts.table, 6) == (" ", doc.lengths.index(12) + 1)  # the rest still answers
    lone = "a lone surrogate \udc80 is kept as its code point"  # (the editor can hold one)
    doc.add("x", lone)
    assert len(doc) == len(text) + 1 + len(lone)  # (its context, "x", copied before it)
    doc.clear()
    assert len(doc) == 0 and doc.find(text, CharCounts(2, 6).table, 6) == (None, 0)
