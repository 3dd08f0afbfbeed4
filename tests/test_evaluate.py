"""Metrics: KSR by hand, the keyword baseline, bits per character."""

from __future__ import annotations

import math

import numpy as np

from charcomplete.completion import load_completer
from charcomplete.evaluate import KeywordCompleter, completer_ksr, keystroke_savings, measure_latency, score_text


def test_ksr_hand_computed():
    # "abcabc": after "a" the ghost is "bc" (right both times); nothing else is suggested.
    # keys: a, Tab, a, Tab = 4 for 6 characters -> KSR = 1 - 4/6
    r = keystroke_savings(lambda ctx: "bc" if ctx.endswith("a") else "", "abcabc")
    assert r["keystrokes"] == 4 and r["accepted"] == 2
    assert math.isclose(r["ksr"], 1 - 4 / 6)


def test_wrong_suggestions_cost_nothing_extra():
    r = keystroke_savings(lambda ctx: "zz", "hello")
    assert r["keystrokes"] == 5 and r["ksr"] == 0 and r["shown"] == 5


def test_keyword_baseline_hand_computed():
    # banana(6)+space: 7 keys; "bandana ": 8 keys (banana is suggested, wrong);
    # "banana ": b, Tab, space = 3; "banana": b, Tab = 2 -> 20 keys for 28 characters
    r = keystroke_savings(KeywordCompleter().suggest, "banana bandana banana banana")
    assert r["keystrokes"] == 20
    assert math.isclose(r["ksr"], 1 - 20 / 28)


def test_keyword_baseline_uses_reference_frequencies():
    k = KeywordCompleter("hello help help help world")
    assert k.suggest("he") == "lp"
    assert k.suggest("say wor") == "ld"
    assert k.suggest("say ") == ""


def test_score_text_matches_uniform_for_untrained_and_is_low_for_trained(tiny_checkpoints):
    c = load_completer(tiny_checkpoints["lstm"])
    text = "the quick brown fox jumps over the lazy dog.\n" * 20
    s = score_text(c.model, c.vocab, text)
    assert s["chars"] > 0 and 0 <= s["top1"] <= s["top3"] <= 1
    assert s["bpc"] < 0.5 * math.log2(len(c.vocab))


def test_model_beats_keyword_baseline_on_its_text(tiny_checkpoints):
    c = load_completer(tiny_checkpoints["attention"])
    text = "the lazy dog sleeps while the quick brown fox runs.\n" * 4
    ksr = completer_ksr(c, text)["ksr"]
    base = keystroke_savings(KeywordCompleter().suggest, text)["ksr"]
    assert ksr > base > 0


def test_measure_latency_reports_numbers(tiny_checkpoints):
    lat = measure_latency(load_completer(tiny_checkpoints["lstm"]), "the quick brown fox", jumps=5)
    assert all(np.isfinite([lat.typing_p50_ms, lat.typing_p99_ms, lat.jump_p50_ms, lat.jump_p99_ms]))
    assert lat.typing_p50_ms <= lat.typing_p99_ms
