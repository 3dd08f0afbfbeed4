"""The corpus memory: a static character model of the training corpus, shipped beside a model.

It owns the pruned n-gram count tables of the training text and the memory's own
next-character distribution; its file (safetensors, validated before use, memory-mapped) is
memory_file.py's. Numpy only: the editor runs without torch.

For every order k in `MemoryConfig.orders` (1..4, then sparser up to 20) a table holds the
contexts of k characters seen at least `min_count[k]` times in the corpus and, per context, the
characters that followed it with their counts:

    keys_k  (C_k,) uint32   hash of the context, sorted (looked up with searchsorted)
    nsym_k  (C_k,) uint8    how many distinct next characters the context keeps
    syms_k  (P_k,) uint8/16 the next characters' ids, context by context
    cnts_k  (P_k,) uint8    their counts, scaled down per context so the largest is <= 255

The context hash is a polynomial in the ids read backwards from the cursor (so the hash of
order k + 1 extends the one of order k by one term), finalised per order to 32 bits. Two
contexts may share a hash (their counts merge) and an unseen context may hit a stored one by
chance (about C_k / 2^32 per lookup): both are rare and only cost a little probability. Because
the minimum counts never fall with the order, a context's suffixes are stored whenever it is,
so a lookup walks up the orders and stops at the first miss.

The prediction blends the matched orders long-to-short like the document cache
(charcomplete/adapt.py), in the interpolated Kneser-Ney / Pitman-Yor way, down to the corpus's
unigram distribution:

    p_k(c) = max(n_k(c) - d, 0) / (N_k + b)  +  (b + d T_k) / (N_k + b) * p_{k-1}(c)

`predict` also says how long the longest matched context is and how often it was seen, so that
a mixer (charcomplete/mixer.py) can choose its weights by them.
"""

from __future__ import annotations

import os
import time
from bisect import bisect_left

import numpy as np

from charcomplete.memory_file import MAX_ORDER, MemoryConfig, MemoryFileError, _Table, read_memory, write_memory  # noqa: F401 (MemoryFileError, MAX_ORDER: the memory's API)
from charcomplete.vocab import Vocab, fold_quotes
from charcomplete.words import WORD_MAX, is_word

_P = 0x9E3779B97F4A7C15  # the hash polynomial's base (odd)
_M1, _M2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB  # splitmix64's finaliser constants
_MASK = (1 << 64) - 1
RECENT = 512  # predict_text answers kept (each (V,) float64: 1.5 KB for 189 ids)
WORD_SALT = 128  # a partial word of k characters is hashed as the context of order WORD_SALT + k
SHORT_ORDER = 4  # match keeps its lookups of contexts this short (a few thousand of them: they recur on almost every key)
SHORT_KEPT = 20_000  # at most this many (about 3 MB; then it starts over)


def _finalise(h, order):
    """32-bit key of a context hash `h` (a Python int, or a uint64 array) for `order` (an int, or
    with an array `h` an array of them)."""
    if isinstance(h, np.ndarray):
        with np.errstate(over="ignore"):
            if isinstance(order, np.ndarray):  # one order per key (the word table's lengths)
                x = h ^ (order.astype(np.uint64) * np.uint64(0xD6E8FEB86659FD93))
            else:
                x = h ^ np.uint64((order * 0xD6E8FEB86659FD93) & _MASK)
            x = (x ^ (x >> np.uint64(30))) * np.uint64(_M1)
            x = (x ^ (x >> np.uint64(27))) * np.uint64(_M2)
            return ((x ^ (x >> np.uint64(31))) >> np.uint64(32)).astype(np.uint32)
    x = h ^ ((order * 0xD6E8FEB86659FD93) & _MASK)
    x = ((x ^ (x >> 30)) * _M1) & _MASK
    x = ((x ^ (x >> 27)) * _M2) & _MASK
    return (x ^ (x >> 31)) >> 32


def context_keys(ids_tail, orders: tuple[int, ...]) -> list[int]:
    """The 32-bit keys of the contexts of each order in `orders` that `ids_tail` is long enough for."""
    return list(iter_context_keys(ids_tail, orders))


def iter_context_keys(ids_tail, orders: tuple[int, ...]):
    """`context_keys`, one at a time, shortest first (a lookup that misses stops asking)."""
    h, power, k = 0, 1, 0
    n = len(ids_tail)
    for order in orders:
        if order > n:
            break
        while k < order:  # extend by the character order k back from the cursor
            h = (h + (int(ids_tail[n - 1 - k]) + 1) * power) & _MASK
            power = (power * _P) & _MASK
            k += 1
        yield _finalise(h, order)


def _find(keys, key: int) -> int:
    """The index of `key` in the sorted `keys` (a memoryview), or -1."""
    i = bisect_left(keys, key)
    return i if i < len(keys) and keys[i] == key else -1


# --- building ------------------------------------------------------------------------------


def iter_window_hashes(ids: np.ndarray, orders: tuple[int, ...]):
    """(order, h) for each order in `orders` (increasing): h (N,) uint64, at each position i >= order
    the hash of the `order` ids before it, as iter_context_keys computes it before finalising
    (below the order: a partial hash). One array, updated in place from one order to the next."""
    n = len(ids)
    h = np.zeros(n, np.uint64)  # (N,) hash of the k ids before each position
    power, k = 1, 0
    for order in orders:
        with np.errstate(over="ignore"):
            while k < order:  # h[i] += (ids[i - 1 - k] + 1) * P^k
                if k + 1 < n:  # (a text shorter than the order has no such context)
                    h[k + 1 :] += (ids[: n - k - 1] + 1).astype(np.uint64) * np.uint64(power)
                power = (power * _P) & _MASK
                k += 1
        yield order, h


def _count_order(ids: np.ndarray, h: np.ndarray, order: int, min_count: int, min_pair: int, sym_dtype) -> _Table:
    """The pruned table of one order from `h` (N,) uint64: the context hash before each position."""
    valid = slice(order, len(ids))  # positions with a full context before them
    return _table_from_pairs(_finalise(h[valid], order), ids[valid], min_count, min_pair, sym_dtype)


def _table_from_pairs(keys: np.ndarray, nxt: np.ndarray, min_count: int, min_pair: int, sym_dtype) -> _Table:
    """The pruned table of the (context key (n,) uint32, next id (n,)) pairs seen in a corpus."""
    pair = (keys.astype(np.uint64) << np.uint64(24)) | nxt.astype(np.uint64)  # (context key, next id) in one sortable number
    pair, counts = np.unique(pair, return_counts=True)  # sorted by context key, then next id
    ctx = (pair >> np.uint64(24)).astype(np.uint32)
    sym = (pair & np.uint64(0xFFFFFF)).astype(np.int64)
    first = np.flatnonzero(np.r_[True, ctx[1:] != ctx[:-1]])  # each context's first pair
    total = np.add.reduceat(counts, first) if len(ctx) else counts  # (C,) how often each context was seen
    keep_ctx = np.repeat(total >= min_count, np.diff(np.r_[first, len(ctx)]))
    keep = keep_ctx & (counts >= min_pair)
    ctx, sym, counts = ctx[keep], sym[keep], counts[keep]
    if len(ctx) == 0:
        return _Table(np.zeros(0, np.uint32), np.zeros(0, np.uint8), np.zeros(0, sym_dtype), np.zeros(0, np.uint8))
    first = np.flatnonzero(np.r_[True, ctx[1:] != ctx[:-1]])
    nsym = np.diff(np.r_[first, len(ctx)])
    top = np.maximum.reduceat(counts, first)  # (C,) largest count per context
    scale = np.repeat(np.minimum(1.0, 255.0 / top), nsym)
    cnts = np.clip(np.rint(counts * scale), 1, 255).astype(np.uint8)
    if nsym.max() > 255:  # more distinct next characters than a uint8 counts: keep the 255 most frequent
        raise ValueError("a context with more than 255 distinct next characters (vocabulary too large)")
    return _Table(ctx[first], nsym.astype(np.uint8), sym.astype(sym_dtype), cnts)


def _word_table(ids: np.ndarray, vocab: Vocab, sym_dtype) -> _Table:
    """The table of partial words (words.py): for every position after 1..WORD_MAX characters of a
    word, the hash of those characters (the n-gram polynomial, salted by WORD_SALT + length) and
    the next id. Every prefix is kept."""
    N = len(ids)
    word = np.array([len(t) == 1 and is_word(t) for t in (vocab.token(i) for i in range(len(vocab)))])[ids]  # (N,)
    at = np.arange(N)
    run = at - np.maximum.accumulate(np.where(word, -1, at))  # (N,) length of the word run ending at each position
    length = np.r_[0, run[:-1]][:N]  # (N,) the partial word before each position
    h = np.zeros(N, np.uint64)
    power = 1
    with np.errstate(over="ignore"):
        for k in range(min(WORD_MAX, N - 1)):  # h[i] += (ids[i - 1 - k] + 1) * P^k where the word before i is longer than k
            term = (ids[: N - k - 1] + 1).astype(np.uint64) * np.uint64(power)
            h[k + 1 :] += np.where(length[k + 1 :] > k, term, np.uint64(0))
            power = (power * _P) & _MASK
    valid = (length >= 1) & (length <= WORD_MAX)
    return _table_from_pairs(_finalise(h[valid], WORD_SALT + length[valid]), ids[valid], 1, 1, sym_dtype)


def build_memory(text: str, vocab: Vocab, cfg: MemoryConfig | None = None, description: str = "") -> "CorpusMemory":
    """The memory of `text` (its training text only: never what it will be evaluated on), its
    curly quotes ASCII ones, as the Completer asks it (vocab.CURLY)."""
    return build_memory_ids(vocab.encode(fold_quotes(text)), vocab, cfg, description)


def build_memory_ids(ids: np.ndarray, vocab: Vocab, cfg: MemoryConfig | None = None, description: str = "") -> "CorpusMemory":
    """The memory of the text whose ids (in `vocab`) are `ids`, e.g. a Corpus's training ids."""
    cfg = cfg or MemoryConfig()
    cfg.validate()
    V = len(vocab)
    if V > 65536:
        raise ValueError("vocabulary too large for a memory (more than 65536 ids)")
    sym_dtype = np.uint8 if V <= 256 else np.uint16
    ids = np.asarray(ids).astype(np.int64)  # (N,)
    unigram = np.bincount(ids, minlength=V).astype(np.float64)  # (V,) order-0 counts
    tables = [_count_order(ids, h, order, m, cfg.min_pair_count, sym_dtype)
              for (order, h), m in zip(iter_window_hashes(ids, cfg.orders), cfg.min_count)]
    words = _word_table(ids, vocab, sym_dtype)
    meta = {"chars": len(ids), "description": description, "built": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    return CorpusMemory(cfg, vocab, unigram.astype(np.float32), tables, meta, words)


# --- the model -----------------------------------------------------------------------------


class CorpusMemory:
    """Pruned n-gram tables of a corpus and the next-character distribution they give."""

    def __init__(self, cfg: MemoryConfig, vocab: Vocab, unigram: np.ndarray, tables: list[_Table], corpus: dict,
                 words: _Table | None = None, mixer: tuple | None = None):
        self.cfg = cfg
        self.vocab = vocab
        self.corpus = corpus  # where the text came from: {"chars", "description", "built"}
        self.tables = tables  # one per order in cfg.orders
        self.words = words  # the partial words' table (words.py; None in a memory built before it)
        self.mixer = mixer  # (mixer.MixerStart, {"text": what it was learned on, ...}) or None: the mixer starts at its init
        V = len(vocab)
        # order 0: the unigram, add-one/2 smoothed so that every id (even <unk>) keeps some mass
        u = unigram.astype(np.float64) + 0.5
        self.unigram_counts = unigram  # (V,) float32 as stored
        self.p0 = u / u.sum()  # (V,) float64
        self.V = V
        self.orders = tuple(cfg.orders)
        self.max_order = self.orders[-1]
        self._recent: dict[str, tuple[np.ndarray, dict]] = {}  # predict_text's latest answers by tail (a suggestion's path is asked again on the next key)
        self._recent_words: dict[str, tuple | None] = {}  # word_counts' latest answers by partial word
        self._views: list | None = None  # per order (keys, starts, syms, cnts) as memoryviews: match's and predict's lookups
        self._short: dict[tuple[int, int], int] = {}  # (key, order index) -> context index or -1: match's lookups of the orders <= SHORT_ORDER
        self._native = False  # native.NativeMemory once asked for (None: the Python code answers)

    def __repr__(self) -> str:
        return f"CorpusMemory(orders={self.orders}, contexts={self.contexts():,}, bytes={self.nbytes():,})"

    def _all_tables(self) -> list[_Table]:
        return self.tables + ([self.words] if self.words is not None else [])

    def contexts(self) -> int:
        return sum(len(t.keys) for t in self._all_tables())

    def nbytes(self) -> int:
        """Bytes of the stored arrays (about the file's size)."""
        return sum(t.keys.nbytes + t.nsym.nbytes + t.syms.nbytes + t.cnts.nbytes for t in self._all_tables()) + self.unigram_counts.nbytes

    def match(self, ids_tail) -> list[tuple[int, int]]:
        """[(order index, context index)] of the contexts of `ids_tail` found, shortest first."""
        # the keys bisected in memoryviews (Python ints, no numpy scalars): up to 8 lookups for
        # every character a suggestion asks about
        views = self._views or self._make_views()
        short = self._short
        out = []
        for j, key in enumerate(iter_context_keys(ids_tail, self.orders)):
            if self.orders[j] <= SHORT_ORDER:  # the short contexts recur on almost every key: their lookups are kept
                i = short.get((key, j))
                if i is None:
                    if len(short) >= SHORT_KEPT:
                        short.clear()
                    i = short[key, j] = _find(views[j][0], key)
            else:
                i = _find(views[j][0], key)
            if i < 0:
                break  # a longer context cannot be stored either (min counts never fall)
            out.append((j, i))
        return out

    def _make_views(self) -> list:
        self._views = [(memoryview(t.keys), memoryview(t.starts), memoryview(t.syms), memoryview(t.cnts)) for t in self.tables]
        return self._views

    def predict(self, ids_tail) -> tuple[np.ndarray, dict]:
        """(probs (V,) float64 summing to 1, info) for the character after `ids_tail` (ids, its
        last max_order matter). info: "order" the longest matched context's length (0: none),
        "level" its index in cfg.orders (-1: none), "count" how often it was seen (scaled).
        Answered by the compiled memory.c when it could be built (native.py), else by `predict_python`."""
        if self._native is False:
            try:
                from charcomplete.native import NativeMemory
            except ImportError:  # a Python without ctypes
                self._native = None
            else:
                self._native = NativeMemory.create(self)
        if self._native is not None:
            return self._native.predict(ids_tail)
        return self.predict_python(ids_tail)

    def predict_python(self, ids_tail) -> tuple[np.ndarray, dict]:
        """`predict` in Python: what memory.c does, the same numbers (tests/test_native.py)."""
        cfg = self.cfg
        hits = self.match(ids_tail[-self.max_order :])
        views = self._views
        d, b = cfg.discount, cfg.strength
        p = None  # (V,) the mass given by the matched contexts, once a level with many next characters needs it
        few = {}  # id -> mass, the levels with a few next characters before that (each id's sum in the same order)
        scale, seen = 1.0, 0
        for n, (j, i) in enumerate(reversed(hits)):
            _, starts, syms, cnts = views[j]
            lo, hi = starts[i], starts[i + 1]
            if hi - lo <= 8:  # the long contexts: a few next characters, cheaper in Python than in numpy
                cnt = cnts[lo:hi].tolist()
                total = float(sum(cnt))
                w = scale / (total + b)
                if p is None:
                    for sym, c in zip(syms[lo:hi].tolist(), cnt):
                        few[sym] = few.get(sym, 0.0) + w * (c - d)
                else:
                    for sym, c in zip(syms[lo:hi].tolist(), cnt):
                        p[sym] += w * (c - d)
            else:
                if p is None:
                    p = np.zeros(self.V)
                    for sym, v in few.items():
                        p[sym] = v
                t = self.tables[j]
                cnt = t.cnts[lo:hi].astype(np.float64)
                total = float(cnt.sum())
                p[t.syms[lo:hi]] += (scale / (total + b)) * (cnt - d)
            if n == 0:
                seen = int(total)
            denom = total + b
            scale *= (b + d * (hi - lo)) / denom
            if scale < cfg.cutoff:
                break
        if p is None:  # the unigram's share, then the few ids' (a + b == b + a: the same numbers)
            p = self.p0 * scale
            for sym, v in few.items():
                p[sym] += v
        else:
            p += scale * self.p0
        top = self.orders[hits[-1][0]] if hits else 0
        return p, {"order": top, "level": hits[-1][0] if hits else -1, "count": seen}

    def predict_text(self, tail: str) -> tuple[np.ndarray, dict]:
        """`predict` for the text before the cursor (its last max_order characters matter). The
        memory never changes, so the latest RECENT answers are kept (read-only) and given again."""
        tail = tail[-self.max_order :]
        hit = self._recent.get(tail)
        if hit is None:
            index = self.vocab._index
            hit = self.predict([index.get(ch, 0) for ch in tail])  # a dict beats numpy on 20 characters
            hit[0].flags.writeable = False
            if len(self._recent) >= RECENT:
                del self._recent[next(iter(self._recent))]  # the oldest
            self._recent[tail] = hit
        return hit

    def word_counts(self, prefix: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(next ids, their scaled counts) after the partial word `prefix` in the corpus (words.py),
        or None (not seen, or no word table). The latest RECENT answers are kept."""
        if self.words is None:
            return None
        if prefix in self._recent_words:
            return self._recent_words[prefix]
        index, h, power = self.vocab._index, 0, 1
        for ch in reversed(prefix):
            h = (h + (index.get(ch, 0) + 1) * power) & _MASK
            power = (power * _P) & _MASK
        key, t = _finalise(h, WORD_SALT + len(prefix)), self.words
        i = int(t.keys.searchsorted(np.uint32(key)))
        hit = None
        if i < len(t.keys) and t.keys[i] == key:
            lo, hi = t.starts[i], t.starts[i + 1]
            hit = (t.syms[lo:hi], t.cnts[lo:hi])
        if len(self._recent_words) >= RECENT:
            del self._recent_words[next(iter(self._recent_words))]
        self._recent_words[prefix] = hit
        return hit

    def save(self, path: str | os.PathLike) -> None:
        """Write the memory's file (memory_file.py: safetensors, atomically)."""
        write_memory(path, self.cfg, self.vocab, self.unigram_counts, self.tables, self.corpus, self.words, self.mixer)


def load_memory(path: str | os.PathLike) -> "CorpusMemory":
    """The memory in the file at `path`, validated and memory-mapped (memory_file.py);
    MemoryFileError, one line, for anything else. Its C lookups (native.py) are readied now, with
    the loading (the editor's is in a worker), rather than on the first question."""
    memory = CorpusMemory(*read_memory(path))
    memory.predict([])
    return memory
