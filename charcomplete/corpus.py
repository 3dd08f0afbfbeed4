"""Reading training text: files, folders (recursive) and globs; a contiguous split.

The last `val_fraction` of every file is validation, the rest is training text: the
validation text is never seen in training (no random overlapping windows). Ids are held
as compact numpy arrays (uint8 for up to 256 characters), not Python lists.
"""

from __future__ import annotations

import errno
import glob
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from charcomplete.errors import CorpusError
from charcomplete.fileio import SNIFF_BYTES, looks_binary
from charcomplete.vocab import Vocab, codepoints, fold_quotes, normalize_newlines

MAX_FILE_BYTES = 1 << 30  # a corpus file above 1 GiB is skipped (and counted) before it is read: split it
# bytes that no text holds in bulk: C0 controls and DEL, less tab, newline, form feed and carriage return
CONTROL_BYTES = bytes(c for c in [*range(32), 127] if c not in b"\t\n\f\r")
REPETITIVE = 0.5  # a file (of 1,000 characters or more) that is more than this much one character is flagged


class DegenerateText(ValueError):
    """A file that decodes as text but is mostly control characters: not worth training on."""


@dataclass
class Document:
    path: str  # where the text came from
    text: str  # its text, newlines normalised


@dataclass
class CorpusFiles:
    documents: list[Document]  # the readable text files, in a stable order
    skipped_binary: int = 0  # files with a NUL byte in their first 8 KB
    skipped_encoding: int = 0  # files that are not valid UTF-8
    skipped_unreadable: int = 0  # files we may not read
    skipped_degenerate: int = 0  # files that are mostly control characters
    skipped_large: int = 0  # files over MAX_FILE_BYTES (never read)
    repetitive: int = 0  # files kept that are more than half one character (a warning in the summary)

    @property
    def chars(self) -> int:
        return sum(len(d.text) for d in self.documents)

    def summary(self) -> str:
        s = f"{len(self.documents)} files, {self.chars:,} characters"
        if self.skipped():
            s += " (skipped: " + self.skipped() + ")"
        if self.repetitive:
            s += f" (warning: {self.repetitive} more than half one character)"
        return s

    def skipped(self) -> str:
        """What was skipped and why ("2 binary, 1 not UTF-8"), or ""."""
        skipped = []
        if self.skipped_binary:
            skipped.append(f"{self.skipped_binary} binary")
        if self.skipped_encoding:
            skipped.append(f"{self.skipped_encoding} not UTF-8")
        if self.skipped_unreadable:
            skipped.append(f"{self.skipped_unreadable} unreadable")
        if self.skipped_degenerate:
            skipped.append(f"{self.skipped_degenerate} mostly control characters")
        if self.skipped_large:
            skipped.append(f"{self.skipped_large} over {MAX_FILE_BYTES >> 30} GiB")
        return ", ".join(skipped)


def read_text_file(path: str | os.PathLike, encoding: str = "utf-8") -> str:
    """The text of one file; raises ValueError('binary'), DegenerateText (a ValueError),
    UnicodeDecodeError or OSError (EFBIG: over MAX_FILE_BYTES).

    The head is sniffed and the size checked before the body is read: a 2 GB sparse file is
    refused at once as binary (or too large), not after reading it all (issue 15)."""
    if not os.path.isfile(path):  # a FIFO would block forever, a device (/dev/zero) never ends
        raise OSError(errno.EINVAL, "not a regular file", str(path))
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES)
        if looks_binary(head):
            raise ValueError("binary file (NUL byte)")
        size = os.fstat(f.fileno()).st_size
        if size > MAX_FILE_BYTES:
            raise OSError(errno.EFBIG, f"larger than {MAX_FILE_BYTES >> 30} GiB: split it", str(path))
        data = head + f.read()
    if b"\x00" in data:
        raise ValueError("binary file (NUL byte)")  # past the head too: text never holds one
    if len(data) - len(data.translate(None, CONTROL_BYTES)) > len(data) // 2:
        raise DegenerateText("mostly control characters")
    text = data.decode(encoding)
    return text[1:] if text.startswith("\ufeff") else text


def _not_a_file(p: str) -> str:
    """Why `p`, which exists as a name, is neither a file nor a folder we can walk."""
    if os.path.islink(p):
        try:
            os.stat(p)
        except OSError as e:
            if e.errno == errno.ELOOP:
                return f"{p}: a symlink loop"
            if e.errno in (errno.EACCES, errno.EPERM):
                return f"{p}: permission denied"
            return f"{p}: a symlink to a missing file ({os.readlink(p)})"
    return f"{p}: not a regular file"


def _missing(p: str) -> str:
    """Why `p` is not there: missing, or behind a folder we may not enter (os.path.exists says
    False for both)."""
    try:
        os.lstat(p)
    except PermissionError:
        return f"{p}: permission denied"
    except OSError:
        pass
    return f"corpus path not found: {p}"


def _glob(pattern: str) -> list[str]:
    """glob.glob(pattern, recursive=True), but a `**` never goes into a link to a folder (pathlib's
    rule): with two `ln -s . l` in the folder it ran for ever. Hidden names match only when the
    pattern names them, as in glob."""
    parts = Path(pattern).parts
    if "**" not in parts:  # `a**b.txt` is two `*` to glob (and an error to pathlib)
        return glob.glob(pattern)
    first = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    base, rest = Path(*parts[:first]) if first else Path("."), parts[first:]
    hidden = any(part.startswith(".") for part in rest)
    return [str(m) for m in base.glob("/".join(rest))
            if hidden or not any(part.startswith(".") for part in m.relative_to(base).parts)]


def expand_paths(paths: list[str], _matched: bool = False) -> list[Path]:
    """Files named by `paths`: files as given, folders walked recursively, globs expanded.

    Hidden files and folders (a name starting with '.') inside a folder are skipped. A name given
    that is not a file or folder (/dev/urandom, a FIFO, a symlink loop) is an error; one found in a
    folder or by a glob is kept, to be skipped and counted as unreadable by `read_document`
    (one `ln -s loop loop` must not reject a whole corpus).
    """
    found: list[Path] = []
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found += [Path(root) / f for f in sorted(files) if not f.startswith(".")]
        elif os.path.isfile(p) or (_matched and os.path.lexists(p)):
            found.append(Path(p))
        elif glob.has_magic(p) and not _matched:
            matches = sorted(_glob(p))
            if not matches:
                raise CorpusError(f"no files match {p!r}")
            found += expand_paths(matches, _matched=True)
        elif os.path.lexists(p):
            raise CorpusError(_not_a_file(p))
        else:
            raise CorpusError(_missing(p))
    seen, unique = set(), []
    for f in found:
        try:
            key = os.path.realpath(f)
        except OSError:  # a link it may not read (/proc/1/cwd): kept, read_document counts it
            key = os.path.abspath(f)
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def no_text_in(paths: list[str], files: CorpusFiles) -> str:
    """The error for a corpus with no text file: what was given (an empty folder says so) and what was found."""
    named = ", ".join(str(p) for p in paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
    return f"no text files in the corpus {named} ({files.summary()})"


def read_corpus(paths: list[str]) -> CorpusFiles:
    """Read every text file under `paths`, counting the ones skipped."""
    if not paths:
        raise CorpusError("no corpus given (use --corpus PATH)")
    out = CorpusFiles(documents=[])
    for f in expand_paths(list(paths)):
        text = read_document(f, out)
        if text is not None:
            out.documents.append(Document(str(f), text))
    return out


def read_document(path: Path, files: CorpusFiles) -> str | None:
    """The text of one file, newlines normalised; None (counted in `files`) when skipped."""
    try:
        text = normalize_newlines(read_text_file(path))
    except ValueError as e:
        if isinstance(e, UnicodeDecodeError):
            files.skipped_encoding += 1
        elif isinstance(e, DegenerateText):
            files.skipped_degenerate += 1
        else:
            files.skipped_binary += 1
    except OSError as e:
        if e.errno == errno.EFBIG:
            files.skipped_large += 1
        else:
            files.skipped_unreadable += 1
    else:
        if is_repetitive(text):
            files.repetitive += 1
        return text
    return None


def is_repetitive(text: str) -> bool:
    """More than REPETITIVE of `text` (1,000 characters or more) is one character: kept, but warned
    about (a file of NULs or spaces trains to a meaningless 0.000 bpc)."""
    if len(text) < 1000:
        return False
    sample = text[:4096] + text[len(text) // 2 : len(text) // 2 + 4096] + text[-4096:]
    candidates = [c for c, _ in Counter(sample).most_common(3)]  # the one character must be common here too
    return any(text.count(c) > REPETITIVE * len(text) for c in candidates)


def char_counts(texts) -> dict[str, int]:
    """How often each character occurs in `texts` (an iterable of strings)."""
    counts: dict[str, int] = {}
    for text in texts:
        cps, n = np.unique(codepoints(text), return_counts=True)
        for c, k in zip(cps.tolist(), n.tolist()):
            counts[chr(c)] = counts.get(chr(c), 0) + k
    return counts


def split_index(n: int, val_fraction: float) -> int:
    """Where a text of `n` characters splits: [0, i) trains, [i, n) validates."""
    return n - int(round(n * val_fraction))


def split_text(text: str, val_fraction: float) -> tuple[str, str]:
    """(train, validation): the validation part is the contiguous tail of `text`."""
    i = split_index(len(text), val_fraction)
    return text[:i], text[i:]


@dataclass
class Corpus:
    """Token ids ready for training: train and validation, never overlapping."""

    vocab: Vocab  # the characters the model knows
    train: np.ndarray  # (N_train,) ids of the training parts, files concatenated
    val: np.ndarray  # (N_val,) ids of the validation tails, files concatenated
    files: CorpusFiles  # what was read and skipped
    description: str  # the corpus paths, for the checkpoint's metadata

    def summary(self) -> str:
        return (
            f"{self.files.summary()}; vocabulary {len(self.vocab)}; "
            f"train {len(self.train):,} chars, validation {len(self.val):,} chars"
        )


def load_corpus(
    paths: list[str],
    val_fraction: float = 0.05,
    vocab: Vocab | None = None,
    min_count: int = 1,
) -> Corpus:
    """Read, split and encode a corpus. `vocab` given (fine-tuning): keep it, unknown -> <unk>."""
    if not 0.0 < val_fraction < 1.0:
        raise CorpusError("val_fraction must be between 0 and 1")
    files = read_corpus(paths)
    if not files.documents:
        raise CorpusError(no_text_in(paths, files))
    parts = [split_text(d.text, val_fraction) for d in files.documents]
    if sum(len(t) for t, _ in parts) < 2:
        raise CorpusError(f"the corpus is too small to train on ({files.summary()})")
    if vocab is None:
        vocab = Vocab.from_counts(char_counts(t for t, _ in parts), min_count=min_count)
    # the vocabulary keeps the curly quotes the text has; the network reads and learns them as ASCII (vocab.CURLY)
    train = np.concatenate([vocab.encode(fold_quotes(t)) for t, _ in parts])
    val = np.concatenate([vocab.encode(fold_quotes(v)) for _, v in parts])
    return Corpus(
        vocab=vocab,
        train=train,
        val=val,
        files=files,
        description=", ".join(paths),
    )


def stream_batches(ids: np.ndarray, batch_size: int, seq_len: int):
    """Split `ids` into `batch_size` contiguous streams; yield (x, y) chunks of `seq_len`.

    Chunk k of every stream follows chunk k-1, so the recurrent state carries over.
    x, y: int64 numpy arrays (B, T), y is x shifted by one character.
    """
    streams = as_streams(ids, batch_size)  # (B, L)
    length = streams.shape[1] - 1
    for start in range(0, length, seq_len):
        end = min(start + seq_len, length)
        yield streams[:, start:end].astype(np.int64), streams[:, start + 1 : end + 1].astype(np.int64)


def as_streams(ids: np.ndarray, batch_size: int) -> np.ndarray:
    """(B, L) view of `ids` cut into B equal contiguous streams (the remainder dropped)."""
    length = len(ids) // batch_size
    return ids[: length * batch_size].reshape(batch_size, length)


def steps_per_epoch(n: int, batch_size: int, seq_len: int) -> int:
    """Number of chunks `stream_batches` yields for `n` ids."""
    length = n // batch_size - 1
    return max(0, -(-length // seq_len))
