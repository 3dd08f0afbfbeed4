"""How good and how fast a model is: bits per character, top-k accuracy, keystroke savings
(KSR) against a keyword-completion baseline, and suggestion latency.

KSR, the product's main quality figure: a simulated user types a text left to right; at each
position the editor shows suggest(text before the cursor); if it is non-empty and equals the
next characters the user presses Tab (one keystroke) and jumps past it, otherwise types one
character. KSR = 1 - keystrokes / characters.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass

import numpy as np

from charcomplete.vocab import normalize_newlines

LN2 = math.log(2.0)
WORD = re.compile(r"\w+")


# --- likelihood: bits per character, top-k accuracy -------------------------------------


def score_text(model, vocab, text: str, streams: int = 16, seq_len: int = 256, device: str = "cpu") -> dict:
    """bpc, top-1 and top-3 accuracy of `model` predicting every next character of `text`.

    The text is cut into `streams` contiguous pieces read in parallel, chunk by chunk with the
    state carried over, so any length works (a single LSTM call over 500k characters would not).
    The first character of each piece has no context and is not scored.
    """
    import torch
    import torch.nn.functional as F

    ids = vocab.encode(text).astype(np.int64)
    n = len(ids)
    streams = max(1, min(streams, (n - 1) // 64 or 1))
    length = n // streams
    if length < 2:
        return {"bpc": float("nan"), "top1": float("nan"), "top3": float("nan"), "chars": 0}
    x_all = torch.from_numpy(ids[: streams * length].reshape(streams, length)).to(device)  # (S, L)
    nll, top1, top3, count, state = 0.0, 0, 0, 0, None
    with torch.no_grad():
        for start in range(0, length - 1, seq_len):
            x = x_all[:, start : min(start + seq_len, length - 1)]  # (S, t)
            y = x_all[:, start + 1 : start + 1 + x.shape[1]]  # (S, t)
            logits, state = model(x, state)  # (S, t, V)
            nll += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum").item()
            best3 = logits.topk(min(3, logits.shape[-1]), dim=-1).indices  # (S, t, 3)
            top1 += (best3[..., 0] == y).sum().item()
            top3 += (best3 == y.unsqueeze(-1)).any(-1).sum().item()
            count += y.numel()
    return {"bpc": nll / count / LN2, "top1": top1 / count, "top3": top3 / count, "chars": count}


# --- keystroke savings --------------------------------------------------------------------


def keystroke_savings(suggest, text: str) -> dict:
    """Simulate typing `text` with `suggest(context) -> str`; KSR and counts.

    `suggest` gets the text before the cursor and returns the ghost text shown ("" for none).
    """
    text = normalize_newlines(text)
    n, pos, keys, accepted, shown = len(text), 0, 0, 0, 0
    while pos < n:
        s = suggest(text[:pos])
        if s:
            shown += 1
        if s and text.startswith(s, pos):
            pos += len(s)
            accepted += 1
        else:
            pos += 1
        keys += 1
    return {"ksr": 1.0 - keys / n if n else 0.0, "keystrokes": keys, "chars": n, "accepted": accepted, "shown": shown}


def completer_ksr(completer, text: str) -> dict:
    completer.reset()
    return keystroke_savings(lambda ctx: completer.suggest(ctx).text, text)


class WordIndex:
    """Word counts and, for every prefix, the most frequent word with it (ties: first seen)."""

    def __init__(self, text: str = ""):
        self.counts: dict[str, int] = {}
        self.best: dict[str, str] = {}  # prefix -> most frequent word with that prefix
        for w in WORD.findall(text):
            self.add(w, self.counts)

    def add(self, word: str, counts: dict[str, int]) -> None:
        """Count `word` once more in `counts` and update the best word of its prefixes."""
        k = counts.get(word, 0) + 1
        counts[word] = k
        score = self.score
        for i in range(1, len(word)):
            cur = self.best.get(word[:i])
            if cur is None or cur == word or score(cur) < score(word):
                self.best[word[:i]] = word

    def score(self, word: str) -> int:
        return self.counts.get(word, 0)


class KeywordCompleter:
    """The baseline: editor keyword completion (Vim's Ctrl-N, fish-style).

    Completes the partial word before the cursor to the most frequent word seen so far in the
    reference text (e.g. the training text) and in the document before the cursor. Build the
    reference `WordIndex` once and share it: each completer keeps its document's counts apart.
    """

    def __init__(self, reference: "str | WordIndex" = ""):
        self.ref = reference if isinstance(reference, WordIndex) else WordIndex(reference)
        self._restart()

    def _restart(self) -> None:
        self.doc = WordIndex()  # the document's words; its score counts reference + document
        self.doc.score = lambda w: self.ref.counts.get(w, 0) + self.doc.counts.get(w, 0)
        self._text, self._pending = "", 0  # the document text counted, and where counting stopped

    def _count_document(self, context: str) -> None:
        if not context.startswith(self._text):  # a different document: start its counts again
            self._restart()
        # count every word that has ended (a word still being typed is not counted yet)
        for m in WORD.finditer(context, self._pending):
            if m.end() < len(context):
                self.doc.add(m.group(), self.doc.counts)
                self._pending = m.end()
        self._text = context

    def suggest(self, context: str) -> str:
        self._count_document(context)
        m = re.search(r"\w+$", context)
        if not m:
            return ""
        prefix = m.group()
        options = [w for w in (self.ref.best.get(prefix), self.doc.best.get(prefix)) if w]
        if not options:
            return ""
        word = max(options, key=self.doc.score)
        return word[len(prefix) :]


# --- latency --------------------------------------------------------------------------------


@dataclass
class Latency:
    typing_p50_ms: float  # suggest() as the context grows by one character
    typing_p99_ms: float
    jump_p50_ms: float  # first suggestion after a cursor jump (full recompute)
    jump_p99_ms: float


def measure_latency(completer, text: str, max_chars: int = 16, jumps: int = 200) -> Latency:
    """Time suggest() while typing `text` one character at a time, and after cursor jumps."""
    text = normalize_newlines(text)
    completer.reset()
    typing = []
    for i in range(1, len(text) + 1):
        t0 = time.perf_counter()
        completer.suggest(text[:i], max_chars=max_chars)
        typing.append(time.perf_counter() - t0)
    jump = []
    rng = np.random.default_rng(0)
    for i in rng.integers(1, max(2, len(text)), size=jumps):
        completer.reset()
        t0 = time.perf_counter()
        completer.suggest(text[: int(i)], max_chars=max_chars)
        jump.append(time.perf_counter() - t0)
    ms = lambda xs, q: float(np.percentile(xs, q) * 1000) if xs else float("nan")  # noqa: E731
    return Latency(ms(typing, 50), ms(typing, 99), ms(jump, 50), ms(jump, 99))
