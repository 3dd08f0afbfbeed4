"""The match model: what followed the longest earlier occurrence of the text before the cursor
in the neighbouring files (issue 12), as PAQ's match model does over the data it has seen.

The n-gram caches see at most six characters back and the partial-word model one word; a line
that a neighbouring file already holds (an import, a decorator, a call with its arguments, a
sentence of shared documentation) is predicted from its last 8, 12, 16 or 24 characters here.
For each of those lengths a hash table maps the context to where it occurred (the position
after it, in the text indexed so far); a lookup checks the text itself, so two contexts that
share a slot only lose a match, never give a wrong one. The first text indexed into a slot
keeps it (the files come best first: the same kind of text, the nearest). Numpy only.

    index = MatchIndex()
    base = index.append(text)             # the text of one neighbouring file
    index.index(base, text, 0, len(text))  # in pieces, as the model thread has time
    index.find(text_before_cursor)        # -> (the next character, its context's rank 1..4) or (None, 0)

Memory: the indexed text and, per length, a table of 2^TABLE_BITS int32 (8 MB each), allocated
with the first file (zeroed pages count towards the resident size only once written).
"""

from __future__ import annotations

import numpy as np

from charcomplete.memory import _finalise, context_keys, iter_window_hashes

MATCH_LENGTHS = (8, 12, 16, 24)  # context lengths looked up, increasing (the longest found wins)
TABLE_BITS = 21  # each length's table has 2^TABLE_BITS slots (a neighbour text of up to 4 MB: some are shared)
MATCH_EPS = 0.1  # the expert's distribution: 1 - MATCH_EPS on the matched character, MATCH_EPS x the mixture below


class MatchIndex:
    """Hash tables from the contexts of static texts (the neighbouring files) to what followed."""

    def __init__(self, lengths: tuple[int, ...] = MATCH_LENGTHS, bits: int = TABLE_BITS):
        if not lengths or any(a >= b for a, b in zip(lengths, lengths[1:])) or lengths[0] < 1:
            raise ValueError("lengths must increase from at least 1")
        self.lengths = tuple(lengths)
        self.mask = (1 << bits) - 1
        self.bits = bits
        self.text = ""  # every text appended, one after the other
        self._tables: list[np.ndarray] | None = None  # per length: (2^bits,) int32, position after the context + 1 (0: empty)

    def __len__(self) -> int:
        return len(self.text)

    def clear(self) -> None:
        self.text, self._tables = "", None

    def append(self, text: str) -> int:
        """Keep `text` (not indexed yet: `index` does that, in pieces); its offset in self.text."""
        base = len(self.text)
        self.text += text
        return base

    def index(self, base: int, text: str, lo: int, hi: int) -> None:
        """Index the contexts that end at positions lo..hi-1 of `text` (appended at `base`): each
        length's context before the position, for the character at it."""
        hi = min(hi, len(text))
        if hi <= lo:
            return
        if self._tables is None:
            self._tables = [np.zeros(1 << self.bits, np.int32) for _ in self.lengths]
        start = max(0, lo - self.lengths[-1])
        piece = np.frombuffer(text[start:hi].encode("utf-32-le"), dtype=np.uint32).astype(np.int64)  # (n,) code points
        n = len(piece)
        for t, (L, h) in enumerate(iter_window_hashes(piece, self.lengths)):
            first = max(L, lo - start)  # positions with a whole context, from lo on
            if first >= n:
                continue
            slots = (_finalise(h[first:], L) & np.uint32(self.mask)).astype(np.int64)  # (m,)
            slots, at = np.unique(slots, return_index=True)  # the first position per slot
            table = self._tables[t]
            free = table[slots] == 0  # a slot keeps the first text indexed into it
            table[slots[free]] = base + start + first + at[free] + 1

    def find(self, tail: str) -> tuple[str | None, int]:
        """(the character that followed the longest of the lengths' contexts of `tail` found, its
        rank 1..len(lengths)), or (None, 0)."""
        if self._tables is None or len(tail) < self.lengths[0]:
            return None, 0
        tail = tail[-self.lengths[-1] :]
        keys = context_keys([ord(c) for c in tail], self.lengths)
        for r in range(len(keys) - 1, -1, -1):
            L = self.lengths[r]
            p = int(self._tables[r][keys[r] & self.mask]) - 1
            if p >= L and self.text[p - L : p] == tail[-L:]:
                return self.text[p], r + 1
        return None, 0


def match_expert(p: np.ndarray, i: int | None, flat: np.ndarray) -> np.ndarray:
    """The match model's distribution for the mixer: 1 - MATCH_EPS on id `i` over MATCH_EPS x `p`
    (the cache's mixture); without a match (`i` None) `flat`, a constant, which geometric mixing
    ignores whatever its weight (and which teaches that weight nothing)."""
    if i is None:
        return flat
    q = p * MATCH_EPS
    q[i] += 1.0 - MATCH_EPS
    return q
