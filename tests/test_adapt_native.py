"""adapt.c (native.py): the document cache's mixture, the partial words' blend, the match model's
keys and the output layer's step in C give the Python code's answers bit for bit, the mixer
numpy's to ~1e-15 (libm's exp and log), and without a compiler (or turned off) Python answers."""

from __future__ import annotations

import os
import random
import shlex
import shutil

import numpy as np
import pytest
from test_words import model_with_memory  # noqa: F401  (a fixture)

from charcomplete import native
from charcomplete.adapt import AdaptConfig, AdaptiveModel, BufferLearner
from charcomplete.completion import load_completer
from charcomplete.memory import context_keys
from charcomplete.mixer import Mixer, MixerConfig
from charcomplete.netadapt import NetAdapter
from charcomplete.ngram import CharCounts
from charcomplete.words import blend, blend_python, prepared

HAS_CC = shutil.which(shlex.split(os.environ.get("CC") or "cc")[0]) is not None
needs_cc = pytest.mark.skipif(not HAS_CC, reason="no C compiler: Python answers (test_without_a_compiler_python_answers)")
INDEX = {ch: i + 1 for i, ch in enumerate("abcdefghij .,\n")}  # char -> id; others (k-z, é, 𝔘): <unk>, id 0
V = len(INDEX) + 1


def random_text(rng: random.Random, n: int) -> str:
    """Mostly known characters, some unknown (one outside the BMP), with repeats to count."""
    alphabet = "abcdefghij .,\n" * 4 + "klmé𝔘"
    words = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(2, 7))) for _ in range(30)]
    return "".join(rng.choice(words) + rng.choice(" .,\n") for _ in range(n))


def mixes(model: AdaptiveModel, p_net: np.ndarray, tail: str, root: bool = False) -> np.ndarray:
    model._fresh, model._pending = root, None  # root: the prediction for the character typed next (a weight learns from it)
    return model.mix(p_net, tail, INDEX)


@needs_cc
@pytest.mark.parametrize("cutoff", [0.05, 0.0])
def test_the_mixture_in_c_is_the_pythons_bit_for_bit(cutoff):
    rng = random.Random(1)
    model = AdaptiveModel()
    model.cfg.cutoff = cutoff
    assert model.native is not None
    learner = BufferLearner(model.cfg)
    text = random_text(rng, 400)
    learner.open(text)
    learner.add_file(random_text(rng, 300))
    while learner.work(1 << 16):
        pass
    model.attach(learner)
    assert any(len(node[1]) > 8 for node in learner.neighbours.table.values())  # the many-characters path too
    hits = 0
    for t in range(1500):
        end = rng.randrange(len(text) + 1)
        tail = text[max(0, end - rng.randrange(1, 12)) : end] if t % 5 else random_text(rng, 2)[:6]
        p_net = rng.choice([np.float32, np.float64])(np.random.default_rng(t).dirichlet(np.ones(V)))
        root = t % 3 == 0
        p = mixes(model, p_net, tail, root)
        pending = model._pending
        nat, model.native = model.native, None
        q = mixes(model, p_net, tail, root)
        model.native = nat
        assert p.dtype == q.dtype and np.array_equal(p, q), tail
        assert repr(pending) == repr(model._pending) and (pending is not None) == (root and p is not p_net)
        hits += p is not p_net
    assert hits > 1000  # most tails were in the tables


@needs_cc
def test_what_the_c_mixture_cannot_hold_python_mixes():
    """More distinct next characters than adapt.c's slots, or more orders than its nodes: Python
    answers, the same as with the C code off."""
    many = "".join("ab" + chr(0x4E00 + i) for i in range(5000))  # after "ab": 5,000 characters
    for cfg, tail in ((AdaptConfig(), "xab"), (AdaptConfig(max_order=80), many[-100:-1])):  # (the tail ends in "ab")
        model = AdaptiveModel(cfg)
        model.observe(many)
        p_net = np.full(V, 1 / V)
        p = mixes(model, p_net, tail, root=True)
        pending = model._pending
        model.native = None
        assert np.array_equal(p, mixes(model, p_net, tail, root=True)) and p is not p_net
        assert repr(pending) == repr(model._pending)


@needs_cc
def test_the_blend_in_c_is_the_pythons_bit_for_bit():
    rng = random.Random(2)
    counts = CharCounts(2, 6)
    counts.add(random_text(rng, 300) + " ".join("ab" + x for x in "abcdefghijklmé𝔘"), 0)  # after "ab": many
    nodes = list(counts.words.values())
    assert native.library("adapt") is not None and any(len(n[1]) > 8 for n in nodes)
    for t in range(500):
        ids = np.array(sorted(rng.sample(range(V), rng.randrange(1, V))), np.uint8)
        cnts = np.array([rng.randrange(1, 200) for _ in ids], np.uint8)
        levels = [prepared(ids, cnts)] if t % 3 else []
        levels += rng.sample(nodes, rng.randrange(0, 3))
        base = np.random.default_rng(t).dirichlet(np.ones(V))
        p = blend(base, levels, INDEX)
        q = blend_python(base, levels, INDEX)
        assert p.dtype == q.dtype and np.array_equal(p, q)
        base32 = base.astype(np.float32)  # a float32 base: Python blends it (its own rounding)
        assert np.array_equal(blend(base32, levels, INDEX), blend_python(base32, levels, INDEX))


@needs_cc
def test_the_match_keys_in_c_are_the_pythons():
    rng = random.Random(3)
    lib = native.library("adapt")
    for t in range(3000):
        tail = "".join(chr(rng.choice([rng.randrange(32, 127), rng.randrange(0x80, 0xD7FF), rng.randrange(0x10000, 0x10FFFF)]))
                       for _ in range(rng.randrange(0, 30)))
        lengths = (8, 12, 16, 24) if t % 2 else (1, 3, 5)
        assert lib.match_keys(tail, lengths) == context_keys([ord(c) for c in tail], lengths)


@needs_cc
def test_the_output_layers_step_in_c_is_numpys_bit_for_bit():
    rng = np.random.default_rng(4)
    V, H = 37, 24
    a, b = NetAdapter(V, H), NetAdapter(V, H)
    b.native = None
    assert a.native is not None
    for t in range(300):
        h = rng.standard_normal(H).astype(np.float32)
        p = rng.dirichlet(np.full(V, 0.3)).astype(np.float64 if t % 2 else np.float32)
        p[rng.integers(V)] = 1e-4 / 0.005 * 0.9999999  # a step near min_step
        a.rate = b.rate = 1.0 + (t % 4)
        actual = int(rng.integers(V)) if t % 5 else 0
        for m in (a, b):
            m.remember(h, p)
            m.update(actual)
        assert np.array_equal(a.dW, b.dW) and np.array_equal(a.db, b.db) and a.steps == b.steps
        if t == 0:
            assert 0 < np.count_nonzero(a.dW.any(axis=1)) < V  # the step left some rows alone (min_step)


@needs_cc
@pytest.mark.parametrize("key_sizes", [(7,), (6, 4, 5)])
def test_the_mixer_in_c_is_numpys_to_rounding(key_sizes):
    rng = np.random.default_rng(5)
    cfg = MixerConfig(n_inputs=4, key_sizes=key_sizes, init=(0.5, 0.3, 0.2, 0.1), lr_decay=0.01)
    a, b = Mixer(cfg), Mixer(cfg)
    b.native = None
    assert a.native is not None
    for t in range(400):
        probs = tuple(rng.dirichlet(np.full(V, 0.2)).astype(np.float32 if m == 0 else np.float64) for m in range(4))
        if t % 7 == 0:
            probs = probs[:3] + (np.full(V, 1.0 / V),)  # a constant expert (the match model without a match)
        keys = tuple(int(rng.integers(n)) for n in key_sizes)
        learn = t % 3 != 0
        p, q = a.mix(probs, keys, learn), b.mix(probs, keys, learn)
        assert p.dtype == q.dtype and np.allclose(p, q, rtol=1e-12, atol=1e-300) and abs(p.sum() - 1) < 1e-12
        if learn:
            actual = int(rng.integers(V))
            a.update(actual)
            b.update(actual)
    for wa, wb in zip(a.weights + [a.w2], b.weights + [b.w2]):
        assert np.allclose(wa, wb, rtol=1e-9, atol=1e-12)
    assert all(np.array_equal(ua, ub) for ua, ub in zip(a.updates, b.updates))
    assert not np.allclose(a.weights[0], a.start.weights[0])  # the weights learned
    with pytest.raises(ValueError):
        a.mix(probs, tuple(n for n in key_sizes), True)  # a key out of range


@needs_cc
def test_ghosts_with_the_c_code_are_the_pythons(model_with_memory):  # noqa: F811
    """Typing with the whole buffer and a neighbouring file attached, as the editor does: the same
    ghosts and the same probabilities (to rounding) with adapt.c and without it."""
    text = "the quick brown zanzibarqux jumps over the lazy dog. the quolorbex and the zanzibarqux. " * 2

    def typed(use_c: bool) -> list:
        native._loaded["adapt"] = native.library("adapt") if use_c else None
        c = load_completer(model_with_memory, adapt=AdaptiveModel(history=None))
        assert (c.adapt.native is not None) == use_c
        learner = BufferLearner(c.adapt.cfg)
        learner.open("")
        learner.add_file("a quolorbex, the quolorbex and the brown dog.\n" * 3)
        while learner.work(1 << 16):
            pass
        c.adapt.attach(learner)
        out = []
        for i in range(1, len(text) + 1):
            learner.edit(text[max(0, i - 1 - learner.edit_window) : i - 1], "", text[i - 1], "")
            learner.work()
            c.observe(text[:i])
            s = c.suggest(text[:i])
            out.append((s.text, s.confidence, c.probs(text[:i]).tolist()))
        return out

    with_c, without = typed(True), typed(False)
    assert [g for g, _, _ in with_c] == [g for g, _, _ in without]  # the same ghosts
    for (_, conf, p), (_, conf2, q) in zip(with_c, without):  # the mixer's libm exp and log: numpy's to ~1e-15
        assert conf == pytest.approx(conf2, rel=1e-9, abs=1e-12) and np.allclose(p, q, rtol=1e-9, atol=1e-15)
    assert sum(len(g) for g, _, _ in with_c) > 100  # ghosts were shown: the later characters were mixed


def test_without_a_compiler_python_answers(monkeypatch, tmp_path):
    monkeypatch.setattr(native, "_loaded", {})
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    model = AdaptiveModel()
    assert model.native is None and native.library("adapt") is None
    model.observe("abc abd abc ab")
    p = mixes(model, np.full(V, 1 / V), "abc ab")
    assert abs(p.sum() - 1) < 1e-12 and not native.library_path("adapt").exists()


def test_without_python_headers_nothing_is_compiled(monkeypatch, tmp_path):
    monkeypatch.setattr(native, "_loaded", {})
    monkeypatch.setattr(native.sysconfig, "get_paths", lambda: {"include": str(tmp_path / "no-include")})

    def no_compile(*args):
        raise AssertionError("compiled without headers")

    monkeypatch.setattr(native, "_compile", no_compile)
    assert native.library("adapt") is None and AdaptiveModel().native is None


def test_charcomplete_no_native_adapt_turns_it_off_alone(monkeypatch):
    monkeypatch.setattr(native, "_loaded", {})
    monkeypatch.setenv("CHARCOMPLETE_NO_NATIVE", "adapt")
    assert AdaptiveModel().native is None and native.library("adapt") is None
    assert not native.turned_off("memory") and native.turned_off("adapt")
