"""The match model (charcomplete/match.py): the hash tables agree with a brute-force search."""

from __future__ import annotations

import random

import numpy as np
import pytest

from charcomplete.match import MATCH_EPS, MatchIndex, match_expert

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


def test_the_expert_puts_most_mass_on_the_match_and_a_constant_without_one():
    p = np.full(5, 0.2)
    flat = np.ones(5)
    q = match_expert(p, 3, flat)
    assert q[3] == pytest.approx(1 - MATCH_EPS + 0.2 * MATCH_EPS) and q.sum() == pytest.approx(1.0)
    assert p[3] == 0.2  # the mixture is not changed
    assert match_expert(p, None, flat) is flat
