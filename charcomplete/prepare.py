"""`charcomplete prepare`: tokenize a corpus once into memory-mapped id files.

A prepared folder holds:

    train.bin   the training ids of every file, concatenated (raw uint8/uint16/uint32)
    val.bin     the validation tails of every file, concatenated
    meta.json   format, vocabulary, dtype, sizes, per-file offsets, skipped files; written
                last, so a folder with a meta.json is complete

The result is exactly what `load_corpus` builds from the same text (same vocabulary, same
contiguous split: the last `val_fraction` of every file), but `load_prepared` maps the id
files instead of reading them, so training touches only the batches it uses.

Preparing streams: one file in memory at a time, in two passes (count the characters of
the training parts for the vocabulary, then encode and append). Memory is bounded by the
largest single file plus a fixed slice buffer, not by the corpus.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from charcomplete.corpus import Corpus, CorpusError, CorpusFiles, Document, expand_paths, no_text_in, read_document, split_index
from charcomplete.fileio import atomic_write
from charcomplete.vocab import Vocab, codepoints, fold_quotes

FORMAT = "charcomplete-prepared"
FORMAT_VERSION = 1
META = "meta.json"
TRAIN_BIN = "train.bin"
VAL_BIN = "val.bin"
SLICE_CHARS = 1 << 20  # characters counted or encoded at a time (bounds the numpy temporaries)


@dataclass
class PreparedFiles(CorpusFiles):
    """The files of a prepared corpus: paths and sizes only, the text stays on disk."""

    total_chars: int = 0  # characters of all files (train and validation parts)
    spans: list[dict] = field(default_factory=list)  # per file: path, train [start, end), val [start, end)

    @property
    def chars(self) -> int:
        return self.total_chars


def prepare_corpus(
    paths: list[str],
    out_dir: str | os.PathLike,
    val_fraction: float = 0.05,
    min_count: int = 1,
    force: bool = False,
    on_file: Callable[[str, int, int], None] | None = None,
) -> Corpus:
    """Tokenize the corpus at `paths` into `out_dir`; returns it loaded (memory-mapped).

    on_file(phase, done, total): called after each file of each pass ("count", "encode").
    
    (One function: the two passes share the folder, the vocabulary and the counts; read top to bottom.)
    """
    if not 0.0 < val_fraction < 1.0:
        raise CorpusError("val_fraction must be between 0 and 1")
    if not paths:
        raise CorpusError("no corpus given")
    out = Path(out_dir)
    _claim_folder(out, force)
    files = PreparedFiles(documents=[])
    own = Path(os.path.realpath(out))  # realpath, not resolve(): a symlink loop in the corpus raises there
    found = [f for f in expand_paths(list(paths)) if own not in Path(os.path.realpath(f)).parents]  # never our own output

    # pass 1: which files are text, their lengths, the character counts of the training parts
    counts = np.zeros(0x110000, dtype=np.int64)  # counts[c]: occurrences of code point c (all of Unicode: 9 MB)
    lengths = []  # (path, characters) of every readable file
    for i, f in enumerate(found):
        text = read_document(f, files)
        if text is not None:
            lengths.append((f, len(text)))
            for piece in _slices(text, 0, split_index(len(text), val_fraction)):
                n = np.bincount(codepoints(piece))
                counts[: len(n)] += n
        release_memory()
        if on_file:
            on_file("count", i + 1, len(found))
    if not lengths:
        raise CorpusError(no_text_in(list(paths), files))
    if sum(split_index(n, val_fraction) for _, n in lengths) < 2:
        raise CorpusError(f"the corpus is too small to train on ({files.summary()})")
    vocab = Vocab.from_counts({chr(c): int(counts[c]) for c in np.flatnonzero(counts)}, min_count=min_count)

    # pass 2: encode every file's training part into train.bin, its tail into val.bin
    dtype = np.dtype(vocab.dtype).newbyteorder("<")
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / META).unlink(missing_ok=True)  # (--force) from here on not a valid prepared corpus until done
    except OSError as e:
        raise CorpusError(f"cannot create {out} ({e.strerror or e})") from None
    parts = [out / (TRAIN_BIN + ".part"), out / (VAL_BIN + ".part")]
    try:
        n_train, n_val = _encode(lengths, vocab, val_fraction, dtype, parts, files, on_file)
    except BaseException as e:
        for p in parts:
            p.unlink(missing_ok=True)
        if isinstance(e, OSError):  # a read-only folder, a full disk
            raise CorpusError(f"cannot write to {out} ({e.strerror or e})") from None
        raise
    os.replace(parts[0], out / TRAIN_BIN)
    os.replace(parts[1], out / VAL_BIN)
    meta = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "vocab": vocab.to_json(), "dtype": dtype.str,
        "train_chars": n_train, "val_chars": n_val, "val_fraction": val_fraction, "min_count": min_count,
        "corpus": ", ".join(paths), "files": files.spans, "skipped_binary": files.skipped_binary,
        "skipped_encoding": files.skipped_encoding, "skipped_unreadable": files.skipped_unreadable,
    }
    atomic_write(out / META, json.dumps(meta, indent=1).encode())
    return load_prepared(out)


def _encode(lengths, vocab, val_fraction, dtype, parts, files, on_file) -> tuple[int, int]:
    """Pass 2: append every file's training ids to parts[0], its tail's ids to parts[1]."""
    n_train = n_val = 0
    with open(parts[0], "wb") as ft, open(parts[1], "wb") as fv:
        for i, (f, n) in enumerate(lengths):
            text = read_document(f, CorpusFiles(documents=[]))
            if text is None or len(text) != n:
                raise CorpusError(f"{f} changed while preparing; run prepare again")
            cut = split_index(n, val_fraction)
            span = {"path": str(f), "train": [n_train, n_train + cut], "val": [n_val, n_val + n - cut]}
            for piece in _slices(text, 0, cut):  # curly quotes as ASCII, as load_corpus
                vocab.encode(fold_quotes(piece)).astype(dtype).tofile(ft)
            for piece in _slices(text, cut, n):
                vocab.encode(fold_quotes(piece)).astype(dtype).tofile(fv)
            n_train, n_val = n_train + cut, n_val + n - cut
            files.documents.append(Document(str(f), ""))
            files.spans.append(span)
            release_memory()
            if on_file:
                on_file("encode", i + 1, len(lengths))
    return n_train, n_val


def load_prepared(folder: str | os.PathLike) -> Corpus:
    """The Corpus prepared in `folder`; train and val are read-only np.memmap views."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CorpusError(f"{folder}: no such folder (make one with: charcomplete prepare CORPUS -o {folder})")
    try:
        meta = json.loads((folder / META).read_text())
    except FileNotFoundError:
        raise CorpusError(f"{folder}: not a prepared corpus (no {META}; make one with: charcomplete prepare CORPUS -o {folder})") from None
    except (OSError, ValueError) as e:
        raise CorpusError(f"{folder}/{META}: unreadable ({type(e).__name__})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CorpusError(f"{folder}/{META}: not a charcomplete prepared corpus")
    if meta.get("format_version") != FORMAT_VERSION:
        raise CorpusError(f"{folder}: prepared by another charcomplete version (format {meta.get('format_version')}); prepare it again")
    try:
        vocab = Vocab.from_json(meta["vocab"])
        dtype = np.dtype(meta["dtype"])
        if dtype.kind != "u" or dtype.itemsize != np.dtype(vocab.dtype).itemsize:
            raise ValueError(f"dtype {dtype} does not fit the vocabulary")
        train = _map(folder / TRAIN_BIN, dtype, int(meta["train_chars"]))
        val = _map(folder / VAL_BIN, dtype, int(meta["val_chars"]))
        spans = list(meta["files"])
        files = PreparedFiles(
            documents=[Document(s["path"], "") for s in spans], skipped_binary=int(meta["skipped_binary"]),
            skipped_encoding=int(meta["skipped_encoding"]), skipped_unreadable=int(meta["skipped_unreadable"]),
            total_chars=len(train) + len(val), spans=spans,
        )
        description = f"{meta['corpus']} (prepared in {folder})"
    except (KeyError, TypeError, ValueError) as e:
        raise CorpusError(f"{folder}: corrupt prepared corpus ({type(e).__name__}: {e})") from None
    return Corpus(vocab=vocab, train=train, val=val, files=files, description=description)


def release_memory() -> None:
    """Hand freed memory back to the OS (glibc only; elsewhere nothing to do).

    A file's text is one allocation of tens of MB; once such a block is freed, glibc raises
    its mmap threshold and serves the next ones from the heap, which it keeps: without this,
    preparing 64 files of 16 MB peaked at 540 MB instead of 140 MB.
    """
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _load_libc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


_LIBC = _load_libc()


def _map(path: Path, dtype: np.dtype, n: int) -> np.ndarray:
    """(n,) read-only memory map of `path`, after checking its size."""
    if not path.exists():
        raise ValueError(f"{path.name} is missing")
    size = path.stat().st_size
    if size != n * dtype.itemsize:
        raise ValueError(f"{path.name} holds {size} bytes, expected {n * dtype.itemsize}")
    if n == 0:
        return np.zeros(0, dtype=dtype)  # an empty file cannot be mapped
    return np.memmap(path, dtype=dtype, mode="r", shape=(n,))


def _claim_folder(out: Path, force: bool) -> None:
    """Check that `out` may be written: new or empty, or a prepared corpus to replace (force)."""
    if out.exists() and not out.is_dir():
        raise CorpusError(f"{out} exists and is not a folder")
    if (out / META).exists():
        if not force:
            raise CorpusError(f"{out} already holds a prepared corpus; use --force to replace it")
    elif out.is_dir() and any(out.iterdir()):
        raise CorpusError(f"{out} is not empty; give a new or empty folder")


def _slices(text: str, start: int, end: int):
    """text[start:end] in pieces of at most SLICE_CHARS characters."""
    for a in range(start, end, SLICE_CHARS):
        yield text[a : min(a + SLICE_CHARS, end)]
