"""The network's output layer adapting to the document (charcomplete/netadapt.py)."""

from __future__ import annotations

import numpy as np

import shutil

import pytest

from charcomplete.adapt import AdaptiveModel
from charcomplete.completion import _softmax, load_completer
from charcomplete.memory import MemoryConfig, build_memory
from charcomplete.netadapt import NetAdapter, NetAdaptConfig
from charcomplete.registry import memory_path_for

V, H = 12, 8


def test_no_correction_before_a_step_and_a_reset_forgets():
    a = NetAdapter(V, H)
    logits = np.linspace(-1, 1, V).astype(np.float32)
    h = np.ones(H, np.float32)
    assert a.logits(logits, h) is logits
    a.update(3)  # nothing remembered: nothing learned
    assert a.steps == 0
    a.remember(h, _softmax(logits))
    a.update(3)
    assert a.steps == 1 and not np.allclose(a.logits(logits, h), logits)
    a.reset()
    assert a.steps == 0 and not a.dW.any() and not a.db.any() and a.logits(logits, h) is logits


def test_repeated_character_becomes_likelier_and_only_moved_rows_change():
    rng = np.random.default_rng(0)
    a = NetAdapter(V, H, NetAdaptConfig(lr=0.05, min_step=1e-3))
    logits = rng.normal(size=V).astype(np.float32)
    logits[5] = -8.0  # a character the network all but rules out
    h = rng.uniform(-1, 1, H).astype(np.float32)
    p_before = _softmax(logits)[7]
    for _ in range(20):
        p = _softmax(a.logits(logits, h))
        a.remember(h, p)
        a.update(7)
    assert _softmax(a.logits(logits, h))[7] > p_before + 0.2
    assert not a.dW[5].any()  # its step was always below min_step: its row is left alone
    assert a.dW[7].any()


@pytest.fixture
def model_with_memory(tiny_checkpoints, tmp_path):
    path = tmp_path / "m.safetensors"
    shutil.copy(tiny_checkpoints["attention"], path)
    vocab = load_completer(path, memory=False).vocab
    build_memory("the lazy fox quirks a brazen quiz. " * 20, vocab, MemoryConfig(orders=(1, 2, 3, 4), min_count=(1, 1, 1, 1))).save(memory_path_for(path))
    return path


def test_the_completer_adapts_its_network_only_when_adapting_with_a_memory(model_with_memory, tiny_checkpoints):
    text = "zebra quokka zebra quokka zebra quokka zebra quokka "
    assert load_completer(model_with_memory, adapt=False).net_adapt is None
    assert load_completer(tiny_checkpoints["attention"], adapt=AdaptiveModel()).net_adapt is None  # no memory, no mixer
    c = load_completer(model_with_memory, adapt=AdaptiveModel())
    ref = load_completer(model_with_memory, adapt=AdaptiveModel())
    ref.net_adapt.cfg.lr = 0.0  # the same, without the output layer's adaptation
    for comp in (c, ref):
        comp.new_document()
        for i in range(1, len(text)):
            comp.observe(text[:i])
            comp.probs(text[:i])
    assert c.net_adapt.steps == len(text) - 2  # every typed character after the first prediction
    ctx = text + "zebra quo"
    for comp in (c, ref):
        comp.observe(ctx)
    y = c.vocab._index["k"]
    assert c.probs(ctx)[y] > ref.probs(ctx)[y]
    # a suggestion's later characters (speculative states) use the network as it is
    st = c._stepper.step(c._state_for(ctx), y)
    spec = c._probs(st, ctx + "k", memory=False)
    adapted = c.probs(ctx)
    dW, db = c.net_adapt.dW.copy(), c.net_adapt.db.copy()
    c.net_adapt.dW[:], c.net_adapt.db[:] = 0.0, 0.0
    np.testing.assert_array_equal(c._probs(st, ctx + "k", memory=False), spec)
    assert not np.allclose(c.probs(ctx), adapted)
    c.net_adapt.dW[:], c.net_adapt.db[:] = dW, db
    # a ghost taken (the text goes on by several characters): nothing learned (as the mixer)
    steps = c.net_adapt.steps
    c.observe(ctx + "kka ")
    assert c.net_adapt.steps == steps
    c.probs(ctx + "kka ")
    c.observe(ctx + "kka z")
    assert c.net_adapt.steps == steps + 1
    c.new_document()
    assert c.net_adapt.steps == 0
