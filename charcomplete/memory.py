"""The corpus memory: a static character model of the training corpus, shipped beside a model.

It owns the pruned n-gram count tables of the training text, their file format (safetensors
through `safetensors.numpy`, JSON metadata, validated by hand before use, memory-mapped) and
the memory's own next-character distribution. Numpy only: the editor runs without torch.

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

import json
import mmap
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from charcomplete.errors import CheckpointError
from charcomplete.vocab import Vocab

FORMAT = "charcomplete-memory"
FORMAT_VERSION = 1
MAX_HEADER = 1 << 20  # a safetensors header above 1 MiB is refused as corrupt or hostile
MAX_FILE = 1 << 31  # so is a file above 2 GiB
MAX_ORDER = 64  # longest context a memory may have
_P = 0x9E3779B97F4A7C15  # the hash polynomial's base (odd)
_M1, _M2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB  # splitmix64's finaliser constants
_MASK = (1 << 64) - 1


class MemoryFileError(CheckpointError):
    """A memory file that cannot be used; its message is one line saying why."""


@dataclass
class MemoryConfig:
    """How a corpus memory is built and how it predicts (chosen by measurement: bench/memory.py)."""

    orders: tuple[int, ...] = (1, 2, 3, 4, 6, 8, 12, 20)  # context lengths with a table, increasing
    min_count: tuple[int, ...] = (1, 1, 2, 2, 3, 4, 4, 4)  # per order: keep contexts seen at least this often (never falling)
    min_pair_count: int = 1  # keep a next character of a context only when seen at least this often (1: all)
    discount: float = 0.6  # d: subtracted from every count (Kneser-Ney / Pitman-Yor discount)
    strength: float = 0.5  # b: pseudo-count of the shorter context; larger trusts long contexts later
    cutoff: float = 0.02  # stop walking down once the mass left for shorter contexts is below this (speed; still sums to 1)

    def validate(self) -> None:
        o, m = tuple(self.orders), tuple(self.min_count)
        if not o or len(o) != len(m) or any(type(k) is not int for k in o + m):
            raise ValueError("orders and min_count must be equally long tuples of integers")
        if o[0] < 1 or o[-1] > MAX_ORDER or any(a >= b for a, b in zip(o, o[1:])):
            raise ValueError(f"orders must increase from 1 to at most {MAX_ORDER}")
        if m[0] < 1 or any(a > b for a, b in zip(m, m[1:])):
            raise ValueError("min_count must be >= 1 and never fall with the order")
        if type(self.min_pair_count) is not int or self.min_pair_count < 1:
            raise ValueError("min_pair_count must be an integer >= 1")
        for name in ("discount", "strength", "cutoff"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not np.isfinite(v):
                raise ValueError(f"{name} must be a number")
        if not (0 <= self.discount < 1 and 0 < self.strength <= 1e6 and 0 <= self.cutoff < 1):
            raise ValueError("need 0 <= discount < 1, 0 < strength, 0 <= cutoff < 1")


# --- hashing (the same numbers vectorised at build time and per query) ---------------------


def _finalise(h, order: int):
    """32-bit key of a context hash `h` (a Python int, or a uint64 array) for `order`."""
    if isinstance(h, np.ndarray):
        with np.errstate(over="ignore"):
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


# --- building ------------------------------------------------------------------------------


@dataclass
class _Table:
    keys: np.ndarray  # (C,) uint32 sorted context keys
    nsym: np.ndarray  # (C,) uint8 distinct next characters kept per context
    syms: np.ndarray  # (P,) uint8/uint16 next-character ids, context by context
    cnts: np.ndarray  # (P,) uint8 their (scaled) counts
    starts: np.ndarray = field(default=None)  # (C + 1,) int64 where each context's entries begin (derived)

    def __post_init__(self):
        if self.starts is None:
            self.starts = np.zeros(len(self.keys) + 1, np.int64)
            np.cumsum(self.nsym, out=self.starts[1:])


def _count_order(ids: np.ndarray, h: np.ndarray, order: int, min_count: int, min_pair: int, sym_dtype) -> _Table:
    """The pruned table of one order from `h` (N,) uint64: the context hash before each position."""
    valid = slice(order, len(ids))  # positions with a full context before them
    keys = _finalise(h[valid], order).astype(np.uint64)
    pair = (keys << np.uint64(24)) | ids[valid].astype(np.uint64)  # (context key, next id) in one sortable number
    pair, counts = np.unique(pair, return_counts=True)  # sorted by context key, then next id
    ctx = (pair >> np.uint64(24)).astype(np.uint32)
    sym = (pair & np.uint64(0xFFFFFF)).astype(np.int64)
    first = np.flatnonzero(np.r_[True, ctx[1:] != ctx[:-1]])  # each context's first pair
    total = np.add.reduceat(counts, first)  # (C,) how often each context was seen
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


def build_memory(text: str, vocab: Vocab, cfg: MemoryConfig | None = None, description: str = "") -> "CorpusMemory":
    """The memory of `text` (its training text only: never what it will be evaluated on)."""
    return build_memory_ids(vocab.encode(text), vocab, cfg, description)


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
    h = np.zeros(len(ids), np.uint64)  # (N,) hash of the k characters before each position
    power, k, tables = 1, 0, []
    for order, m in zip(cfg.orders, cfg.min_count):
        with np.errstate(over="ignore"):
            while k < order:  # h[i] += (ids[i - 1 - k] + 1) * P^k
                h[k + 1 :] += (ids[: len(ids) - k - 1] + 1).astype(np.uint64) * np.uint64(power)
                power = (power * _P) & _MASK
                k += 1
        tables.append(_count_order(ids, h, order, m, cfg.min_pair_count, sym_dtype))
    meta = {"chars": len(ids), "description": description, "built": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    return CorpusMemory(cfg, vocab, unigram.astype(np.float32), tables, meta)


# --- the model -----------------------------------------------------------------------------


class CorpusMemory:
    """Pruned n-gram tables of a corpus and the next-character distribution they give."""

    def __init__(self, cfg: MemoryConfig, vocab: Vocab, unigram: np.ndarray, tables: list[_Table], corpus: dict):
        self.cfg = cfg
        self.vocab = vocab
        self.corpus = corpus  # where the text came from: {"chars", "description", "built"}
        self.tables = tables  # one per order in cfg.orders
        V = len(vocab)
        # order 0: the unigram, add-one/2 smoothed so that every id (even <unk>) keeps some mass
        u = unigram.astype(np.float64) + 0.5
        self.unigram_counts = unigram  # (V,) float32 as stored
        self.p0 = u / u.sum()  # (V,) float64
        self.V = V
        self.orders = tuple(cfg.orders)
        self.max_order = self.orders[-1]

    def __repr__(self) -> str:
        return f"CorpusMemory(orders={self.orders}, contexts={self.contexts():,}, bytes={self.nbytes():,})"

    def contexts(self) -> int:
        return sum(len(t.keys) for t in self.tables)

    def nbytes(self) -> int:
        """Bytes of the stored arrays (about the file's size)."""
        return sum(t.keys.nbytes + t.nsym.nbytes + t.syms.nbytes + t.cnts.nbytes for t in self.tables) + self.unigram_counts.nbytes

    def match(self, ids_tail) -> list[tuple[int, int]]:
        """[(order index, context index)] of the contexts of `ids_tail` found, shortest first."""
        out = []
        for j, key in enumerate(iter_context_keys(ids_tail, self.orders)):
            keys = self.tables[j].keys
            i = int(keys.searchsorted(np.uint32(key)))
            if i == len(keys) or keys[i] != key:
                break  # a longer context cannot be stored either (min counts never fall)
            out.append((j, i))
        return out

    def predict(self, ids_tail) -> tuple[np.ndarray, dict]:
        """(probs (V,) float64 summing to 1, info) for the character after `ids_tail` (ids, its
        last max_order matter). info: "order" the longest matched context's length (0: none),
        "level" its index in cfg.orders (-1: none), "count" how often it was seen (scaled)."""
        cfg = self.cfg
        hits = self.match(ids_tail[-self.max_order :])
        d, b = cfg.discount, cfg.strength
        p = np.zeros(self.V)  # (V,) the mass given by the matched contexts
        scale, seen = 1.0, 0
        for n, (j, i) in enumerate(reversed(hits)):
            t = self.tables[j]
            lo, hi = t.starts[i], t.starts[i + 1]
            cnt = t.cnts[lo:hi].astype(np.float64)
            total = float(cnt.sum())
            if n == 0:
                seen = int(total)
            denom = total + b
            p[t.syms[lo:hi]] += (scale / denom) * (cnt - d)
            scale *= (b + d * (hi - lo)) / denom
            if scale < cfg.cutoff:
                break
        p += scale * self.p0
        top = self.orders[hits[-1][0]] if hits else 0
        return p, {"order": top, "level": hits[-1][0] if hits else -1, "count": seen}

    def predict_text(self, tail: str) -> tuple[np.ndarray, dict]:
        """`predict` for the text before the cursor (its last max_order characters matter)."""
        index = self.vocab._index
        return self.predict([index.get(ch, 0) for ch in tail[-self.max_order :]])  # a dict beats numpy on 20 characters

    # --- the file ------------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> None:
        """Write a safetensors file (atomically: a temp file in the same folder, then a rename)."""
        from safetensors.numpy import save_file

        tensors = {"unigram": np.ascontiguousarray(self.unigram_counts, np.float32)}
        for j, t in enumerate(self.tables):
            for name in ("keys", "nsym", "syms", "cnts"):
                tensors[f"{name}.{j}"] = np.ascontiguousarray(getattr(t, name))
        meta = {
            "format": FORMAT,
            "format_version": str(FORMAT_VERSION),
            "config": json.dumps(asdict(self.cfg)),
            "vocab": self.vocab.to_json(),
            "corpus": json.dumps(self.corpus),
        }
        path = Path(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            save_file(tensors, str(tmp), metadata=meta)
            os.chmod(tmp, 0o644)  # data, readable like a checkpoint
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


# --- loading without trusting the file -------------------------------------------------------

_DTYPES = {"U8": np.uint8, "U16": np.uint16, "U32": np.uint32, "F32": np.float32}


def _header(data, size: int) -> tuple[dict, int]:
    """(header dict, where the data begins) of a safetensors file, checked for shape."""
    if size < 8:
        raise MemoryFileError("truncated (no safetensors header)")
    n = int.from_bytes(data[:8], "little")
    if n > MAX_HEADER or 8 + n > size:
        raise MemoryFileError(f"not a memory file (header of {n} bytes)")
    try:
        header = json.loads(bytes(data[8 : 8 + n]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MemoryFileError("not a memory file (unreadable header)") from None
    if not isinstance(header, dict):
        raise MemoryFileError("not a memory file (header is not an object)")
    return header, 8 + n


def _arrays(header: dict, data, begin: int, size: int) -> dict[str, np.ndarray]:
    """The tensors of `header` as read-only arrays over `data` (the mapped file), bounds checked."""
    out, spans = {}, []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = _DTYPES[entry["dtype"]]
            shape, (lo, hi) = entry["shape"], entry["data_offsets"]
            ok = (type(shape) is list and len(shape) == 1 and type(shape[0]) is int and shape[0] >= 0
                  and type(lo) is int and type(hi) is int and 0 <= lo <= hi <= size - begin
                  and hi - lo == shape[0] * np.dtype(dtype).itemsize)
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            raise MemoryFileError(f"bad tensor entry {str(name)[:40]!r}")
        spans.append((lo, hi))
        out[name] = np.frombuffer(data, dtype=dtype, count=shape[0], offset=begin + lo)
    spans.sort()
    if any(a[1] > b[0] for a, b in zip(spans, spans[1:])):
        raise MemoryFileError("overlapping tensors")
    return out


def _config(meta: dict) -> tuple[MemoryConfig, Vocab, dict]:
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise MemoryFileError("not a charcomplete memory file")
    if meta.get("format_version") != str(FORMAT_VERSION):
        raise MemoryFileError(f"unsupported memory format version {str(meta.get('format_version'))[:20]!r}")
    try:
        raw = json.loads(meta["config"])
        if not isinstance(raw, dict) or set(raw) != set(MemoryConfig.__dataclass_fields__):
            raise ValueError("unexpected config fields")
        raw["orders"], raw["min_count"] = tuple(raw["orders"]), tuple(raw["min_count"])
        cfg = MemoryConfig(**raw)
        cfg.validate()
        vocab = Vocab.from_json(meta["vocab"])
        corpus = json.loads(meta["corpus"])
        if not isinstance(corpus, dict):
            raise ValueError("corpus description is not an object")
    except (KeyError, TypeError, ValueError, RecursionError) as e:
        raise MemoryFileError(f"bad metadata ({str(e).splitlines()[0][:80] if str(e) else type(e).__name__})") from None
    return cfg, vocab, corpus


def _table(arrays: dict, j: int, V: int) -> _Table:
    try:
        keys, nsym, syms, cnts = (arrays[f"{name}.{j}"] for name in ("keys", "nsym", "syms", "cnts"))
    except KeyError:
        raise MemoryFileError(f"table {j} is missing") from None
    want = np.uint8 if V <= 256 else np.uint16
    if keys.dtype != np.uint32 or nsym.dtype != np.uint8 or cnts.dtype != np.uint8 or syms.dtype != want:
        raise MemoryFileError(f"table {j} has the wrong types")
    if len(keys) != len(nsym) or len(syms) != len(cnts):
        raise MemoryFileError(f"table {j} has mismatched lengths")
    t = _Table(keys, nsym, syms, cnts)
    if t.starts[-1] != len(syms):
        raise MemoryFileError(f"table {j}: entry counts do not add up")
    if len(keys) and (np.any(keys[1:] <= keys[:-1]) or nsym.min() == 0):
        raise MemoryFileError(f"table {j}: keys not strictly sorted or an empty context")
    if len(syms) and (int(syms.max()) >= V or cnts.min() == 0):
        raise MemoryFileError(f"table {j}: a character id or count out of range")
    return t


def load_memory(path: str | os.PathLike) -> CorpusMemory:
    """A memory file, memory-mapped, after checking everything in it; MemoryFileError (one line) if unusable."""
    path = Path(path)
    try:
        if not path.is_file():
            raise MemoryFileError(f"{path}: not a regular file" if path.exists() else f"{path}: no such file")
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_FILE:
                raise MemoryFileError(f"{path}: larger than {MAX_FILE >> 30} GiB")
            if size == 0:
                raise MemoryFileError(f"{path}: empty file")
            data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        header, begin = _header(data, size)
        cfg, vocab, corpus = _config(header.get("__metadata__"))
        arrays = _arrays(header, data, begin, size)
        V = len(vocab)
        names = {"unigram"} | {f"{n}.{j}" for j in range(len(cfg.orders)) for n in ("keys", "nsym", "syms", "cnts")}
        if set(arrays) != names:
            raise MemoryFileError("unexpected or missing tensors")
        unigram = arrays["unigram"]
        if unigram.dtype != np.float32 or len(unigram) != V or not np.all(np.isfinite(unigram)) or unigram.min() < 0:
            raise MemoryFileError("bad unigram counts")
        tables = [_table(arrays, j, V) for j in range(len(cfg.orders))]
    except MemoryFileError as e:
        msg = str(e)
        raise MemoryFileError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None
    except (OSError, ValueError) as e:
        raise MemoryFileError(f"{path}: cannot read ({e.__class__.__name__}: {str(e).splitlines()[0][:80] if str(e) else ''})") from None
    return CorpusMemory(cfg, vocab, unigram, tables, corpus)
