"""The mixer's starting weights, learned on held-out text when a corpus memory is built.

Every document starts the online mixer (mixer.py) afresh, and it learns as the user types; from
MixerConfig.init a short note is over before it has learned much, and with adaptation off it
never learns at all. `learn_start` runs a Completer as the editor does over held-out text of the
kind the model is for (the corpus's held-out tails, or text given to `charcomplete memory
--mixer-text`), cut into pieces of about a sentence, each a fresh document, carrying
the mixer's weights from piece to piece at a low rate. The result is stored in the memory's file
(memory_file.py) and every document starts from it. Measured (bench/quality.py; the shipped
starts, learned on bench/mixer_text.py's text): KSR +0.9 to +2.4 % on plays, Python docs and
modern English (one sentence at a time: 0.279 -> 0.278), bpc as the editor runs 0 to -0.9 %,
without adaptation -0.6 to -4.2 % on every kind (docs/benchmarks.md).
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np

from charcomplete.mixer import MixerStart

MIN_PIECE = 40  # a piece (a fresh document) shorter than this is skipped
MAX_PIECE = 400  # and a longer one cut here: the start is for a document's first few hundred characters
MAX_CHARS = 200_000  # held-out characters learned from at most (about a minute on one core)
LR = 0.002  # the first layer's learning rate while learning the start (the second's: LR / 5)
_SPLIT = re.compile(r"(?<=[.!?])\s+")  # after a sentence (also splitting at blank lines: KSR on one-sentence documents 0.275 -> 0.266)


def pieces(texts: list[str], max_chars: int = MAX_CHARS, seed: int = 0) -> list[str]:
    """The pieces of `texts` learned from: split after sentence ends, those of
    MIN_PIECE characters or more kept (cut at MAX_PIECE), shuffled (fixed seed), up to max_chars."""
    out = [p[:MAX_PIECE] for t in texts for p in (x.strip() for x in _SPLIT.split(t)) if len(p) >= MIN_PIECE]
    np.random.default_rng(seed).shuffle(out)
    kept, n = [], 0
    for p in out:
        if n >= max_chars:
            break
        kept.append(p)
        n += len(p)
    return kept


def learn_start(completer, texts: list[str], max_chars: int = MAX_CHARS, lr: float = LR) -> MixerStart | None:
    """The mixer's starting weights learned by `completer` (a Completer with a corpus memory and
    adaptation on, no user history) typing the pieces of `texts`; None when they hold no piece.
    The completer is left with its own start, a fresh document."""
    mixer = completer.mixer
    if mixer is None or completer.adapt is None:
        raise ValueError("learning the mixer's start needs a Completer with a corpus memory, adapting")
    ps = pieces(texts, max_chars)
    if not ps:
        return None
    own_start, own_cfg = mixer.start, mixer.cfg
    mixer.cfg = replace(own_cfg, lr=lr, lr2=lr / 5)
    state = own_start
    try:
        for piece in ps:
            mixer.start = state  # new_document resets the mixer to it
            completer.new_document()
            for i in range(1, len(piece)):
                completer.observe(piece[:i])
                completer.probs(piece[:i])
            completer.observe(piece)  # learns from the last character
            state = mixer.state()
    finally:
        mixer.start, mixer.cfg = own_start, own_cfg
        completer.new_document()
    return state


def held_out_text(ids: np.ndarray, vocab, max_chars: int = MAX_CHARS) -> str:
    """Text of a corpus's held-out ids (its files' tails, concatenated) to learn from: all of it
    when short, else windows spread evenly over it (4 x max_chars in all: short pieces are skipped)."""
    want = 4 * max_chars
    if len(ids) <= want:
        return vocab.decode(np.asarray(ids))
    window = 4000
    starts = np.linspace(0, len(ids) - window, want // window).astype(np.int64)
    return "\n\n".join(vocab.decode(np.asarray(ids[s : s + window])) for s in starts)
