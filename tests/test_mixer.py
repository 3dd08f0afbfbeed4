"""The online mixer: a distribution out, and it learns to trust the expert that is right."""

import numpy as np
import pytest

from charcomplete.mixer import (COUNT_DOC_KEYS, COUNT_WORD_KEYS, MEMORY_DOC_KEYS, Mixer, MixerConfig, bucket, count_doc_key,
                                count_word_key, default_keys, MATCH_KEYS, doc_match_order, memory_doc_key)

V = 10


def _dist(peak: int, mass: float) -> np.ndarray:
    p = np.full(V, (1 - mass) / (V - 1))
    p[peak] = mass
    return p


def _run(mixer, steps, seed=0, key=0):
    """Expert 0 is right 90 % of the time, expert 1 is right at random, expert 2 is uniform."""
    rng = np.random.default_rng(seed)
    loss = []
    for _ in range(steps):
        y = int(rng.integers(V))
        good = y if rng.random() < 0.9 else int(rng.integers(V))
        bad = int(rng.integers(V))
        p = mixer.mix([_dist(good, 0.8), _dist(bad, 0.8), np.full(V, 1 / V)], key)
        assert abs(p.sum() - 1) < 1e-9 and p.min() > 0
        loss.append(-np.log(p[y]))
        mixer.update(y)
    return np.array(loss)


def test_learns_to_trust_the_right_expert():
    m = Mixer(MixerConfig(n_inputs=3, key_sizes=(4,), init=(), lr=0.05))
    loss = _run(m, 600)
    w = m.weights[0][0]
    assert w[0] > w[1] and w[0] > 0.8 and w[1] < 0.2
    assert loss[-200:].mean() < loss[:50].mean()
    np.testing.assert_array_equal(m.weights[0][1:], 1 / 3)  # other keys untouched


def test_two_layers_learn_and_are_deterministic():
    cfg = MixerConfig(n_inputs=3, key_sizes=(4, 2), init=(), lr=0.05, lr2=0.01)
    a, b = Mixer(cfg), Mixer(cfg)
    la = _run(a, 300, key=(1, 0))
    lb = _run(b, 300, key=(1, 0))
    np.testing.assert_array_equal(la, lb)
    assert la[-100:].mean() < la[:30].mean()
    a.reset()
    np.testing.assert_array_equal(a.weights[0], 1 / 3)


def test_identical_experts_give_the_expert():
    m = Mixer(MixerConfig(n_inputs=2, key_sizes=(1,), init=()))
    p = _dist(3, 0.7)
    np.testing.assert_allclose(m.mix([p, p], 0), p)
    m.update(3)  # right: the weights grow past a sum of 1, the mix sharpens towards the expert's choice
    q = m.mix([p, p], 0)
    assert q[3] > 0.7 and np.argmax(q) == 3


def test_zero_probabilities_are_safe():
    m = Mixer(MixerConfig(n_inputs=2, key_sizes=(1,), init=()))
    p = np.zeros(V)
    p[2] = 1.0
    q = m.mix([p, np.full(V, 1 / V)], 0)
    assert np.all(np.isfinite(q)) and abs(q.sum() - 1) < 1e-9
    m.update(5)  # the certain expert was wrong: no inf, no nan
    assert np.all(np.isfinite(m.weights[0]))


def test_bad_keys_refused():
    m = Mixer(MixerConfig(n_inputs=2, key_sizes=(3,), init=()))
    with pytest.raises(ValueError):
        m.mix([np.full(V, 0.1)] * 2, 3)
    with pytest.raises(ValueError):
        m.mix([np.full(V, 0.1)] * 2, (0, 0))


def test_keys():
    assert bucket(0, (1, 3)) == 0 and bucket(1, (1, 3)) == 1 and bucket(5, (1, 3)) == 2
    keys = {memory_doc_key(o, d) for o in range(40) for d in range(8)}
    assert keys == set(range(MEMORY_DOC_KEYS))
    assert {count_doc_key(n, d) for n in range(300) for d in range(8)} == set(range(COUNT_DOC_KEYS))
    assert {count_word_key(n, w) for n in range(300) for w in range(8)} == set(range(COUNT_WORD_KEYS))


def test_doc_match_order():
    seen = {"he", "the", " the", "e "}
    assert doc_match_order(seen, "in the") == 4
    assert doc_match_order(seen, "xe") == 0  # "xe" unseen: nothing longer is looked at
    assert doc_match_order(seen, "h") == 0


def test_speculative_predictions_are_not_learned():
    m = Mixer(MixerConfig(n_inputs=2, key_sizes=(1,), init=()))
    p, q = _dist(1, 0.9), _dist(2, 0.9)
    m.mix([p, q], 0)  # the real prediction
    m.mix([q, p], 0, learn=False)  # a suggestion's later character
    m.update(1)
    w = m.weights[0][0]
    assert w[0] > w[1]  # learned from the first: expert 0 was right there
    m.mix([p, q], 0)
    m.discard()
    before = w.copy()
    m.update(2)
    np.testing.assert_array_equal(m.weights[0][0], before)


def test_default_mixer_with_memory_keys():
    m = Mixer()
    keys = default_keys({"order": 12, "count": 5}, doc_order=4, word_seen=3, match=2)
    assert len(keys) == 3 and keys[2] == 2
    p = m.mix([_dist(1, 0.5), _dist(1, 0.6), _dist(1, 0.9), _dist(1, 0.7), _dist(1, 0.9)], keys)
    assert abs(p.sum() - 1) < 1e-9 and np.argmax(p) == 1
    m.update(1)


def test_a_constant_expert_changes_nothing_and_learns_nothing():
    """The match model without a match gives a constant (match.match_expert): whatever its
    weight, the mix is the same, and learning leaves that weight where it was."""
    rng = np.random.default_rng(1)
    a, b = Mixer(), Mixer(MixerConfig(init=(0.0, 0.4, 0.4, 0.2, 2.5)))
    flat = np.ones(V)
    for _ in range(20):
        ps = [rng.dirichlet(np.ones(V) * 0.3) for _ in range(4)] + [flat]
        keys = default_keys({"order": 5, "count": 3}, doc_order=2, word_seen=1)
        np.testing.assert_allclose(a.mix(ps, keys), b.mix(ps, keys), rtol=1e-12)
        y = int(rng.integers(V))
        a.update(y)
        b.update(y)
    assert all(w[k][4] == a.cfg.init[4] for w, k in zip(a.weights, keys))


def test_a_speculative_mix_is_the_same_distribution_as_a_learning_one():
    """mix(learn=False) takes a shortcut (one softmax of the combined weights): the same numbers."""
    rng = np.random.default_rng(0)
    m = Mixer()
    for _ in range(30):
        ps = [rng.dirichlet(np.ones(V) * 0.3) for _ in range(5)]
        keys = (int(rng.integers(MEMORY_DOC_KEYS)), int(rng.integers(COUNT_WORD_KEYS)), int(rng.integers(MATCH_KEYS)))
        spec = m.mix(ps, keys, learn=False)
        real = m.mix(ps, keys)
        np.testing.assert_allclose(spec, real, rtol=1e-12, atol=1e-15)
        m.update(int(rng.integers(V)))  # the weights move apart from their start
    one = Mixer(MixerConfig(n_inputs=2, key_sizes=(3,), init=(0.7, 0.4)))
    ps = [_dist(1, 0.6), _dist(2, 0.5)]
    np.testing.assert_allclose(one.mix(ps, 2, learn=False), one.mix(ps, 2), rtol=1e-12)


def test_every_document_starts_from_the_mixers_start():
    from charcomplete.mixer import MixerStart

    cfg = MixerConfig(n_inputs=2, key_sizes=(3, 2), init=(0.5, 0.5))
    start = MixerStart([np.full((3, 2), 0.7), np.array([[0.1, 0.9], [0.5, 0.5]])], np.array([0.8, 0.2]))
    m = Mixer(cfg, start=start)
    assert np.array_equal(m.weights[0], start.weights[0]) and np.array_equal(m.w2, start.second)
    p = np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])
    m.mix(p, (1, 0))
    m.update(2)
    assert not np.array_equal(m.weights[0][1], start.weights[0][1])  # learned
    learned = m.state()
    m.reset()  # a new document: back to the start, not to cfg.init
    assert np.array_equal(m.weights[0], start.weights[0]) and np.array_equal(m.weights[1], start.weights[1])
    assert np.array_equal(m.w2, start.second) and not np.array_equal(learned.weights[0], start.weights[0])
    with pytest.raises(ValueError):
        Mixer(cfg, start=MixerStart([np.zeros((3, 2))], np.zeros(1)))  # another mixer's shape
    with pytest.raises(ValueError):
        Mixer(cfg, start=MixerStart([np.full((3, 2), np.nan), np.zeros((2, 2))], np.zeros(2)))
    assert Mixer(cfg, start=MixerStart([np.full((3, 2), 99.0), np.zeros((2, 2))], np.zeros(2))).weights[0].max() == cfg.w_max
