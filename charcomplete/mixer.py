"""The online mixer: several next-character distributions in, one out, learned as the user types.

It owns the mixing of the experts (the network's softmax, the document/history cache's mixture,
the corpus memory, the partial-word model, ...) and how the mixing weights learn. As in PAQ and
cmix, but over a whole alphabet instead of bits: geometric (logistic) mixing, one weight per
expert,

    p(c) ∝ exp( sum_i w_i log p_i(c) )

with the weights chosen by a small context key (e.g. the memory's longest matching order ×
how long a suffix of the text already occurs in the document, or how often the corpus saw the
memory's context × how often the document saw the partial word), and learned online: after each
character y, one gradient step on its log loss, d(-log p(y))/dw_i = E_p[log p_i] - log p_i(y).

Two layers (`MixerConfig.key_sizes` with more than one entry): every key selects a weight set
of its own in the first layer, each giving a distribution; a second, unkeyed set of weights
mixes those the same way. Each layer-1 set learns from its own output's loss, the second layer
from the final one. Deterministic; in C where adapt.c is built (native.py: libm's exp and log, the
same numbers as numpy's to ~1e-15, the same ghosts), else numpy; a few microseconds per character.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

import numpy as np

from charcomplete.native import library

TINY = 1e-30  # probabilities are floored here before the log (an expert's zero is not -inf)
NATIVE_EXPERTS, NATIVE_SETS = 16, 8  # the most experts and keys adapt.c's mixer holds (its MAX_EXPERTS, MAX_SETS)


# --- context keys ------------------------------------------------------------------------------

MEMORY_ORDER_EDGES = (1, 3, 5, 7, 10, 16, 24)  # memory's longest matched order -> bucket (by these lower edges; 0 below 1)
DOC_ORDER_EDGES = (2, 4, 6)  # the document's longest matching suffix -> bucket (0: none)


def bucket(x: int, edges: tuple[int, ...]) -> int:
    """How many of `edges` are <= x (0 .. len(edges))."""
    return bisect_right(edges, x)


def doc_match_order(seen, tail: str, lo: int = 2, hi: int = 6) -> int:
    """The longest k in lo..hi with tail[-k:] in `seen` (the document cache's contexts; 0: none)."""
    best = 0
    for k in range(lo, min(hi, len(tail)) + 1):
        if tail[-k:] not in seen:
            break
        best = k
    return best


def memory_doc_key(memory_order: int, doc_order: int) -> int:
    """The default key: memory order bucket × document-match bucket (size `MEMORY_DOC_KEYS`)."""
    return bucket(memory_order, MEMORY_ORDER_EDGES) * (len(DOC_ORDER_EDGES) + 1) + bucket(doc_order, DOC_ORDER_EDGES)


MEMORY_DOC_KEYS = (len(MEMORY_ORDER_EDGES) + 1) * (len(DOC_ORDER_EDGES) + 1)
COUNT_EDGES = (1, 2, 4, 16, 64)  # how often the memory's longest context was seen (scaled counts) -> bucket


def count_doc_key(memory_count: int, doc_order: int) -> int:
    """A second key (bench/memory.py's three experts): memory count bucket × document-match
    bucket (size `COUNT_DOC_KEYS`)."""
    return bucket(memory_count, COUNT_EDGES) * (len(DOC_ORDER_EDGES) + 1) + bucket(doc_order, DOC_ORDER_EDGES)


COUNT_DOC_KEYS = (len(COUNT_EDGES) + 1) * (len(DOC_ORDER_EDGES) + 1)
WORD_EDGES = (1, 2, 4)  # how often the document (and the neighbouring files) saw the partial word before the cursor -> bucket


def count_word_key(memory_count: int, word_seen: int) -> int:
    """The default second key: memory count bucket × partial-word bucket (size `COUNT_WORD_KEYS`)."""
    return bucket(memory_count, COUNT_EDGES) * (len(WORD_EDGES) + 1) + bucket(word_seen, WORD_EDGES)


COUNT_WORD_KEYS = (len(COUNT_EDGES) + 1) * (len(WORD_EDGES) + 1)


MATCH_KEYS = 5  # the third key: the match model's rank (match.py: 0 none, 1..4 its context of 8, 12, 16 or 24 characters)


def default_keys(memory_info: dict, doc_order: int, word_seen: int = 0, match: int = 0) -> tuple[int, int, int]:
    """The keys of the default MixerConfig from CorpusMemory.predict's info, `doc_match_order`,
    how often the document saw the partial word before the cursor (words.py) and the match
    model's rank (match.py)."""
    return memory_doc_key(memory_info["order"], doc_order), count_word_key(memory_info["count"], word_seen), match


# --- the mixer ---------------------------------------------------------------------------------


@dataclass
class MixerConfig:
    """The mixer's shape and learning (chosen by measurement: bench/memory.py)."""

    n_inputs: int = 5  # experts mixed: by default (network, document/history cache mixture, corpus memory, partial words,
    #                    the match model over the neighbouring files), in that order
    key_sizes: tuple[int, ...] = (MEMORY_DOC_KEYS, COUNT_WORD_KEYS, MATCH_KEYS)  # one weight set per value of each key (see `default_keys`); more than one key: two layers
    init: tuple[float, ...] = (0.0, 0.4, 0.4, 0.2, 0.3)  # starting weight of each expert (empty: 1 / n_inputs each, their geometric mean;
    #                                                    the match model's 0.3 chosen on rich: bench/context.py --package rich)
    lr: float = 0.01  # learning rate of the first layer's weights
    lr2: float = 0.002  # learning rate of the second layer's weights (two layers only)
    lr_decay: float = 0.0  # a weight set's rate is lr / (1 + lr_decay * its updates) ** 0.5 (0: constant)
    w_min: float = -2.0  # weights are kept in [w_min, w_max] (a bad step cannot run away)
    w_max: float = 4.0


@dataclass
class MixerStart:
    """The weights a mixer starts every document from: learned on held-out text when a corpus
    memory is built (mixer_start.py) and stored in its file, else every set at MixerConfig.init."""

    weights: list[np.ndarray]  # per key s: (K_s, M) layer-1 weight sets
    second: np.ndarray  # (S,) layer-2 weights

    def fits(self, cfg: MixerConfig) -> bool:
        """The shapes of `cfg`'s mixer, and every weight finite."""
        return (len(self.weights) == len(cfg.key_sizes) and self.second.shape == (len(cfg.key_sizes),)
                and all(w.shape == (n, cfg.n_inputs) for w, n in zip(self.weights, cfg.key_sizes))
                and all(bool(np.all(np.isfinite(w))) for w in [*self.weights, self.second]))


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max()
    return z - np.log(np.exp(z).sum())


class Mixer:
    """Mixes `n_inputs` distributions over the same V ids; `mix` then `update` once per character."""

    def __init__(self, cfg: MixerConfig | None = None, start: "MixerStart | None" = None):
        self.cfg = cfg = cfg or MixerConfig()
        M = cfg.n_inputs
        init = np.asarray(cfg.init if cfg.init else [1.0 / M] * M, dtype=np.float64)
        if init.shape != (M,) or not np.all(np.isfinite(init)):
            raise ValueError(f"init must hold {M} finite weights")
        if not cfg.key_sizes or min(cfg.key_sizes) < 1:
            raise ValueError("key_sizes must be positive")
        S = len(cfg.key_sizes)
        if start is None:  # every weight set at init, the second layer even
            start = MixerStart([np.tile(init, (n, 1)) for n in cfg.key_sizes], np.full(S, 1.0 / S))
        elif not start.fits(cfg):
            raise ValueError("the starting weights do not fit this mixer's keys and experts")
        # where every document begins (learned on held-out text: mixer_start.py), in the weights' bounds
        self.start = MixerStart([np.clip(w, cfg.w_min, cfg.w_max) for w in start.weights], np.clip(start.second, cfg.w_min, cfg.w_max))
        self.weights = [w.astype(np.float64) for w in self.start.weights]  # per key: (K_s, M) layer-1 weights
        self.updates = [np.zeros(n, np.int64) for n in cfg.key_sizes]  # per key: (K_s,) steps taken per set
        self.w2 = self.start.second.astype(np.float64)  # (S,) layer-2 weights (two layers only)
        self._last = None  # what the last mix() computed, for update()
        # adapt.c's mixer_mix and mixer_update (native.py), or None: numpy (also past the experts and keys it holds)
        self.native = library("adapt") if M <= NATIVE_EXPERTS and S <= NATIVE_SETS else None

    def reset(self) -> None:
        """Back to the starting weights (a new document)."""
        for w, w0, n in zip(self.weights, self.start.weights, self.updates):
            w[:] = w0
            n[:] = 0
        self.w2[:] = self.start.second
        self._last = None

    def state(self) -> "MixerStart":
        """The weights now, as a start for other documents (a copy)."""
        return MixerStart([w.copy() for w in self.weights], self.w2.copy())

    def mix(self, probs, keys, learn: bool = True) -> np.ndarray:
        """The mixed distribution (V,) float64 of `probs` ((M, V) or M arrays (V,)), with one key
        per entry of key_sizes (an int, or a sequence of ints). learn=True: the next `update`
        learns from this prediction (the real next character's); False: a speculative one (a
        suggestion's later characters), which `update` never sees."""
        keys = (keys,) if isinstance(keys, (int, np.integer)) else tuple(keys)
        if len(keys) != len(self.weights):
            raise ValueError(f"need {len(self.weights)} keys, got {len(keys)}")
        if self.native is not None and len(probs) == self.cfg.n_inputs and isinstance(probs, (tuple, list)):
            return self._mix_native(tuple(probs), keys, learn)
        logp = np.array(probs, dtype=np.float64)  # (M, V), a copy: floored and logged in place
        np.log(np.maximum(logp, TINY, out=logp), out=logp)
        for s, k in enumerate(keys):
            if not 0 <= k < len(self.weights[s]):
                raise ValueError(f"key {s} out of range: {k}")
        W = np.array([w[k] for w, k in zip(self.weights, keys)])  # (S, M): each set's weights
        if learn:  # each set's own distribution too, for update()
            z = W @ logp  # (S, V)
            z -= z.max(axis=1, keepdims=True)
            logq = z - np.log(np.exp(z).sum(axis=1, keepdims=True))  # (S, V) log q_s, one log-softmax per row
            final = logq[0] if len(keys) == 1 else _log_softmax(self.w2 @ logq)
            self._last = (logp, keys, logq, final)
            return np.exp(final)
        # speculative: the second layer's sum of log q_s is the sum of the sets' logits up to a constant,
        # so the final distribution is one softmax of (w2 @ W) @ logp (the same numbers, a third of the work)
        y = (W[0] if len(keys) == 1 else self.w2 @ W) @ logp  # (V,)
        y -= np.maximum.reduce(y)  # (y.max() and q.sum() without their Python wrappers)
        q = np.exp(y, out=y)
        q /= np.add.reduce(q)
        return q

    def _mix_native(self, probs: tuple, keys: tuple, learn: bool) -> np.ndarray:
        """`mix` in C (adapt.c: libm's exp and log, sums in order; numpy's to ~1e-15)."""
        V = len(probs[0])
        out, logp = np.empty(V), np.empty((len(probs), V))  # (V,), (M, V)
        if learn:
            logq, final = np.empty((len(keys), V)), np.empty(V)  # (S, V), (V,)
            self.native.mixer_mix(probs, self.weights, keys, self.w2, out, logp, logq, final)
            self._last = (logp, keys, logq, final)
        else:
            self.native.mixer_mix(probs, self.weights, keys, self.w2, out, logp, None, None)
        return out

    def discard(self) -> None:
        """Forget the last prediction without learning (the text moved on some other way)."""
        self._last = None

    def update(self, actual: int) -> None:
        """Learn from the character (id) that came after the last mix()."""
        if self._last is None:
            return
        cfg = self.cfg
        logp, keys, logq, final = self._last
        self._last = None
        if self.native is not None:
            self.native.mixer_update(logp, logq, final, self.weights, keys, self.updates, self.w2, actual,
                                     cfg.lr, cfg.lr2, cfg.lr_decay, cfg.w_min, cfg.w_max)
            return
        # (np.clip's wrapper costs more than its work here: maximum then minimum, the same numbers; once per key)
        lo, hi = cfg.w_min, cfg.w_max
        actual_logp = logp[:, actual]  # (M,) log p_m(actual)
        qs = np.exp(logq)  # (S, V)
        for s, k in enumerate(keys):
            grad = actual_logp - logp @ qs[s]  # (M,) d log q_s(actual) / d w
            n = self.updates[s][k]
            rate = cfg.lr / np.sqrt(1.0 + cfg.lr_decay * n) if cfg.lr_decay else cfg.lr
            w = self.weights[s][k]
            w += rate * grad
            np.minimum(np.maximum(w, lo, out=w), hi, out=w)
            self.updates[s][k] = n + 1
        if len(keys) > 1:
            grad2 = logq[:, actual] - logq @ np.exp(final)  # (S,)
            self.w2 += cfg.lr2 * grad2
            np.minimum(np.maximum(self.w2, lo, out=self.w2), hi, out=self.w2)
