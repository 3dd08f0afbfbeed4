"""Write ../shared/corpus/sentences: short English sentences, one per line, as people write a
message, a note or a quote — the kind of text the `prose` model reads worst (bench/quality.py's
"one sentence at a time").

    python bench/sentences_corpus.py MIRROR [OUT]

MIRROR holds a git snapshot of github.com/mozilla/voice-web (Mozilla Common Voice's site, as of
July 2021) as MIRROR/mozilla+voice-web/repo, the layout the project's `fetch` tool writes
(/work/.mirror). Its `server/data/en/*.txt` are the English sentences Common Voice's speakers read
aloud: sentences people wrote for it or took from public-domain books, reviewed by its
contributors (49,254 from its Sentence Collector, about 5,000 more in files of their own, among
them proverbs and the Harvard sentences). OUT defaults to ../shared/corpus/sentences; it gets one
file, common-voice.txt, the sentences in their files' order, each once, quotes and dashes as
people type them (" ' -- ...). Left out: the files of foreign phrases, single words and cues, and
wiki.en.txt (sentences from Wikipedia; the snapshot does not hold it, its largest file), and every
sentence found in a book of bench/novels_corpus.py (the books are in ../shared/corpus/novels already,
and their held-out tails must stay held out; their snapshots must be in MIRROR too). About 3 minutes.

License: `server/data/en/LICENSE` dedicates those sentences to the public domain (CC0 1.0); the
rest of the repository (code, MPL-2.0) is not used. None of it is in a text the benches report on.
"""

from __future__ import annotations

import re
from pathlib import Path

from common import git, snapshots
from novels_corpus import BOOKS, TYPED, book_text, git_show

LEFT_OUT = {"DictionaryofForeignPhrases.txt", "singleword-benchmark.txt", "fxvoice-cues.txt", "wiki.en.txt"}


class Books:
    """`sentence in books`, fast: a sentence of five words or more can be in the books only if every
    three words in a row of it, its first and last word left out (they may be glued to a quote or a
    stop there), are three words in a row there; only those are searched for in the whole text."""

    def __init__(self, text: str):
        self.text, words = text, text.split()
        self.triples = {hash(tuple(words[i : i + 3])) for i in range(len(words) - 2)}

    def __contains__(self, sentence: str) -> bool:
        words = sentence.split()
        if len(words) >= 5 and any(hash(tuple(words[i : i + 3])) not in self.triples for i in range(1, len(words) - 3)):
            return False
        return sentence in self.text


def sentences(repo: Path, books: Books) -> list[str]:
    """Every sentence of the English files, in file order, each once, unless it is in `books`."""
    names = git(repo, "ls-tree", "--name-only", "HEAD", "server/data/en/").split()
    seen, out = set(), []
    for name in sorted(n for n in names if n.endswith(".txt") and Path(n).name not in LEFT_OUT):
        for line in git_show(repo, name).splitlines():
            for a, b in TYPED.items():
                line = line.replace(a, b)
            line = re.sub(r"\s+", " ", line).strip()
            if line and line not in seen and line.isprintable() and line not in books:
                seen.add(line)
                out.append(line)
    return out


def main() -> None:
    repos, out = snapshots("sentences", ["mozilla/voice-web"] + [f"standardebooks/{b}" for b in BOOKS])
    books = Books("\n".join(book_text(repos[f"standardebooks/{b}"]) for b in BOOKS))
    lines = sentences(repos["mozilla/voice-web"], books)
    text = "\n".join(lines) + "\n"
    (out / "common-voice.txt").write_text(text, encoding="utf-8")
    print(f"{len(lines):,} sentences, {len(text):,} characters in {out}")


if __name__ == "__main__":
    main()
