"""Character n-gram counts: how often each character followed each context of a few
characters. The document cache and the user's history are tables of these; the document's
also count each character after the partial word before it (words.py).

Also two string helpers the document cache uses to find what is new in a context.
"""

from __future__ import annotations

from charcomplete.words import count_words

FORMAT = "charcomplete-adapt"  # the history file's format name (history.py writes these tables)
FORMAT_VERSION = 1


class CharCounts:
    """Counts of the next character after every context of `min_order`..`max_order` characters."""

    def __init__(self, min_order: int, max_order: int, words: bool = True):
        self.min_order, self.max_order = min_order, max_order
        self.table: dict[str, list] = {}  # context -> [total, {char: count}]
        # partial word -> [total, {char: count}] (words.py): the document's and the neighbours' (None: not counted, as in the history)
        self.words: dict[str, list] | None = {} if words else None

    def __len__(self) -> int:
        return len(self.table)

    def add(self, text: str, start: int, end: int | None = None) -> None:
        """Learn the characters text[start:end], each after the characters before it in `text`."""
        table, lo, hi = self.table, self.min_order, self.max_order
        for i in range(start, len(text) if end is None else end):
            ch = text[i]
            for k in range(lo, min(hi, i) + 1):
                ctx = text[i - k : i]
                node = table.get(ctx)
                if node is None:
                    table[ctx] = [1, {ch: 1}]
                else:
                    node[0] += 1
                    counts = node[1]
                    counts[ch] = counts.get(ch, 0) + 1
        if self.words is not None:
            count_words(self.words, text, start, len(text) if end is None else end)

    def update(self, text: str, start: int, end: int | None = None, sign: int = 1) -> None:
        """`add` (sign 1) or `remove` (sign -1) the characters text[start:end], each after the
        characters before it in `text`; the same counts as `add`, faster on long spans (the
        n-grams are counted in C, then merged once each). Removing keeps every total equal to
        the sum of its counts and drops counts, and contexts, that reach zero; what was never
        added is not removed (counts never go below zero)."""
        from collections import Counter

        end = len(text) if end is None else end
        if end <= start:
            return
        table = self.table
        for k in range(self.min_order, self.max_order + 1):
            lo = start - k if start >= k else 0  # n-grams of k + 1 characters ending in [start, end)
            if end - lo < k + 1:
                continue
            span = text[lo:end]
            for gram, n in Counter(zip(*(span[j:] for j in range(k + 1)))).items():
                ctx, ch = "".join(gram[:-1]), gram[-1]
                node = table.get(ctx)
                if sign > 0:
                    if node is None:
                        table[ctx] = [n, {ch: n}]
                    else:
                        node[0] += n
                        counts = node[1]
                        counts[ch] = counts.get(ch, 0) + n
                elif node is not None:
                    counts = node[1]
                    have = counts.get(ch, 0)
                    n = min(n, have)
                    if have - n:
                        counts[ch] = have - n
                    elif have:
                        del counts[ch]
                    node[0] -= n
                    if not counts:
                        del table[ctx]
        if self.words is not None:
            count_words(self.words, text, start, end, sign)

    def remove(self, text: str, start: int, end: int | None = None) -> None:
        """Forget the characters text[start:end] (each after the characters before it in `text`),
        as they were added: the inverse of `add`."""
        self.update(text, start, end, -1)

    def copy(self) -> "CharCounts":
        out = CharCounts(self.min_order, self.max_order, self.words is not None)
        out.table = {ctx: [total, dict(counts)] for ctx, (total, counts) in self.table.items()}
        if self.words is not None:
            out.words = {w: [total, dict(counts)] for w, (total, counts) in self.words.items()}
        return out

    def clear(self) -> None:
        """Forget every count, in place (an AdaptiveModel may hold these tables)."""
        self.table.clear()
        if self.words is not None:
            self.words.clear()

    def merged(self, other: "CharCounts", max_contexts: int) -> "CharCounts":
        """This table plus `other`, at most `max_contexts` contexts: `other`'s (the newer) kept
        first, then the most used. (It shares unchanged nodes with this table: for writing.)"""
        out = CharCounts(self.min_order, self.max_order, words=False)
        out.table = dict(self.table)
        for ctx, (total, counts) in other.table.items():
            old = out.table.get(ctx)
            if old is None:
                out.table[ctx] = [total, counts]
            else:
                merged = dict(old[1])
                for ch, n in counts.items():
                    merged[ch] = merged.get(ch, 0) + n
                out.table[ctx] = [old[0] + total, merged]
        if len(out.table) > max_contexts:
            keep = sorted(out.table, key=lambda c: (c in other.table, out.table[c][0]), reverse=True)[:max_contexts]
            out.table = {c: out.table[c] for c in keep}
        return out

    def to_json(self) -> dict:
        return {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "min_order": self.min_order, "max_order": self.max_order,
            "contexts": {ctx: ["".join(counts), list(counts.values())] for ctx, (_, counts) in self.table.items()},
        }

    @classmethod
    def from_json(cls, data) -> "CharCounts":
        """Validated: anything unexpected raises ValueError."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("not a charcomplete history file")
        if not isinstance(data.get("format_version"), int) or data["format_version"] > FORMAT_VERSION:
            raise ValueError(f"unsupported format version {data.get('format_version')!r}")
        lo, hi, contexts = data.get("min_order"), data.get("max_order"), data.get("contexts")
        if not (isinstance(lo, int) and isinstance(hi, int) and 0 <= lo <= hi <= 64 and isinstance(contexts, dict)):
            raise ValueError("bad orders or contexts")
        out = cls(lo, hi, words=False)
        for ctx, entry in contexts.items():
            try:
                chars, counts = entry
                node, total = dict(zip(chars, counts)), sum(counts)
                ok = (type(chars) is str and type(counts) is list and type(total) is int and 0 < len(chars) == len(node)
                      == len(counts) and min(counts) > 0 and len(ctx) <= hi and total < 2**53)
            except (TypeError, ValueError, OverflowError):
                ok = False
            if not ok:
                raise ValueError(f"bad entry for context {ctx!r}")
            out.table[ctx] = [total, node]
        return out


def align(text: str, learned: str, anchor: int = 32, tries: int = 8) -> tuple[int, int, int]:
    """(t0, l0, m): text[t0:t0 + m] == learned[l0:l0 + m], the longest such run found where
    text's start lies in `learned` (a window that slid forward, a move back) or `learned`'s start
    lies in `text` (a context that grew past it); (0, len(learned), 0) when they share nothing."""
    m = common_prefix_len(text, learned)  # the same start: an edit, or a move back
    best = (0, 0, m) if m else (0, len(learned), 0)
    for a, b, swap in ((text, learned, False), (learned, text, True)):
        head = a[: min(anchor, len(a) // 2 + 1)]
        j = b.find(head, 1)
        for _ in range(tries):
            if j < 0:
                break
            m = common_prefix_len(a, b[j:])
            if m > best[2]:
                best = (j, 0, m) if swap else (0, j, m)
            j = b.find(head, j + 1)
        if best[2]:
            return best
    return best


def common_prefix_len(a: str, b: str) -> int:
    """Length of the longest common prefix of `a` and `b` (O(n) in C: a bisection over slices)."""
    lo, hi = 0, min(len(a), len(b))  # a[:lo] == b[:lo]; the answer is at most hi
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a.startswith(b[lo:mid], lo):
            lo = mid
        else:
            hi = mid - 1
    return lo
