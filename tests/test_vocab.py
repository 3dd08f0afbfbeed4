"""Vocab: any string encodes (unseen -> <unk>), CRLF -> LF, round trips, serialisation."""

from __future__ import annotations

import numpy as np
import pytest

from charcomplete.vocab import UNK, Vocab, normalize_newlines


def test_known_text_round_trips():
    text = "To be, or not to be: that is the question.\n"
    v = Vocab.build(text)
    ids = v.encode(text)
    assert ids.dtype == np.uint8
    assert 0 not in ids
    assert v.decode(ids) == text
    assert len(v) == len(set(text)) + 1


def test_unseen_characters_become_unk_and_do_not_crash():
    v = Vocab.build("abc")
    ids = v.encode("abXc€")
    assert ids.tolist() == [v.id("a"), v.id("b"), 0, v.id("c"), 0]
    assert v.decode(ids) == f"ab{UNK}c{UNK}"
    # a vocabulary with nothing in it still encodes anything
    empty = Vocab.build("")
    assert len(empty) == 1
    assert empty.encode("hello").tolist() == [0] * 5


def test_emoji_and_astral_characters_are_one_id_each():
    text = "hi 😀 there 🦊!"  # two characters outside the BMP
    v = Vocab.build(text)
    ids = v.encode(text)
    assert len(ids) == len(text)
    assert v.decode(ids) == text
    assert v.id("😀") != 0 and v.id("🦊") != 0
    # an unseen emoji is one <unk>, not two surrogate halves
    assert v.encode("🐍").tolist() == [0]


def test_crlf_and_lone_cr_become_lf():
    assert normalize_newlines("a\r\nb\rc\n") == "a\nb\nc\n"
    v = Vocab.build("one\r\ntwo\r\n")
    assert "\r" not in v.chars
    ids = v.encode("two\r\none")
    assert v.decode(ids) == "two\none"
    assert len(ids) == len("two\none")


def test_min_count_drops_rare_characters():
    v = Vocab.build("aaab", min_count=2)
    assert v.chars == ("a",)
    assert v.encode("ab").tolist() == [1, 0]


def test_json_round_trip_keeps_ids():
    text = "zebra ÄÖ 😀 \"quotes\" \\ \t\n"
    v = Vocab.build(text)
    s = v.to_json()
    assert s.isascii()
    w = Vocab.from_json(s)
    assert w == v
    assert w.encode(text).tolist() == v.encode(text).tolist()


def test_ids_are_sorted_by_code_point_whatever_the_input_order():
    assert Vocab(("c", "a", "b")).chars == ("a", "b", "c")
    assert Vocab(("c", "a", "b")).encode("abc").tolist() == [1, 2, 3]


def test_large_vocabulary_uses_a_wider_dtype():
    chars = "".join(chr(0x4E00 + i) for i in range(300))
    v = Vocab.build(chars)
    ids = v.encode(chars)
    assert ids.dtype == np.uint16
    assert v.decode(ids) == chars


@pytest.mark.parametrize("bad", ['["a", "b"]', "42", "not json"])
def test_from_json_rejects_non_strings(bad):
    with pytest.raises(ValueError):
        Vocab.from_json(bad)


def test_duplicate_or_multi_character_entries_are_rejected():
    with pytest.raises(ValueError):
        Vocab(("a", "a"))
    with pytest.raises(ValueError):
        Vocab(("ab",))
