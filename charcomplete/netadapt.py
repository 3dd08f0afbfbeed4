"""Dynamic evaluation of the network's output layer: it learns the document as you type.

The network's weights are fixed, but its output layer gets a per-document correction: logits
+ dW h + db, h the LSTM's output (H,) (for `attention`, the part of the output layer's input
before the attention context: adapting that part too did no better, at twice the cost). It is
learned from every typed character by one step of SGD on the log-loss of the corrected
network's prediction (Krause et al., "Dynamic Evaluation of Neural Sequence Models", on the last
layer only, so a step is one outer product, over the few characters the step moves):

    p = softmax(logits + dW h + db);   dW -= lr (p - onehot(y)) h^T,  db -= lr (p - onehot(y))

So a name, a style or a language the network did not learn sharpens its own prediction,
beneath the document cache and the mixer (completion.py). It corrects the prediction of the next
character only (a suggestion's later characters use the network as it is: latency). Only when
adapting; a new document starts from the network again. The rate was chosen by measuring bits
per character (bench/netadapt.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from charcomplete.mixer import _log_softmax
from charcomplete.native import library


@dataclass
class NetAdaptConfig:
    """The output layer's adaptation (chosen by measurement: bench/netadapt.py)."""

    lr: float = 0.005  # SGD step on dW, db per typed character (0: off)
    min_step: float = 1e-4  # rows of dW whose step is smaller than this are left alone (a key moves a few rows, not V)


class NetAdapter:
    """The correction dW (V, H), db (V,) of one document, and the last prediction to learn from."""

    def __init__(self, V: int, H: int, cfg: NetAdaptConfig | None = None):
        self.cfg = cfg or NetAdaptConfig()
        self.dW = np.zeros((V, H), np.float32)  # (V, H)
        self.db = np.zeros(V, np.float32)  # (V,)
        self.steps = 0  # updates since the document began (0: the network as it is)
        self.rate = 1.0  # cfg.lr times this, for this document (Completer: higher once its judged reading kept a pass)
        self._last = None  # (h, p) of the prediction update() learns from
        self.native = library("adapt")  # adapt.c's net_update (native.py), or None: numpy steps

    def reset(self) -> None:
        self.dW[:] = 0.0
        self.db[:] = 0.0
        self.steps, self.rate, self._last = 0, 1.0, None

    def logits(self, logits: np.ndarray, h: np.ndarray) -> np.ndarray:
        """The corrected (V,) logits of a state with the network's `logits` and LSTM output `h` (H,)."""
        if not self.steps:
            return logits
        out = self.dW @ h
        out += logits
        out += self.db
        return out

    def remember(self, h: np.ndarray, p: np.ndarray) -> None:
        """The prediction (LSTM output `h`, corrected network probabilities `p` (V,)) the next `update` learns from."""
        self._last = (h, p)

    def discard(self) -> None:
        self._last = None

    def update(self, actual: int) -> None:
        """One SGD step on the log-loss of character id `actual` after the remembered prediction."""
        if self._last is None or not self.cfg.lr:
            return
        h, p = self._last
        self._last = None
        if self.native is not None:  # the same step in C (adapt.c): the same float32 numbers
            self.native.net_update(self.dW, self.db, h, p, actual, -self.cfg.lr * self.rate, self.cfg.min_step)
            self.steps += 1
            return
        g = p.astype(np.float32)  # (V,) d loss / d logits = p - onehot(actual)
        g[actual] -= 1.0
        g *= -self.cfg.lr * self.rate
        rows = (np.abs(g) >= self.cfg.min_step).nonzero()[0]  # (R,) the characters the step moves (a few)
        self.dW[rows] += g[rows, None] * h  # (R, H): their outer product with h
        self.db += g
        self.steps += 1


# --- the whole network learning the document (full dynamic evaluation) -------------------------


@dataclass
class NetLearnConfig:
    """The network's own weights learning what is typed (chosen by measurement: docs/benchmarks.md,
    "The whole network learning the document")."""

    lr: float = 0.02  # SGD step on the weights per lesson, on the lesson's mean log-loss (0: off)
    segment: int = 16  # typed characters that make a lesson (one SGD step); a text being read (Completer.read), this many at a time too
    warmup: int = 64  # characters before a lesson read first, without learning, for the state (when it does not go on
    #                   from the state the last lesson ended in: a text's first, a typed one after an edit before it)
    max_segment: int = 64  # more typed while the editor was busy: the last this many are learned at once
    read_chars: int = 16384  # `Completer.read` (the buffer as the editor opened it): its last this many characters are learned
    read_passes: int = 4  # a shorter text is read again, up to this many times in all, while the characters read stay within read_chars
    judge_from: int = 8192  # a text with more than this many characters before its held-out end (half of read_chars: one
    #                         the reading above covers only once) is judged as it is read instead:
    read_check: int = 1024  # its last this many characters are held out of the reading to judge it (ReadCheck; 0: never)
    judge_chars: int = 32768  # its last this many characters before the held-out end are read
    read_more: int = 3  # ... at most this many times: again while a pass lowers the network's bits on its held-out end
    #                     by read_gain; then the best weights stay (the network's own when reading only hurt)
    read_gain: float = 0.01
    read_lr: float = 0.04  # the rate of a judged reading's lessons, and of typed text's once it kept a pass (docs/benchmarks.md,
    #                        "A long file judged as the network reads it")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * np.tanh(0.5 * x) + 0.5


@dataclass
class LessonState:
    """Where a lesson ended: the next one over the text that follows starts here."""

    hc: list  # (h, c) of each LSTM layer, (H,) each
    outputs: np.ndarray  # (<= window - 1, H) the top layer's last outputs (attention reads them; lstm: none)


class NetworkLearner:
    """Dynamic evaluation of the whole network (Krause et al. 2018): every `segment` typed
    characters, one SGD step on the network's log-loss of them, by backpropagation through
    those steps in numpy (the top LSTM layer, the attention and the output layer; an
    embedding too in a one-layer model; lower layers of deeper models stay). The Completer
    rebuilds its Stepper from `weights` after each lesson; a new document starts from the
    shipped weights again."""

    def __init__(self, cfg, weights: dict[str, np.ndarray], learn_cfg: NetLearnConfig | None = None):
        self.cfg = cfg  # the network's ModelConfig
        self.learn_cfg = learn_cfg or NetLearnConfig()
        self.base = weights  # the network's own weights (never written)
        self.weights = weights  # the learned ones: copies from the first lesson on
        self.lessons = 0

    def reset(self) -> None:
        self.weights, self.lessons = self.base, 0

    def lesson(self, ids: np.ndarray, n: int, state: "LessonState | None" = None,
               lr: float | None = None) -> tuple[dict[str, np.ndarray], "LessonState"]:
        """One SGD step (at `lr`, else NetLearnConfig.lr) on the mean log-loss of predicting the
        last `n` of `ids` (int, n + 1 or more) from the ones before them; the characters before the
        last n + 1 only set the state, which starts from `state` (the one a previous lesson ended
        in; None: zeros). Returns the learned weights and the state after the lesson's inputs (a
        text read lesson by lesson carries it on, as Krause et al. do)."""
        if self.weights is self.base:
            self.weights = {k: v.copy() for k, v in self.base.items()}
        grads, after = self.gradients(ids, n, state)
        lr = np.float32(self.learn_cfg.lr if lr is None else lr)
        for name, g in grads.items():
            self.weights[name] -= lr * g
        self.lessons += 1
        return self.weights, after

    def gradients(self, ids: np.ndarray, n: int, state: "LessonState | None" = None) -> tuple[dict[str, np.ndarray], "LessonState"]:
        """d(mean log-loss of the last n predictions)/d(weight) of the weights that learn, and the
        state after the inputs (`lesson`)."""
        w, cfg = self.weights, self.cfg
        H, L, top = cfg.hidden, cfg.layers, cfg.layers - 1
        attention = cfg.kind == "attention"
        W = cfg.window
        ids = np.asarray(ids, dtype=np.int64)
        warm, inputs, targets = ids[: len(ids) - n - 1], ids[len(ids) - n - 1 : -1], ids[len(ids) - n :]
        # every layer over the warm-up and the lesson's inputs, without learning: (T, H) outputs per layer
        emb = w["embedding.weight"]
        x = emb[np.concatenate([warm, inputs])]  # (T, E)
        T0 = len(warm)
        zero = np.zeros(H, np.float32)
        start = state.hc if state is not None else [(zero, zero)] * L
        h0, c0 = start[top]  # the top layer's state before the lesson (replaced after a warm-up)
        ends = []  # (h, c) of each layer after the inputs: the state the next lesson starts from
        for layer in range(L):
            wi, wh = w[f"lstm.weight_ih_l{layer}"], w[f"lstm.weight_hh_l{layer}"]
            z_in = x @ wi.T + (w[f"lstm.bias_ih_l{layer}"] + w[f"lstm.bias_hh_l{layer}"])  # (T, 4H)
            h, c = start[layer]
            out = np.empty((len(x), H), np.float32)
            if layer == top:
                gates = np.empty((n, 4 * H), np.float32)  # i, f, g, o after their nonlinearities
                cs = np.empty((n, H), np.float32)
            for t in range(len(x)):
                if layer == top and t == T0:
                    h0, c0 = h.copy(), c.copy()
                z = z_in[t] + wh @ h
                i, f, g, o = _sigmoid(z[:H]), _sigmoid(z[H : 2 * H]), np.tanh(z[2 * H : 3 * H]), _sigmoid(z[3 * H :])
                c = f * c + i * g
                h = o * np.tanh(c)
                out[t] = h
                if layer == top and t >= T0:
                    gates[t - T0] = np.concatenate([i, f, g, o])
                    cs[t - T0] = c
            ends.append((h, c))
            below = x  # the top layer's inputs
            x = out
        hs = x[T0:]  # (n, H) the top layer's outputs of the lesson
        before = state.outputs if state is not None else np.zeros((0, H), np.float32)  # (P, H) top outputs before ids
        tops = np.concatenate([before, x]) if len(before) else x  # (P + T, H) the top layer's outputs
        after = LessonState(ends, tops[-(W - 1) :] if attention and W > 1 else np.zeros((0, H), np.float32))
        # the head: logits of each prediction, and its gradient
        if attention:
            values = tops[max(0, len(tops) - n - (W - 1)) :]  # (M + n, H): W - 1 outputs before the lesson, then its own
            M = len(values) - n
            wk = w["attn_linear.weight"]
            keys = values @ wk.T  # (M + n, H) (the key bias moves every score alike: the softmax ignores it)
            scores = hs @ keys.T / math.sqrt(H)  # (n, M + n)
            t_abs = np.arange(n)[:, None] + M
            j = np.arange(M + n)[None, :]
            band = (j <= t_abs) & (j > t_abs - W)
            scores = np.where(band, scores, -np.inf)
            scores -= scores.max(axis=1, keepdims=True)
            a = np.exp(scores)
            a /= a.sum(axis=1, keepdims=True)  # (n, M + n)
            ctx = a @ values  # (n, H)
            head_in = np.concatenate([hs, ctx], axis=1)  # (n, 2H)
        else:
            head_in = hs
        logits = head_in @ w["fc.weight"].T + w["fc.bias"]  # (n, V)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        dlogits = p
        dlogits[np.arange(n), targets] -= 1.0
        dlogits /= n  # (n, V) of the mean loss
        grads = {"fc.weight": dlogits.T @ head_in, "fc.bias": dlogits.sum(axis=0)}
        dhead = dlogits @ w["fc.weight"]  # (n, H or 2H)
        dh = dhead[:, :H].copy()  # (n, H) into the top layer's outputs
        if attention:
            dctx = dhead[:, H:]  # (n, H)
            da = dctx @ values.T  # (n, M + n)
            dscores = a * (da - (a * da).sum(axis=1, keepdims=True)) / math.sqrt(H)  # (n, M + n)
            dvalues = a.T @ dctx + dscores.T @ (hs @ wk)  # (M + n, H): as values, and as keys
            dh += dscores @ keys  # as queries
            grads["attn_linear.weight"] = (dscores.T @ hs).T @ values  # (H, H): d score / d W_k = h_t v_j^T
            grads["attn_linear.bias"] = np.zeros(H, np.float32)
            dh += dvalues[M:]  # the lesson's own outputs were values too (those before it: no learning)
        # back through the top LSTM layer's steps
        wi, wh = w[f"lstm.weight_ih_l{top}"], w[f"lstm.weight_hh_l{top}"]
        dz_all = np.empty((n, 4 * H), np.float32)
        dh_next, dc_next = np.zeros(H, np.float32), np.zeros(H, np.float32)
        for t in range(n - 1, -1, -1):
            i, f, g, o = gates[t, :H], gates[t, H : 2 * H], gates[t, 2 * H : 3 * H], gates[t, 3 * H :]
            c = cs[t]
            c_prev = cs[t - 1] if t else c0
            tc = np.tanh(c)
            dht = dh[t] + dh_next
            dc = dc_next + dht * o * (1.0 - tc * tc)
            dz = dz_all[t]
            dz[:H] = dc * g * i * (1.0 - i)
            dz[H : 2 * H] = dc * c_prev * f * (1.0 - f)
            dz[2 * H : 3 * H] = dc * i * (1.0 - g * g)
            dz[3 * H :] = dht * tc * o * (1.0 - o)
            dh_next = wh.T @ dz
            dc_next = dc * f
        h_prev = np.concatenate([h0[None], hs[:-1]])  # (n, H) each step's previous output
        grads[f"lstm.weight_hh_l{top}"] = dz_all.T @ h_prev
        grads[f"lstm.weight_ih_l{top}"] = dz_all.T @ below[T0:]
        db = dz_all.sum(axis=0)
        grads[f"lstm.bias_ih_l{top}"] = db
        grads[f"lstm.bias_hh_l{top}"] = db
        if top == 0:  # the embedding of each input character
            de = np.zeros_like(w["embedding.weight"])
            np.add.at(de, inputs, dz_all @ wi)
            grads["embedding.weight"] = de
        return {k: v.astype(np.float32, copy=False) for k, v in grads.items()}, after


class ReadCheck:
    """Judges the network's reading of a text (Completer.read) on the text's held-out end: the
    network's bits per character there before reading and after each pass, stepped a few
    characters per call (a pause never waits for more than a lesson's time), and the best
    weights so far. On text the network trained on the rest of, reading only drifts it away (a
    novel's held-out end 1.93 -> 1.98 bits read once, 2.13 three times); on text no training saw
    it learns a great deal (a README's 3.41 -> 1.03): bench/long_docs.py --reading."""

    STEP = 64  # characters of the end stepped per call

    def __init__(self, held: np.ndarray, before: np.ndarray, cfg: NetLearnConfig):
        self.held, self.before, self.cfg = held.tolist(), before, cfg  # the end's ids; the ids before it (the state)
        self.best: tuple[float, dict | None] | None = None  # (bits, the weights that gave them; None: the network's own)
        self.passes = 0  # passes read so far
        self.kept = 0  # the passes read when the best weights were
        self._restart()

    def _restart(self) -> None:
        self._pos, self._state, self._nll = 0, None, 0.0

    def step(self, stepper) -> float | None:
        """Go on stepping the held-out end with `stepper` (the weights now): its bits per
        character once stepped through, else None (more calls to come)."""
        if self._state is None:
            self._state = stepper.recompute(self.before)  # (as a jump's recompute: the characters before the end)
            return None
        st, nll, end = self._state, self._nll, min(len(self.held), self._pos + self.STEP)
        for i in self.held[self._pos : end]:
            nll -= float(_log_softmax(st.logits)[i])  # (V,) log-probabilities
            st = stepper.step(st, i)
        self._pos, self._state, self._nll = end, st, nll
        if end < len(self.held):
            return None
        return nll / len(self.held) / math.log(2)

    def judge(self, bits: float, weights: dict | None) -> bool:
        """The check after a pass (the first: before any): True to read the text again. `weights`:
        the learned weights now (None: the network's own), copied when they are the best."""
        improved = self.best is None or bits < self.best[0] * (1 - self.cfg.read_gain)
        if improved:
            self.best = (bits, None if weights is None else {k: v.copy() for k, v in weights.items()})
            self.kept = self.passes
        self._restart()
        return improved and self.passes < self.cfg.read_more
