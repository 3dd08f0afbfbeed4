"""The Completer: what the editor asks on every keystroke.

It keeps the model's state for the last context it saw. When a new context extends that one
by at most `max_extend` characters, only the new characters are stepped (a hand-written
numpy LSTM step: one matrix-vector product and the gates, no framework overhead); otherwise
it recomputes from the last `context_chars` characters with one batched model call. Either
way the result equals running the model over the same text in one call (tested to 1e-5).

A suggestion is a greedy continuation with clear stopping rules (see `Policy`). Asking is a
pure query: learning from the document (adaptation) happens only in `observe`, which the
editor calls with the text before the cursor before it asks.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from charcomplete.config import param_shapes
from charcomplete.registry import DEFAULT_MODEL
from charcomplete.vocab import Vocab, normalize_newlines

WORD_END = set(" \t\n.,;:!?)]}\"'")  # characters that end a word


@dataclass
class Policy:
    """How a continuation is grown and when it stops (chosen by measuring KSR; see README)."""

    max_chars: int = 16  # longest suggestion
    min_chars: int = 2  # a 1-character suggestion saves no keystroke (Tab costs one): not shown
    threshold: float = 0.02  # stop growing before the whole suggestion's probability would fall below this
    boundary: str = "savings"  # "savings": keep the length k with the most expected savings, P(k chars right) * (k - 1);
    #                            "word": end after the word being typed (with its trailing space); "phrase": no word stop
    show_threshold: float = 0.1  # "savings": show nothing less likely than this (0.05 -> 0.1: precision 0.31 -> 0.38, KSR 0.324 -> 0.307)
    memory_chars: int = 4  # the corpus memory is asked for this many characters of a suggestion (the rest: latency)


@dataclass
class Suggestion:
    text: str  # what Tab would insert ("" when nothing is confident enough)
    confidence: float  # probability of the whole text under the model (product of char_probs)
    char_probs: list[float] = field(default_factory=list)  # probability of each character of text
    attention: list[float] | None = None  # attention weights over attention_text (None for lstm)
    attention_text: str = ""  # the last W characters before the cursor (the sparkline's labels)
    latency_ms: float = 0.0  # time suggest() took


def _sigmoid_tanh_scale(hidden: int) -> np.ndarray:
    """Gate order i, f, g, o: sigmoid(x) = 0.5 * tanh(x / 2) + 0.5, so scale i, f, o by 1/2."""
    s = np.full(4 * hidden, 0.5, dtype=np.float32)
    s[2 * hidden : 3 * hidden] = 1.0
    return s


class OutputBuffer:
    """The attention model's recent outputs and their keys, append-only.

    A state sees the rows before its `end`. Stepping writes row `end` and hands back end + 1,
    without copying: a suggestion's speculative steps write past the committed end and are
    simply overwritten by the next real character, since no state looks at or past its end.
    When the buffer is full, the last W - 1 rows move to a new one (old states keep the old).
    """

    def __init__(self, values: np.ndarray, keys: np.ndarray, capacity: int = 1024):
        n, H = values.shape
        self.values = np.empty((max(capacity, 2 * n + 2), H), np.float32)  # (C, H) outputs h_j
        self.keys = np.empty_like(self.values)  # (C, H) attn_linear(h_j)
        self.values[:n], self.keys[:n] = values, keys


class StepState:
    """The model's state after some text: h and c per layer, recent outputs, next logits."""

    __slots__ = ("h", "c", "buf", "end", "logits", "attn")

    def __init__(self, h, c, buf, end, logits, attn):
        self.h = h  # list of (H,) per layer
        self.c = c  # list of (H,) per layer
        self.buf = buf  # OutputBuffer of the top layer's outputs (attention only)
        self.end = end  # this state sees buf rows [end - W, end)
        self.logits = logits  # (V,) next-character logits
        self.attn = attn  # (M,) attention weights of the last step over its M <= W outputs


class NumpyNet:
    """A checkpoint's weights as float32 numpy arrays: what a Completer on the CPU runs from,
    without torch. `Completer.model` builds the torch network from them when a caller asks."""

    def __init__(self, cfg, weights: dict[str, np.ndarray]):
        self.cfg = cfg
        self.weights = weights  # config.param_shapes' names -> arrays

    def eval(self) -> "NumpyNet":
        return self

    def state_dict(self) -> dict[str, np.ndarray]:
        return self.weights

    def to_torch(self):
        import torch

        from charcomplete.models import build_model

        net = build_model(self.cfg)
        net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in self.weights.items()})
        return net.eval()


class Completer:
    """Next-character predictions and suggestions from one model (a torch network, or a
    NumpyNet on the CPU: then torch is never imported unless `.model` is asked for)."""

    def __init__(self, model, vocab: Vocab, name: str = "", path: Path | None = None, meta=None, device: str = "cpu",
                 context_chars: int = 192, max_extend: int = 64, policy: Policy | None = None, adapt=False,
                 save_history: bool = True, memory=None):
        from charcomplete.adapt import make_adaptive

        self._net = model.eval()
        self.vocab = vocab
        self.name = name
        self.path = path  # the checkpoint it was loaded from (None: built in memory)
        self.meta = meta
        self.device = device
        self.kind = model.cfg.kind
        self.context_chars = context_chars  # a recompute reads at most this many characters back
        self.max_extend = max_extend  # extensions up to this long are stepped, longer ones recompute
        self.policy = policy or Policy()
        cfg = model.cfg
        self.H, self.W, self.layers = cfg.hidden, cfg.window, cfg.layers
        sd = {k: v if isinstance(v, np.ndarray) else v.detach().float().cpu().numpy() for k, v in model.state_dict().items()}
        assert {k: v.shape for k, v in sd.items()} == param_shapes(cfg), "the numpy step reads config.param_shapes' names"
        emb = sd["embedding.weight"]  # (V, E)
        # layer 0's input projection for every character, biases folded in: (V, 4H)
        self._x_table = emb @ sd["lstm.weight_ih_l0"].T + sd["lstm.bias_ih_l0"] + sd["lstm.bias_hh_l0"]
        self._w_hh = [np.ascontiguousarray(sd[f"lstm.weight_hh_l{i}"]) for i in range(self.layers)]  # (4H, H)
        self._w_ih = [None] + [np.ascontiguousarray(sd[f"lstm.weight_ih_l{i}"]) for i in range(1, self.layers)]
        self._b = [None] + [sd[f"lstm.bias_ih_l{i}"] + sd[f"lstm.bias_hh_l{i}"] for i in range(1, self.layers)]
        self._w_out = np.ascontiguousarray(sd["fc.weight"])  # (V, H) or (V, 2H)
        self._b_out = sd["fc.bias"]
        if self.kind == "attention":
            self._w_k = np.ascontiguousarray(sd["attn_linear.weight"])  # (H, H)
            self._b_k = sd["attn_linear.bias"]
        self._scale = _sigmoid_tanh_scale(self.H)
        self._inv_sqrt_h = np.float32(1.0 / math.sqrt(self.H))
        self._w_hh_ts: list[np.ndarray] | None = None  # built by the first numpy recompute
        self._ctx: str | None = None  # the context the cached state belongs to
        self._state: StepState | None = None
        # adaptation (charcomplete/adapt.py): False (exactly the network), True (the document and
        # the user's history; the history saved at exit with save_history), or an AdaptiveModel
        self.adapt = make_adaptive(adapt, save=save_history)
        self._index = dict(vocab._index)  # char -> id, for the adaptive model's counts
        # the corpus memory (memory.py: part of the model, shipped beside it) and the mixer that
        # weighs it against the network and the document cache; the mixer learns from what is
        # typed only when adapting (with adaptation off nothing is learned from the user)
        self.memory = memory if memory is not None and memory.vocab == vocab else None
        self.mixer = None
        if self.memory is not None:
            from charcomplete.mixer import Mixer

            self.mixer = Mixer()
        self._observed = ""  # the last context observed
        self._mix_fresh = False  # the next mix is the prediction for the character after _observed
        self._mix_root: str | None = None  # the context the mixer's pending prediction was for

    @property
    def model(self):
        """The torch network (built from the numpy weights on first use when loaded without torch):
        for callers that need torch, such as scoring a long text (evaluate.score_text)."""
        if isinstance(self._net, NumpyNet):
            self._net = self._net.to_torch()
        return self._net

    # --- the model, one character at a time (numpy) ------------------------------------

    def _step(self, st: StepState, i: int) -> StepState:
        """The state after reading character id `i` in state `st`."""
        H = self.H
        hs, cs = [], []
        x = None
        for layer in range(self.layers):
            if layer == 0:
                g = self._x_table[i] + self._w_hh[0] @ st.h[0]  # (4H,) gates i, f, g, o
            else:
                g = self._w_ih[layer] @ x + self._b[layer] + self._w_hh[layer] @ st.h[layer]
            t = np.tanh(g * self._scale)  # tanh of g; tanh(x/2) of i, f, o
            s = 0.5 * t + 0.5  # sigmoid of i, f, o (the g part is unused)
            c = s[H : 2 * H] * st.c[layer] + s[:H] * t[2 * H : 3 * H]
            x = s[3 * H :] * np.tanh(c)  # (H,) this layer's output
            hs.append(x)
            cs.append(c)
        if self.kind != "attention":
            return StepState(hs, cs, None, 0, self._w_out @ x + self._b_out, None)
        return self._attend(hs, cs, st.buf, st.end, x)

    def _attend(self, hs, cs, buf: OutputBuffer, end: int, out: np.ndarray) -> StepState:
        """Logits for output `out` (H,) attending over itself and the W - 1 outputs before it."""
        if end >= len(buf.values):  # full: carry the last W - 1 rows into a new buffer
            keep = self.W - 1
            buf = OutputBuffer(buf.values[end - keep : end], buf.keys[end - keep : end])
            end = keep
        buf.values[end] = out
        buf.keys[end] = self._w_k @ out + self._b_k
        lo = max(0, end + 1 - self.W)
        values, keys = buf.values[lo : end + 1], buf.keys[lo : end + 1]  # (M, H), M <= W
        scores = keys @ out * self._inv_sqrt_h  # (M,)
        w = np.exp(scores - scores.max())
        w /= w.sum()
        context = w @ values  # (H,)
        logits = self._w_out @ np.concatenate([out, context]) + self._b_out  # (V,)
        return StepState(hs, cs, buf, end + 1, logits, w)

    def _recompute(self, text: str) -> StepState:
        """The state after `text` (at most context_chars long): a numpy LSTM over the text on the
        CPU, one torch call elsewhere."""
        ids = self.vocab.encode(text or "\n").astype(np.int64)
        if self.device == "cpu":
            return self._recompute_numpy(ids)
        import torch
        with torch.no_grad():
            x = torch.from_numpy(ids[:-1][None]).to(self.device)  # (1, T-1): all but the last char
            H = self.H
            if len(ids) > 1:
                state = self.model.advance(x, None)
                h = [s.cpu().numpy() for s in state[0][:, 0]]  # layers x (H,)
                c = [s.cpu().numpy() for s in state[1][:, 0]]
                if self.kind == "attention":  # (M, H) recent outputs and their keys (torch: numpy's BLAS may spin threads)
                    values = state[2][0].contiguous().cpu().numpy()
                    keys = self.model.attn_linear(state[2][0]).contiguous().cpu().numpy()
            else:
                h = [np.zeros(H, np.float32) for _ in range(self.layers)]
                c = [np.zeros(H, np.float32) for _ in range(self.layers)]
                values = keys = np.zeros((0, H), np.float32)
        buf = OutputBuffer(values, keys) if self.kind == "attention" else None
        # the last character is stepped by hand, so both paths share the output head
        return self._step(StepState(h, c, buf, 0 if buf is None else len(values), None, None), int(ids[-1]))

    def _recompute_numpy(self, ids: np.ndarray) -> StepState:
        """`_recompute` in numpy: the recurrence over all but the last id, layer by layer (the
        input projections batched), then the last id stepped by `_step` as the torch path does."""
        H, scale = self.H, self._scale
        n = len(ids) - 1
        if self._w_hh_ts is None:  # W_hh transposed with the gate scale folded in (x 1/2 is exact)
            self._w_hh_ts = [np.ascontiguousarray((w * scale[:, None]).T) for w in self._w_hh]
        h = [np.zeros(H, np.float32) for _ in range(self.layers)]
        c = [np.zeros(H, np.float32) for _ in range(self.layers)]
        out = np.zeros((n, H), np.float32)
        g, s = np.empty(4 * H, np.float32), np.empty(4 * H, np.float32)
        for layer in range(self.layers):
            if n == 0:
                break
            if layer == 0:
                xs = self._x_table[ids[:-1]] * scale  # (n, 4H), biases folded in
            else:
                xs = (out @ self._w_ih[layer].T + self._b[layer]) * scale
                out = np.empty((n, H), np.float32)
            w, hl, cl = self._w_hh_ts[layer], h[layer], c[layer]
            for t in range(n):  # in place: half the time of the plain expressions (bench/startup.py)
                np.dot(hl, w, out=g)
                g += xs[t]
                np.tanh(g, out=g)  # tanh of g; tanh(x/2) of i, f, o
                np.multiply(g, 0.5, out=s)
                s += 0.5  # sigmoid of i, f, o
                cl = s[H : 2 * H] * cl
                cl += s[:H] * g[2 * H : 3 * H]
                hl = out[t]
                np.tanh(cl, out=hl)
                hl *= s[3 * H :]
            h[layer], c[layer] = hl.copy(), cl
        buf, m = None, 0
        if self.kind == "attention":
            values = out[-(self.W - 1) :] if self.W > 1 else out[:0]  # the last W - 1 outputs, as models.advance
            buf, m = OutputBuffer(values, values @ self._w_k.T + self._b_k), len(values)
        return self._step(StepState(h, c, buf, m, None, None), int(ids[-1]))

    def _state_for(self, context: str) -> StepState:
        if "\r" in context:
            context = normalize_newlines(context)
        last = self._ctx
        if last is not None and context == last:
            return self._state
        if last is not None and last and context.startswith(last) and len(context) - len(last) <= self.max_extend:
            st = self._state
            for i in self.vocab.encode(context[len(last) :]):
                st = self._step(st, int(i))
        else:
            st = self._recompute(context[-self.context_chars :])
        self._ctx, self._state = context, st
        return st

    def reset(self) -> None:
        """Forget the cached state: the next call recomputes."""
        self._ctx, self._state = None, None

    def new_document(self) -> None:
        """Start over for another document: no cached state, an empty document cache (the
        user's history, when adapting, stays)."""
        self.reset()
        if self.adapt is not None:
            self.adapt.new_document()
        if self.mixer is not None:
            self.mixer.reset()
            self._observed, self._mix_root, self._mix_fresh = "", None, False

    def _probs(self, st: StepState, tail: str, memory: bool = True) -> np.ndarray:
        """Next-character probabilities after `tail` (the text so far): the network's, mixed with
        the adaptive model when adapting, and with the corpus memory when the model has one."""
        p_net = _softmax(st.logits)
        short = normalize_newlines(tail[-64:])
        p = p_net if self.adapt is None else self.adapt.mix(p_net, short, self._index)
        if self.memory is None or not memory:
            return p
        from charcomplete.mixer import default_keys, doc_match_order

        p_mem, info = self.memory.predict_text(short)
        doc = 0 if self.adapt is None else doc_match_order(self.adapt.doc.table, short, self.adapt.cfg.min_order,
                                                           self.adapt.cfg.max_order)
        root, self._mix_fresh = self._mix_fresh, False  # the prediction for the character the user types next
        if root:
            self._mix_root = self._observed
        return self.mixer.mix((p_net, p, p_mem), default_keys(info, doc), learn=root and self.adapt is not None)

    # --- the public API ----------------------------------------------------------------

    def observe(self, context: str) -> None:
        """Learn from the text before the cursor (adaptation; nothing when it is off). The
        editor calls it before every question; `suggest` itself never learns."""
        if self.adapt is not None:
            self.adapt.observe(normalize_newlines(context) if "\r" in context else context)
        if self.mixer is not None and context != self._observed:
            root = self._mix_root
            if root is not None and len(context) == len(root) + 1 and context.startswith(root):
                self.mixer.update(self._index.get(normalize_newlines(context[-1]), 0))  # learn from the typed character
            else:
                self.mixer.discard()
            self._observed, self._mix_root, self._mix_fresh = context, None, True

    def load_options(self) -> dict:
        """The `load_completer` options that make another model run as this one does (the
        device, adaptation, saving the history): for switching models in the editor."""
        history = self.adapt.history if self.adapt is not None else None
        return {"device": self.device, "adapt": self.adapt is not None,
                "save_history": history is not None and history.save_enabled}

    def probs(self, context: str) -> np.ndarray:
        """(V,) probabilities of the next character id after `context` (what suggestions use)."""
        return self._probs(self._state_for(context), context)

    def next_char_probs(self, context: str) -> dict[str, float]:
        """Probability of every next character (and `<unk>`), summing to 1."""
        p = self._probs(self._state_for(context), context)
        return {self.vocab.token(i): float(p[i]) for i in range(len(p))}

    def suggest(self, context: str, max_chars: int | None = None) -> Suggestion:
        """The suggestion shown after `context` (the text before the cursor)."""
        t0 = time.perf_counter()
        st = self._state_for(context)
        s = self._continue(st, context, None, max_chars)
        self._attach_attention(s, st, context)
        s.latency_ms = (time.perf_counter() - t0) * 1000
        return s

    def alternatives(self, context: str, k: int = 3, max_chars: int | None = None) -> list[Suggestion]:
        """Up to k distinct suggestions, best first (each starts with a different character)."""
        st = self._state_for(context)
        best = self.suggest(context, max_chars)
        p = self._probs(st, context).copy()
        p[0] = 0.0  # suggestions never start with <unk>
        out = [best] if best.text else []
        for first in np.argsort(-p)[: k + 1]:
            if len(out) >= k:
                break
            s = self._continue(st, context, int(first), max_chars, threshold=self.policy.threshold / 4,
                               show_threshold=self.policy.show_threshold / 4)
            if s.text and all(s.text != o.text for o in out):
                self._attach_attention(s, st, context)
                out.append(s)
        return out[:1] + sorted(out[1:], key=lambda s: -s.confidence)

    def _attach_attention(self, s: Suggestion, st: StepState, context: str) -> None:
        if st.attn is not None:
            n = len(st.attn)
            s.attention = [float(a) for a in st.attn]
            tail = normalize_newlines(context)[-n:] if context else "\n"
            s.attention_text = tail.rjust(n)[-n:]

    def _continue(self, st: StepState, context: str, first: int | None, max_chars: int | None,
                  threshold: float | None = None, show_threshold: float | None = None) -> Suggestion:
        """Greedy continuation from `st` under the policy (first character forced if given)."""
        pol = self.policy
        limit = pol.max_chars if max_chars is None else max_chars
        threshold = pol.threshold if threshold is None else threshold
        text, probs, conf = [], [], 1.0
        in_word = bool(context) and context[-1] not in WORD_END  # completing a word already begun
        seen_word = False
        tail = context[-64:]  # what the adaptive model predicts from
        while len(text) < limit:
            p = self._probs(st, tail, memory=len(text) < pol.memory_chars)
            i = int(np.argmax(p[1:])) + 1 if first is None or text else first  # never <unk> (id 0)
            p_true = float(p[i])
            if conf * p_true < threshold:
                break
            ch = self.vocab.token(i)
            if pol.boundary == "word" and ch in WORD_END and (seen_word or in_word):
                if ch in " \t" and conf * p_true >= threshold:
                    text.append(ch)  # the space after a finished word comes along
                    probs.append(p_true)
                    conf *= p_true
                break
            text.append(ch)
            probs.append(p_true)
            conf *= p_true
            if ch not in WORD_END:
                seen_word = True
            if len(text) < limit:
                st = self._step(st, i)
                tail += ch
        if pol.boundary == "savings" and text:
            # keep the length k that saves most keystrokes on average: P(first k right) * (k - 1)
            cum = np.cumprod(probs)
            k = int(np.argmax(cum * (np.arange(len(probs)) + 1 - 1))) + 1
            text, probs, conf = text[:k], probs[:k], float(cum[k - 1])
            if conf < (pol.show_threshold if show_threshold is None else show_threshold):
                return Suggestion("", 0.0)
        if len(text) < pol.min_chars:
            return Suggestion("", 0.0)
        return Suggestion("".join(text), conf, probs)


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max())
    return z / z.sum()


def load_completer(model: str | Path | None = None, device: str = "cpu", **kwargs) -> Completer:
    """A Completer for a shipped or user checkpoint name, or a path (default: the editor's model).
    kwargs go to Completer (adapt=True for adaptation, save_history=True to keep what it learns).
    The model's corpus memory (`NAME.memory.safetensors` beside it) is loaded when there is one,
    unless memory=False."""
    from charcomplete.checkpoint import load_checkpoint, load_weights
    from charcomplete.device import resolve_device, resolve_device_cheaply
    from charcomplete.registry import memory_path_for, model_name, resolve_model

    device = resolve_device_cheaply(device) or resolve_device(device)
    path = resolve_model(str(model or DEFAULT_MODEL))
    if device == "cpu":  # numpy weights: torch is not imported (Completer.model builds it if asked)
        weights, meta, cfg, vocab = load_weights(path)
        net = NumpyNet(cfg, weights)
    else:
        net, meta, vocab = load_checkpoint(path, device=device)
    memory = kwargs.pop("memory", True)
    if memory is True:
        from charcomplete.memory import load_memory

        mem_path = memory_path_for(path)
        memory = load_memory(mem_path) if mem_path.exists() else None
    return Completer(net, vocab, name=model_name(path), meta=meta, device=device, path=path, memory=memory or None, **kwargs)
