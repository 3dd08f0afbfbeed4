"""Vocabulary: characters <-> ids, with `<unk>` (id 0) for anything unseen.

Encoding goes through numpy on Unicode code points, so 16 MB of text encodes in
well under a second and any string encodes: an unseen character becomes `<unk>`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

UNK = "<unk>"


def normalize_newlines(text: str) -> str:
    """`\\r\\n` (and a lone `\\r`) become `\\n`, as the models see text."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def codepoints(text: str) -> np.ndarray:
    """The code points of `text` as a uint32 array (one per character)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


@dataclass(frozen=True)
class Vocab:
    """The known characters, sorted by code point; id 0 is `<unk>`, char i is id i + 1."""

    chars: tuple[str, ...]  # known characters, sorted by code point, each exactly one char
    _cps: np.ndarray = field(init=False, repr=False, compare=False)  # sorted code points
    _index: dict = field(init=False, repr=False, compare=False)  # char -> id

    def __post_init__(self) -> None:
        chars = tuple(self.chars)
        if any(len(c) != 1 for c in chars) or len(set(chars)) != len(chars):
            raise ValueError("vocabulary must be distinct single characters")
        chars = tuple(sorted(chars, key=ord))
        object.__setattr__(self, "chars", chars)
        object.__setattr__(self, "_cps", np.array([ord(c) for c in chars], dtype=np.uint32))
        object.__setattr__(self, "_index", {c: i + 1 for i, c in enumerate(chars)})

    @classmethod
    def build(cls, text: str, min_count: int = 1) -> "Vocab":
        """The characters of `text` seen at least `min_count` times."""
        cps, counts = np.unique(codepoints(normalize_newlines(text)), return_counts=True)
        return cls.from_counts({chr(int(c)): int(k) for c, k in zip(cps, counts)}, min_count)

    @classmethod
    def from_counts(cls, counts: dict[str, int], min_count: int = 1) -> "Vocab":
        """The characters counted at least `min_count` times, and the ASCII quote of each curly one
        kept (what the networks read it as: CURLY)."""
        kept = {c for c, k in counts.items() if k >= min_count}
        return cls(tuple(kept | {CURLY[c] for c in kept if c in CURLY}))

    def __len__(self) -> int:
        return len(self.chars) + 1

    @property
    def size(self) -> int:
        """Number of ids, `<unk>` included."""
        return len(self)

    @property
    def dtype(self) -> np.dtype:
        """The smallest unsigned integer type that holds every id."""
        return np.dtype(np.uint8) if len(self) <= 256 else np.dtype(np.uint16 if len(self) <= 65536 else np.uint32)

    def token(self, i: int) -> str:
        """The character for id `i` (`<unk>` for 0)."""
        return UNK if i == 0 else self.chars[i - 1]

    def id(self, ch: str) -> int:
        return self._index.get(ch, 0)

    def encode(self, text: str) -> np.ndarray:
        """Ids of `text` after newline normalisation; unknown characters -> 0."""
        cps = codepoints(normalize_newlines(text))
        if len(self._cps) == 0:
            return np.zeros(len(cps), dtype=self.dtype)
        pos = np.searchsorted(self._cps, cps)
        pos_c = np.minimum(pos, len(self._cps) - 1)
        hit = self._cps[pos_c] == cps
        return np.where(hit, pos_c + 1, 0).astype(self.dtype)

    def decode(self, ids) -> str:
        return "".join(self.token(int(i)) for i in ids)

    def to_json(self) -> str:
        return json.dumps("".join(self.chars), ensure_ascii=True)

    @classmethod
    def from_json(cls, s: str) -> "Vocab":
        try:
            chars = json.loads(s)
        except RecursionError:  # "[[[[…" (issue 15, item 12): a ValueError like any other bad vocabulary
            raise ValueError("vocabulary must be a JSON string of characters (got deeply nested JSON)") from None
        if not isinstance(chars, str):
            raise ValueError("vocabulary must be a JSON string of characters")
        return cls(tuple(chars))


# Typographic quotes and the ASCII ones the models read instead: the shipped models' training text
# holds few of the former (the novels' and sentences' quotes were typed as ASCII), so a document
# written with curly quotes is read with ASCII ones by the network and the corpus memory, and what
# they predict is given back in the document's own quotes (completion.Completer).
CURLY = {"‘": "'", "’": "'", "“": '"', "”": '"'}
FOLD = str.maketrans(CURLY)


def fold_quotes(text: str) -> str:
    """`text` with its curly quotes ASCII ones: what the networks and the corpus memory read (and
    learn: corpus.load_corpus, prepare.py, memory.build_memory)."""
    return text if text.isascii() else text.translate(FOLD)


def quote_fold(vocab: Vocab) -> np.ndarray:
    """(V,) each id, or for a curly quote the id of its ASCII one (both in `vocab`)."""
    fold = np.arange(len(vocab), dtype=np.int64)
    for curly, ascii_ in CURLY.items():
        if vocab.id(curly) and vocab.id(ascii_):
            fold[vocab.id(curly)] = vocab.id(ascii_)
    return fold


def curly_quotes(text: str) -> tuple[bool, bool]:
    """Whether `text` writes its single quotes (apostrophes) and its double quotes curly: more of
    ‘’ than of ', more of “” than of "; a kind it has none of yet goes by the other (smart quotes
    are switched on for both)."""
    if text.isascii():
        return False, False
    sc, sa = text.count("’") + text.count("‘"), text.count("'")
    dc, da = text.count("“") + text.count("”"), text.count('"')
    single, double = sc > sa, dc > da
    return (single if sc + sa else double), (double if dc + da else single)
