"""The match model: what followed the longest earlier occurrence of the text before the cursor
in the neighbouring files (issue 12) and in the document itself, as PAQ's match model does over
the data it has seen.

The n-gram caches see at most six characters back and the partial-word model one word; a line
that a neighbouring file already holds (an import, a decorator, a call with its arguments, a
sentence of shared documentation) is predicted from its last 8, 12, 16 or 24 characters here.
For each of those lengths a hash table maps the context to where it occurred (the position
after it, in the text indexed so far); a lookup checks the text itself, so two contexts that
share a slot only lose a match, never give a wrong one. The first text indexed into a slot
keeps it (the files come best first: the same kind of text, the nearest). Numpy; the keys of a
lookup in C where adapt.c is built (native.py).

    index = MatchIndex()
    base = index.append(text)             # the text of one neighbouring file
    index.index(base, text, 0, len(text))  # in pieces, as the model thread has time
    index.find(text_before_cursor)        # -> (the next character, its context's rank 1..4) or (None, 0)

Memory: the indexed text and, per length, a table of 2^TABLE_BITS int32 (8 MB each), allocated
with the first file (zeroed pages count towards the resident size only once written).

`DocumentMatch` is the same over the document: the text as opened (or first seen) and every
insertion after it, appended as it comes; the latest occurrence of a context wins (the nearest
one), and a match counts only while the document's n-gram counts still hold its last characters
and the character after, so text the user deleted stops being predicted. At most
DOC_MATCH_CHARS characters (16 MB as code points) and 3 tables (12, 16 and 24 characters) of 2^16
to 2^20 int32 (0.75 to 12 MB, growing with the document).
"""

from __future__ import annotations

from array import array
from zlib import crc32

import numpy as np

from charcomplete.memory import _finalise, context_keys, iter_window_hashes
from charcomplete.native import library

MATCH_LENGTHS = (8, 12, 16, 24)  # context lengths looked up, increasing (the longest found wins)
TABLE_BITS = 21  # each length's table has 2^TABLE_BITS slots (a neighbour text of up to 4 MB: some are shared)
FOUND_KEPT = 256  # MatchIndex.find's latest answers kept (typing click's core.py with its package beside it: 58 % asked again)
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
        self._found: dict[str, tuple[str | None, int]] = {}  # find's latest answers by context (the index as it is now)
        self.native = library("adapt")  # adapt.c's match_keys (native.py), or None: the keys in Python

    def __len__(self) -> int:
        return len(self.text)

    def clear(self) -> None:
        self.text, self._tables = "", None
        self._found = {}

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
        self._found = {}  # (answers from the index before this piece: asked again)
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
        found = self._found.get(tail)  # a suggestion's contexts are asked again on the next keys typed along it
        if found is None:
            found = self._found[tail] = self._find(tail)
            if len(self._found) > FOUND_KEPT:
                del self._found[next(iter(self._found))]  # the oldest
        return found

    def _find(self, tail: str) -> tuple[str | None, int]:
        native = self.native
        keys = native.match_keys(tail, self.lengths) if native is not None else context_keys([ord(c) for c in tail], self.lengths)
        for r in range(len(keys) - 1, -1, -1):
            L = self.lengths[r]
            p = int(self._tables[r][keys[r] & self.mask]) - 1
            if p >= L and self.text[p - L : p] == tail[-L:]:
                return self.text[p], r + 1
        return None, 0


DOC_MATCH_LENGTHS = MATCH_LENGTHS[1:]  # the document's contexts: from 12 characters (from 8, Python docs typed as fresh
#                                       documents lost 1.5 % of bpc; docs/benchmarks.md "The match model over the document")
DOC_MATCH_CHARS = 1 << 22  # the document's index keeps at most this many characters (4 M: a 1 MB file and 3 M more typed or pasted)
DOC_BITS = (16, 20)  # its tables' slots: 2^16 each for a short document, doubled as it grows (a slot per two characters) up to 2^20
REINDEX_STEP = 4096  # after the tables grew, characters of the older text indexed again per addition (~6 ms: a paste never holds a key up long)


class DocumentMatch:
    """The match model's index of the document: its text (UTF-32, appended: as opened, then each
    insertion after the characters before it) and, per length, a table from the CRC-32 of the
    context's bytes to the position after its latest occurrence. zlib computes the CRC in C: a key
    typed costs about 3 µs to index and 2 µs to look up (a hash loop in Python: 26 and 17)."""

    def __init__(self, lengths: tuple[int, ...] = DOC_MATCH_LENGTHS, max_chars: int = DOC_MATCH_CHARS):
        self.lengths = tuple(lengths)
        self.max_chars = max_chars
        self.clear()

    def __len__(self) -> int:
        return len(self._text) // 4

    def clear(self) -> None:
        self._text = bytearray()  # the text indexed, UTF-32-LE (a lone surrogate as its code point)
        self._tail = ""  # its last lengths[-1] characters
        self.bits = DOC_BITS[0]
        self._tables: list[array] | None = None  # per length: 2^bits int32, the position after the context + 1 (0: empty)
        self._old = self._redone = 0  # after the tables grew: the text before _old is indexed again, up to _redone so far

    def reserve(self, chars: int) -> None:
        """Size the tables for a document of `chars` characters before any is added (the buffer as
        opened), so that it is indexed once, not again at each doubling."""
        if self._tables is None:
            self.bits = max(DOC_BITS[0], min(DOC_BITS[1], (2 * chars - 1).bit_length()))

    def add(self, before: str, text: str) -> None:
        """Index `text`, which follows `before` in the document (its last characters are the
        context of `text`'s first ones: appended unindexed unless the index already ends with them)."""
        L = self.lengths[-1]
        if not text or len(self) + L + len(text) > self.max_chars:
            return  # (the bound: the rest is still counted by the document cache)
        ctx = before[-L:]
        if ctx and not self._tail.endswith(ctx):
            self._extend(ctx, index=False)
        grow = (len(self) + len(text)) * 2 > 1 << self.bits and self.bits < DOC_BITS[1]
        if grow:  # more slots: what is indexed so far goes into the new tables a step at a time, under the newer text
            self.bits = min(DOC_BITS[1], ((len(self) + len(text)) * 2 - 1).bit_length())
            self._tables, self._old, self._redone = None, len(self), 0
        if self._tables is None:
            self._tables = [array("i", bytes(4 << self.bits)) for _ in self.lengths]
        self._extend(text, index=True)
        if self._redone < self._old:
            self._reindex(REINDEX_STEP)

    def _extend(self, text: str, index: bool) -> None:
        """Append `text`; with `index`, point each length's table at its positions (the latest wins)."""
        data = text.encode("utf-32-le", "surrogatepass")
        if index:
            self._point(self._tail.encode("utf-32-le", "surrogatepass") + data, len(self._tail), len(self))
        self._text += data
        self._tail = (self._tail + text)[-self.lengths[-1] :]

    def _reindex(self, step: int) -> None:
        """Index the next `step` characters of the text held before the tables last grew."""
        lo, hi = self._redone, min(self._old, self._redone + step)
        first = max(0, lo - self.lengths[-1])  # (the context of its first characters)
        self._point(bytes(self._text[4 * first : 4 * hi]), lo - first, lo, under=self._old)
        self._redone = hi

    def _point(self, full: bytes, off: int, start: int, under: int = 0) -> None:
        """Point each length's table at the characters of `full` (UTF-32) from its `off`-th on, the
        first of them at position `start` (those before: their context); with `under`, only at
        slots empty or holding a position before `under` (re-indexing never covers newer text)."""
        mask = (1 << self.bits) - 1
        for L, table in zip(self.lengths, self._tables):
            for q in range(max(L, off), len(full) // 4):  # q: the character's index in `full`, its context the L before it
                slot = crc32(full[4 * (q - L) : 4 * q]) & mask
                if not under or table[slot] <= under:
                    table[slot] = start + q - off + 1

    def find(self, tail: str, counts: dict, order: int) -> tuple[str | None, int]:
        """(the character after the latest occurrence of the longest of the lengths' contexts of
        `tail`, its rank 1..len(lengths)), or (None, 0); a match whose last characters (`order`, or
        the context's when shorter) and next character `counts` (the document cache's table) no
        longer holds is passed over."""
        if self._tables is None:
            return None, 0
        mask, text = (1 << self.bits) - 1, self._text
        want = tail[-self.lengths[-1] :].encode("utf-32-le", "surrogatepass")
        for r in range(len(self.lengths) - 1, -1, -1):
            L = self.lengths[r]
            if len(want) < 4 * L:
                continue
            ctx = want[-4 * L :]
            p = self._tables[r][crc32(ctx) & mask] - 1
            if p >= L and text[4 * (p - L) : 4 * p] == ctx:
                ch = text[4 * p : 4 * p + 4].decode("utf-32-le", "surrogatepass")
                node = counts.get(tail[-min(order, L) :])
                if node is not None and node[1].get(ch):
                    return ch, r + 1
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
