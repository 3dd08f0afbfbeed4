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

from dataclasses import dataclass

import numpy as np


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
        self._last = None  # (h, p) of the prediction update() learns from

    def reset(self) -> None:
        self.dW[:] = 0.0
        self.db[:] = 0.0
        self.steps, self._last = 0, None

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
        g = p.astype(np.float32)  # (V,) d loss / d logits = p - onehot(actual)
        g[actual] -= 1.0
        g *= -self.cfg.lr
        rows = np.flatnonzero(np.abs(g) >= self.cfg.min_step)  # (R,) the characters the step moves (a few)
        self.dW[rows] += np.outer(g[rows], h)  # (R, H)
        self.db += g
        self.steps += 1
