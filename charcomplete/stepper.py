"""The network, one character at a time: what the Completer runs on every keystroke.

`Stepper` holds a checkpoint's weights as float32 arrays (named by `config.param_shapes`) and
steps the LSTM (and the attention head) by hand — one matrix-vector product and the gates per
character, no framework overhead — or recomputes the state after a text (a recurrence on the
CPU, one torch call on a GPU). On the CPU the step runs in C when network.c could be built for
a CPU with AVX2 or AVX-512, or NEON (64-bit ARM) (native.py; `_NativeNet`: the weights in int8, a quarter of the bytes
a step reads (NEON: int8's values in int16, half); the vectors they multiply rounded to int16, the sums int32), else in numpy. Either way the
result equals running the torch model over the same text in one call (tests/test_completion.py:
numpy to 1e-5 in probability; the C step equals numpy rounding and multiplying as it does to 1e-6,
tests/test_network_c.py; a C recompute equals C steps exactly). Torch is imported only for a device other
than the CPU, or when a caller asks for the torch network (`Stepper.model`).
"""

from __future__ import annotations

import ctypes
import math

import numpy as np

from charcomplete.config import param_shapes


def _sigmoid_tanh_scale(hidden: int) -> np.ndarray:
    """Gate order i, f, g, o: sigmoid(x) = 0.5 * tanh(x / 2) + 0.5, so scale i, f, o by 1/2."""
    s = np.full(4 * hidden, 0.5, dtype=np.float32)
    s[2 * hidden : 3 * hidden] = 1.0
    return s


class OutputBuffer:
    """The attention model's recent outputs, append-only.

    A state sees the rows before its `end`. Stepping writes row `end` and hands back end + 1,
    without copying: a suggestion's speculative steps write past the committed end and are
    simply overwritten by the next real character, since no state looks at or past its end.
    When the buffer is full, the last W - 1 rows move to a new one (old states keep the old).
    The keys attn_linear(h_j) are not kept: an output's scores need only h_j . (W_k^T out)
    (attn_linear's bias adds the same b . out to every score, which the softmax ignores).
    """

    def __init__(self, values: np.ndarray, capacity: int = 1024):
        n, H = values.shape
        self.values = np.empty((max(capacity, 2 * n + 2), H), np.float32)  # (C, H) outputs h_j
        self.values[:n] = values
        self.address = self.values.ctypes.data  # for network.c


class StepState:
    """The model's state after some text: h and c per layer, recent outputs, next logits."""

    __slots__ = ("h", "c", "buf", "end", "logits", "attn", "probs", "addresses")

    def __init__(self, h, c, buf, end, logits, attn, addresses=None):
        self.h = h  # list of (H,) per layer
        self.c = c  # list of (H,) per layer
        self.buf = buf  # OutputBuffer of the top layer's outputs (attention only)
        self.end = end  # this state sees buf rows [end - W, end)
        self.logits = logits  # (V,) next-character logits
        self.attn = attn  # (M,) attention weights of the last step over its M <= W outputs
        self.probs = None  # (V,) softmax(logits), read-only, once a caller has asked (Completer._probs: a state is asked again on later keys)
        self.addresses = addresses  # where h and c lie, layer by layer, for network.c (None: not known yet)


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


class Stepper:
    """A model's step and recompute (the weights of a torch network or a NumpyNet): in C
    (charcomplete/network.c, int8 weights, when it could be built; `native` False: never), else numpy."""

    def __init__(self, model, device: str = "cpu", native: bool = True):
        self.net = model.eval()  # a NumpyNet (CPU, no torch) or a torch network
        self.device = device
        self.kind = model.cfg.kind
        cfg = model.cfg
        self.H, self.W, self.layers = cfg.hidden, cfg.window, cfg.layers
        sd = {k: v if isinstance(v, np.ndarray) else v.detach().float().cpu().numpy() for k, v in model.state_dict().items()}
        assert {k: v.shape for k, v in sd.items()} == param_shapes(cfg), "the numpy step reads config.param_shapes' names"
        self.weights = sd  # the network's weights as float32 arrays (what netadapt.NetworkLearner learns from)
        emb = sd["embedding.weight"]  # (V, E)
        # the gates' pre-activations come out already scaled for one tanh (x 1/2 for i, f, o: exact)
        scale = _sigmoid_tanh_scale(self.H)
        # layer 0's input projection for every character, biases folded in: (V, 4H)
        self._x_table = (emb @ sd["lstm.weight_ih_l0"].T + sd["lstm.bias_ih_l0"] + sd["lstm.bias_hh_l0"]) * scale
        # W_hh transposed: (H, 4H), for h @ W
        self._w_hh_ts = [np.ascontiguousarray((sd[f"lstm.weight_hh_l{i}"] * scale[:, None]).T) for i in range(self.layers)]
        self._w_ih = [None] + [np.ascontiguousarray(sd[f"lstm.weight_ih_l{i}"] * scale[:, None]) for i in range(1, self.layers)]  # (4H, H)
        self._b = [None] + [(sd[f"lstm.bias_ih_l{i}"] + sd[f"lstm.bias_hh_l{i}"]) * scale for i in range(1, self.layers)]
        self._w_out = np.ascontiguousarray(sd["fc.weight"])  # (V, H) or (V, 2H)
        self._b_out = sd["fc.bias"]
        if self.kind == "attention":
            self._w_k = np.ascontiguousarray(sd["attn_linear.weight"])  # (H, H): out @ W_k = W_k^T out, the query
        self._inv_sqrt_h = np.float32(1.0 / math.sqrt(self.H))
        self._c = None
        if native and device == "cpu":
            from charcomplete.native import library

            lib = library("network")  # used where it multiplies in vector instructions: plain C is slower than numpy
            self._c = _NativeNet(self, lib) if lib is not None and lib.net_vectorised() else None

    @property
    def native(self) -> bool:
        """Whether network.c steps this network."""
        return self._c is not None

    @property
    def model(self):
        """The torch network (built from the numpy weights on first use when loaded without torch)."""
        if isinstance(self.net, NumpyNet):
            self.net = self.net.to_torch()
        return self.net

    def step(self, st: StepState, i: int) -> StepState:
        """The state after reading character id `i` in state `st`."""
        if self._c is not None:
            return self._c.step(st, i)
        H = self.H
        hs, cs = [], []
        x = None
        for layer in range(self.layers):
            g = st.h[layer] @ self._w_hh_ts[layer]  # (4H,) gates i, f, g, o (scaled)
            if layer == 0:
                g += self._x_table[i]
            else:
                g += self._w_ih[layer] @ x
                g += self._b[layer]
            np.tanh(g, out=g)  # tanh of g; tanh(x/2) of i, f, o
            s = g * 0.5
            s += 0.5  # sigmoid of i, f, o (the g part is unused)
            c = s[H : 2 * H] * st.c[layer]
            c += s[:H] * g[2 * H : 3 * H]
            x = np.tanh(c)
            x *= s[3 * H :]  # (H,) this layer's output
            hs.append(x)
            cs.append(c)
        if self.kind != "attention":
            logits = self._w_out @ x
            logits += self._b_out
            return StepState(hs, cs, None, 0, logits, None)
        return self._attend(hs, cs, st.buf, st.end, x)

    def fork(self, st: StepState) -> StepState:
        """`st` with a buffer of its own (its last W - 1 rows copied): stepping it writes there, so
        the states already stepped from `st` stay valid (a suggestion's other branches)."""
        if st.buf is None:  # lstm: states share nothing that a step writes
            return st
        lo = max(0, st.end - (self.W - 1))
        buf = OutputBuffer(st.buf.values[lo : st.end], capacity=4 * self.W)
        return StepState(st.h, st.c, buf, st.end - lo, st.logits, st.attn)

    def _attend(self, hs, cs, buf: OutputBuffer, end: int, out: np.ndarray) -> StepState:
        """Logits for output `out` (H,) attending over itself and the W - 1 outputs before it."""
        if end >= len(buf.values):  # full: carry the last W - 1 rows into a new buffer
            keep = self.W - 1
            buf = OutputBuffer(buf.values[end - keep : end])
            end = keep
        buf.values[end] = out
        lo = max(0, end + 1 - self.W)
        values = buf.values[lo : end + 1]  # (M, H), M <= W
        scores = values @ (out @ self._w_k)  # (M,) h_j . W_k^T out (the key bias's b . out dropped: softmax ignores it)
        scores *= self._inv_sqrt_h
        scores -= scores.max()
        w = np.exp(scores, out=scores)
        w /= w.sum()
        logits = self._w_out @ np.concatenate([out, w @ values])  # (V,) from the output and its context
        logits += self._b_out
        return StepState(hs, cs, buf, end + 1, logits, w)

    def recompute(self, ids: np.ndarray) -> StepState:
        """The state after the text of `ids` (int64, at least one): a numpy LSTM over it on the
        CPU, one torch call elsewhere."""
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
                if self.kind == "attention":  # (M, H) recent outputs
                    values = state[2][0].contiguous().cpu().numpy()
            else:
                h = [np.zeros(H, np.float32) for _ in range(self.layers)]
                c = [np.zeros(H, np.float32) for _ in range(self.layers)]
                values = np.zeros((0, H), np.float32)
        buf = OutputBuffer(values) if self.kind == "attention" else None
        # the last character is stepped by hand, so both paths share the output head
        return self.step(StepState(h, c, buf, 0 if buf is None else len(values), None, None), int(ids[-1]))

    def _recompute_numpy(self, ids: np.ndarray) -> StepState:
        """`_recompute` on the CPU: the recurrence over all but the last id, layer by layer (in
        numpy the input projections batched; with network.c one call a layer, the cell that steps,
        so a recompute equals stepping), then the last id stepped by `step` as the torch path does."""
        H = self.H
        n = len(ids) - 1
        h = [np.zeros(H, np.float32) for _ in range(self.layers)]
        c = [np.zeros(H, np.float32) for _ in range(self.layers)]
        out = np.zeros((n, H), np.float32)
        g, s, tmp = np.empty(4 * H, np.float32), np.empty(4 * H, np.float32), np.empty(H, np.float32)
        s_i, s_f, g_g, s_o = s[:H], s[H : 2 * H], g[2 * H : 3 * H], s[3 * H :]  # views, made once
        for layer in range(self.layers):
            if n == 0:
                break
            below = out  # (n, H) the outputs of the layer below (layer 0: unused)
            if layer:
                out = np.empty((n, H), np.float32)
            cl = c[layer].copy()
            if self._c is not None:
                self._c.layer(layer, ids[:-1], below, h[layer], cl, out)
                h[layer], c[layer] = out[-1].copy(), cl
                continue
            if layer == 0:
                xs = self._x_table[ids[:-1]]  # (n, 4H), biases folded in, scaled
            else:
                xs = below @ self._w_ih[layer].T + self._b[layer]
            w, hl = self._w_hh_ts[layer], h[layer]
            for t, x in enumerate(xs):  # in place, no temporaries: half the time of the plain expressions (bench/startup.py)
                np.dot(hl, w, out=g)
                g += x
                np.tanh(g, out=g)  # tanh of g; tanh(x/2) of i, f, o
                np.multiply(g, 0.5, out=s)
                s += 0.5  # sigmoid of i, f, o
                cl *= s_f
                np.multiply(s_i, g_g, out=tmp)
                cl += tmp
                hl = out[t]
                np.tanh(cl, out=hl)
                hl *= s_o
            h[layer], c[layer] = hl.copy(), cl
        buf, m = None, 0
        if self.kind == "attention":
            values = out[-(self.W - 1) :] if self.W > 1 else out[:0]  # the last W - 1 outputs, as models.advance
            buf, m = OutputBuffer(values), len(values)
        return self.step(StepState(h, c, buf, m, None, None), int(ids[-1]))


class _NativeNet:
    """A Stepper's step and recompute through network.c: its weight matrices as the library reads
    them (int8 and a scale per column; net_quantize),
    laid out for x @ W. The scratch arrays are shared by calls: each call holds the GIL
    (ctypes.PyDLL) until it returns."""

    def __init__(self, stepper: Stepper, lib):
        self.stepper = stepper
        H, L = stepper.H, stepper.layers

        def as_c(a: np.ndarray) -> np.ndarray:  # (K, N) float32 -> the library's matrix block (bytes)
            a = np.ascontiguousarray(a, dtype=np.float32)
            out = np.empty(lib.net_matrix_bytes(*a.shape), np.uint8)
            lib.net_quantize(*a.shape, a.ctypes.data, out.ctypes.data)
            return out

        self._w_hh = [as_c(w) for w in stepper._w_hh_ts]  # (H, 4H) per layer
        self._w_ih = [None] + [as_c(w.T) for w in stepper._w_ih[1:]]  # (H, 4H) above layer 0
        self._b = [None] + [np.ascontiguousarray(b, dtype=np.float32) for b in stepper._b[1:]]  # (4H,)
        self._w_k = as_c(stepper._w_k) if stepper.kind == "attention" else None  # (H, H)
        self.V = V = len(stepper._b_out)
        Vp = -(-V // 16) * 16  # V padded with zero columns: whole vectors (the logits past V are never read)
        self._w_out = as_c(np.pad(stepper._w_out.T, ((0, 0), (0, Vp - V))))  # (H or 2H, Vp)
        self._b_out = np.pad(stepper._b_out, (0, Vp - V)).astype(np.float32)  # (Vp,)
        self._x_table = np.ascontiguousarray(stepper._x_table, dtype=np.float32)  # (V, 4H)
        self.Vp = Vp
        self._scratch = np.empty(9 * H + 16 + 4 * H + max(H, Vp) + 16, np.float32)  # the cell's (9H + 16,), the head's (4H + max(H, Vp) + 16,)
        a = lambda x: None if x is None else x.ctypes.data  # noqa: E731
        self._p_w_hh, self._p_w_ih, self._p_b = [a(w) for w in self._w_hh], [a(w) for w in self._w_ih], [a(b) for b in self._b]
        self._p_w_k, self._p_w_out, self._p_b_out = a(self._w_k), a(self._w_out), a(self._b_out)
        self._p_x = a(self._x_table)
        self._p_g = a(self._scratch)
        self._p_head = self._p_g + 4 * (9 * H + 16)
        self._cell, self._layer, self._head = lib.net_cell, lib.net_layer, lib.net_head
        self._size = 2 * L * H + Vp + stepper.W  # a step's new arrays in one block: h, c (L, H), logits (Vp,), attn (<= W,)
        self._step1 = None  # one layer (the shipped networks): net_step1, the cell and the head in one call
        if L == 1:
            from charcomplete.native import Step1

            attention = stepper.kind == "attention"
            self._k = Step1(H, Vp, self._p_x, self._p_w_hh[0], self._p_w_k if attention else None, self._p_w_out,
                            self._p_b_out, self._p_g, self._p_head, stepper._inv_sqrt_h if attention else 0.0)
            self._p_k = ctypes.addressof(self._k)
            self._step1 = lib.net_step1

    def step(self, st: StepState, i: int) -> StepState:
        s, H, L, V, Vp = self.stepper, self.stepper.H, self.stepper.layers, self.V, self.Vp
        if not 0 <= i < V:  # the C code reads row i of the input table: never past it
            raise IndexError(f"character id {i} outside the vocabulary of {V}")
        if st.addresses is None:
            st.addresses = ([h.ctypes.data for h in st.h], [c.ctypes.data for c in st.c])
        hp, cp = st.addresses
        block = np.empty(self._size, np.float32)
        a = block.ctypes.data
        if self._step1 is not None:
            return self._step_one_layer(st, i, hp[0], cp[0], block, a)
        hs, cs = [a + 4 * H * j for j in range(L)], [a + 4 * H * (L + j) for j in range(L)]
        x = None
        for j in range(L):
            base = self._p_x + 4 * 4 * H * i if j == 0 else self._p_b[j]
            self._cell(H, base, self._p_w_ih[j], x, self._p_w_hh[j], hp[j], cp[j], hs[j], cs[j], self._p_g)
            x = hs[j]
        logits = block[2 * L * H : 2 * L * H + V]
        h = [block[H * j : H * (j + 1)] for j in range(L)]
        c = [block[H * (L + j) : H * (L + j + 1)] for j in range(L)]
        pl, pa = a + 4 * 2 * L * H, a + 4 * (2 * L * H + Vp)
        if s.kind != "attention":
            self._head(H, Vp, 1, None, x, None, 0.0, self._p_w_out, self._p_b_out, pl, None, self._p_head)
            return StepState(h, c, None, 0, logits, None, (hs, cs))
        buf, end, lo, M = self._window(st)
        self._head(H, Vp, M, buf.address + 4 * H * lo, x, self._p_w_k, s._inv_sqrt_h, self._p_w_out, self._p_b_out,
                   pl, pa, self._p_head)
        attn = block[2 * L * H + Vp : 2 * L * H + Vp + M]
        return StepState(h, c, buf, end + 1, logits, attn, (hs, cs))

    def _window(self, st: StepState) -> tuple:
        """The attention buffer a step after `st` writes to (a new one when full), where its output
        row goes (end), and the rows it attends to: from lo, M of them."""
        W, buf, end = self.stepper.W, st.buf, st.end
        if end >= len(buf.values):  # full: carry the last W - 1 rows into a new buffer
            buf = OutputBuffer(buf.values[end - (W - 1) : end])
            end = W - 1
        lo = max(0, end + 1 - W)
        return buf, end, lo, end + 1 - lo

    def _step_one_layer(self, st: StepState, i: int, hp: int, cp: int, block: np.ndarray, a: int) -> StepState:
        """`step` for a one-layer network: the cell and the head in one call (net_step1), the same numbers."""
        s, H, V, Vp = self.stepper, self.stepper.H, self.V, self.Vp
        h, c, logits = [block[:H]], [block[H : 2 * H]], block[2 * H : 2 * H + V]
        if s.kind != "attention":
            self._step1(self._p_k, i, hp, cp, a, None, 1)
            return StepState(h, c, None, 0, logits, None, ([a], [a + 4 * H]))
        buf, end, lo, M = self._window(st)
        self._step1(self._p_k, i, hp, cp, a, buf.address + 4 * H * lo, M)
        return StepState(h, c, buf, end + 1, logits, block[2 * H + Vp : 2 * H + Vp + M], ([a], [a + 4 * H]))

    def layer(self, j: int, ids: np.ndarray, below: np.ndarray, h: np.ndarray, c: np.ndarray, out: np.ndarray) -> None:
        """Layer j's recurrence over n characters in one call: layer 0 reads the input rows of
        `ids` (n,), a layer above the outputs `below` (n, H) of the one under it; h (H,) the state
        before, c (H,) updated in place, out (n, H) the outputs."""
        H, n = self.stepper.H, len(ids)
        if j == 0:
            bases = np.ascontiguousarray(self._x_table[ids])  # (n, 4H) the input projections, biases folded in
            self._layer(H, n, bases.ctypes.data, 4 * H, None, None, self._p_w_hh[0], h.ctypes.data, c.ctypes.data,
                        out.ctypes.data, self._p_g)
        else:
            self._layer(H, n, self._p_b[j], 0, self._p_w_ih[j], below.ctypes.data, self._p_w_hh[j], h.ctypes.data,
                        c.ctypes.data, out.ctypes.data, self._p_g)
