"""The corpus memory's file: safetensors (through `safetensors.numpy`) with JSON metadata,
written atomically and read without trusting it — the header, every array's dtype, shape and
range are checked before use, and the arrays are memory-mapped. Never pickle. It also holds
what the file stores: the memory's settings (`MemoryConfig`) and its tables (`_Table`).
"""

from __future__ import annotations

import json
import mmap
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from charcomplete.errors import CheckpointError
from charcomplete.fileio import name_cut
from charcomplete.mixer import MixerStart
from charcomplete.vocab import Vocab

FORMAT = "charcomplete-memory"
FORMAT_VERSION = 1
MAX_HEADER = 1 << 20  # a safetensors header above 1 MiB is refused as corrupt or hostile
MAX_FILE = 1 << 31  # so is a file above 2 GiB
MAX_ORDER = 64  # longest context a memory may have


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




def write_memory(path: str | os.PathLike, cfg: MemoryConfig, vocab: Vocab, unigram_counts: np.ndarray, tables: list, corpus: dict,
                 words=None, mixer: tuple[MixerStart, dict] | None = None) -> None:
    """Write a safetensors file (atomically: a temp file in the same folder, then a rename). The
    tables are named by their index in cfg.orders, the partial words' table (when given) by "w",
    the mixer's starting weights (when given, with a description) "mixer.0" ... and "mixer.second"."""
    from safetensors.numpy import save_file

    tensors = {"unigram": np.ascontiguousarray(unigram_counts, np.float32)}
    named = list(enumerate(tables)) + ([("w", words)] if words is not None else [])
    for j, t in named:
        for name in ("keys", "nsym", "syms", "cnts"):
            tensors[f"{name}.{j}"] = np.ascontiguousarray(getattr(t, name))
    meta = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "config": json.dumps(asdict(cfg)),
        "vocab": vocab.to_json(),
        "corpus": json.dumps(corpus),
    }
    if mixer is not None:
        start, info = mixer
        for s, w in enumerate(start.weights):
            tensors[f"mixer.{s}"] = np.ascontiguousarray(w, np.float32).ravel()  # (K_s * M,), row by row
        tensors["mixer.second"] = np.ascontiguousarray(start.second, np.float32)
        meta["mixer"] = json.dumps({**info, "key_sizes": [len(w) for w in start.weights], "n_inputs": start.weights[0].shape[1]})
    path = Path(path)
    tmp = path.with_name(f".{name_cut(path.name)}.{os.getpid()}.tmp")
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


def _table(arrays: dict, j: int | str, V: int) -> _Table:
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


def read_memory(path: str | os.PathLike) -> tuple:
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
        word_names = {f"{n}.w" for n in ("keys", "nsym", "syms", "cnts")}  # the partial words' table: newer files only
        mixer, mixer_names = _mixer_start(header["__metadata__"], arrays)  # the mixer's starting weights: newer files only
        if set(arrays) - mixer_names not in (names, names | word_names):
            raise MemoryFileError("unexpected or missing tensors")
        unigram = arrays["unigram"]
        if unigram.dtype != np.float32 or len(unigram) != V or not np.all(np.isfinite(unigram)) or unigram.min() < 0:
            raise MemoryFileError("bad unigram counts")
        tables = [_table(arrays, j, V) for j in range(len(cfg.orders))]
        words = _table(arrays, "w", V) if "keys.w" in arrays else None
    except MemoryFileError as e:
        msg = str(e)
        raise MemoryFileError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None
    except (OSError, ValueError) as e:
        raise MemoryFileError(f"{path}: cannot read ({e.__class__.__name__}: {str(e).splitlines()[0][:80] if str(e) else ''})") from None
    return cfg, vocab, unigram, tables, corpus, words, mixer  # memory.CorpusMemory(*these)


MAX_WEIGHT = 1e3  # a stored mixer weight beyond this is refused as corrupt (the mixer keeps its weights in [-2, 4])


def _mixer_start(meta: dict, arrays: dict) -> tuple[tuple[MixerStart, dict] | None, set[str]]:
    """(the mixer's starting weights and their description, or None; the tensor names they use),
    checked against the metadata's shapes."""
    if "mixer" not in meta:
        return None, set()
    try:
        info = json.loads(meta["mixer"])
        sizes, m = info["key_sizes"], info["n_inputs"]
        ok = (type(sizes) is list and 0 < len(sizes) <= 16 and all(type(k) is int and 0 < k <= 4096 for k in sizes)
              and type(m) is int and 0 < m <= 64)
    except (TypeError, ValueError, KeyError, RecursionError):
        ok = False
    if not ok:
        raise MemoryFileError("bad mixer metadata")
    names = {f"mixer.{s}" for s in range(len(sizes))} | {"mixer.second"}
    if not names <= set(arrays):
        raise MemoryFileError("mixer weights missing")
    weights, second = [arrays[f"mixer.{s}"] for s in range(len(sizes))], arrays["mixer.second"]
    for a, n in [*zip(weights, [k * m for k in sizes]), (second, len(sizes))]:
        if a.dtype != np.float32 or len(a) != n or not np.all(np.abs(a) <= MAX_WEIGHT):  # (NaN fails it too)
            raise MemoryFileError("bad mixer weights")
    start = MixerStart([w.reshape(k, m).astype(np.float64) for w, k in zip(weights, sizes)], second.astype(np.float64))
    return (start, {k: v for k, v in info.items() if k not in ("key_sizes", "n_inputs")}), names
