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

from charcomplete.vocab import fold_quotes, normalize_newlines

WORD = re.compile(r"\w+")


# --- likelihood: bits per character, top-k accuracy -------------------------------------


def score_text(model, vocab, text: str, streams: int = 16, seq_len: int = 256, device: str = "cpu") -> dict:
    """bpc, top-1 and top-3 accuracy of `model` predicting every next character of `text` (the
    network alone, curly quotes read as ASCII as it learned them: vocab.fold_quotes), read as
    `streams` contiguous pieces in parallel (trainer.score_ids)."""
    from charcomplete.trainer import score_ids

    ids = vocab.encode(fold_quotes(text))
    n = len(ids)
    return score_ids(model, ids, max(1, min(streams, (n - 1) // 64 or 1)), seq_len, device)


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
    """KSR of `completer` as the editor runs it: it observes the text before the cursor, then
    suggests (with adaptation on, it learns the document as it is typed)."""
    completer.reset()

    def suggest(ctx: str) -> str:
        completer.observe(ctx)
        text = completer.suggest(ctx).text
        completer.learn_network()  # as the editor does in a pause after the ghost
        return text

    return keystroke_savings(suggest, text)


def sequential_bpc(completer, text: str) -> dict:
    """Bits per character of the Completer's own next-character distribution as the editor
    runs it: a fresh document, typed left to right, observed before each prediction (with
    adaptation on, the document cache learns as it goes). The first character is not scored."""
    text = normalize_newlines(text)
    ids = completer.vocab.encode(text)
    completer.new_document()
    nll = 0.0
    for i in range(1, len(text)):
        completer.observe(text[:i])
        nll -= math.log(max(float(completer.probs(text[:i])[int(ids[i])]), 1e-12))
        completer.learn_network()
    return {"bpc": nll / max(1, len(text) - 1) / math.log(2), "chars": max(0, len(text) - 1)}


def completion_metrics(completer, texts: list[str], latency_chars: int, jumps: int = 200) -> dict:
    """Keystroke savings and precision (ghosts taken / shown) of `completer` over `texts`, each a
    fresh document, and its suggestion latency typing the first `latency_chars` characters."""
    counts = []
    for t in texts:
        completer.new_document()
        counts.append(completer_ksr(completer, t))
    chars = sum(c["chars"] for c in counts)
    shown = sum(c["shown"] for c in counts)
    typed = "".join(texts)[:latency_chars]
    lat = measure_latency(completer, typed, jumps=jumps) if typed else None
    return {
        "ksr": 1.0 - sum(c["keystrokes"] for c in counts) / chars if chars else None, "ksr_chars": chars,
        "accepted": sum(c["accepted"] for c in counts), "shown": shown,
        "precision": sum(c["accepted"] for c in counts) / shown if shown else None,
        "latency_p50_ms": lat.typing_p50_ms if lat else None, "latency_p99_ms": lat.typing_p99_ms if lat else None,
        "jump_p50_ms": lat.jump_p50_ms if lat else None, "jump_p99_ms": lat.jump_p99_ms if lat else None,
    }


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
    """Time observe() + suggest() (what the editor does per key) while typing `text` one character
    at a time, and after cursor jumps."""
    text = normalize_newlines(text)
    completer.reset()
    typing = []
    for i in range(1, len(text) + 1):
        t0 = time.perf_counter()
        completer.observe(text[:i])
        completer.suggest(text[:i], max_chars=max_chars)
        typing.append(time.perf_counter() - t0)
    jump = []
    rng = np.random.default_rng(0)
    for i in rng.integers(1, max(2, len(text)), size=jumps):
        completer.reset()
        t0 = time.perf_counter()
        completer.observe(text[: int(i)])
        completer.suggest(text[: int(i)], max_chars=max_chars)
        jump.append(time.perf_counter() - t0)
    ms = lambda xs, q: float(np.percentile(xs, q) * 1000) if xs else float("nan")  # noqa: E731
    return Latency(ms(typing, 50), ms(typing, 99), ms(jump, 50), ms(jump, 99))
