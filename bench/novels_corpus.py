"""Write ../shared/corpus/novels: everyday narrative English (dialogue, letters, description) for
the prose model's corpus memory, from Standard Ebooks' editions of 22 novels and story
collections of 1876-1926.

    python bench/novels_corpus.py MIRROR [OUT]

MIRROR holds a git snapshot of each repository in BOOKS (github.com/standardebooks/NAME) as
MIRROR/standardebooks+NAME/repo, the layout the project's `fetch` tool writes
(/work/.mirror); OUT defaults to ../shared/corpus/novels. Each book becomes OUT/NAME.txt: the
paragraphs and headings of its text files in reading order (the epub spine), front and back
matter (title pages, colophon, imprint, the license page, tables of contents, endnotes) left
out, typographic quotes and dashes as people type them (" ' -- ...).

License: the texts are in the public domain in the United States; Standard Ebooks dedicates its
editions to the public domain (CC0 1.0), as each repository's LICENSE.md says. None of these books
is in a text that the benches report on.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from common import git, snapshots

BOOKS = [
    "agatha-christie_the-mysterious-affair-at-styles", "agatha-christie_the-secret-adversary",
    "arthur-conan-doyle_the-adventures-of-sherlock-holmes", "booth-tarkington_the-magnificent-ambersons",
    "e-m-forster_a-room-with-a-view", "edith-wharton_the-age-of-innocence", "ernest-hemingway_the-sun-also-rises",
    "f-scott-fitzgerald_the-great-gatsby", "frances-hodgson-burnett_the-secret-garden",
    "g-k-chesterton_the-innocence-of-father-brown", "jack-london_the-call-of-the-wild",
    "jerome-k-jerome_three-men-in-a-boat", "john-buchan_the-thirty-nine-steps", "l-m-montgomery_anne-of-green-gables",
    "mark-twain_the-adventures-of-tom-sawyer", "p-g-wodehouse_love-among-the-chickens", "sinclair-lewis_arrowsmith",
    "sinclair-lewis_babbitt", "sinclair-lewis_main-street", "theodore-dreiser_sister-carrie", "upton-sinclair_the-jungle",
    "willa-cather_my-antonia",
    # added 2026-12-02 (third session): 26 books of 1917-1929, closer to how people write now (dialogue,
    # detective stories, comedies of manners; the most recent Standard Ebooks had in the US public domain)
    "agatha-christie_the-big-four", "agatha-christie_the-man-in-the-brown-suit", "agatha-christie_the-murder-of-roger-ackroyd",
    "agatha-christie_the-murder-on-the-links", "agatha-christie_the-mystery-of-the-blue-train",
    "agatha-christie_the-secret-of-chimneys", "agatha-christie_the-seven-dials-mystery", "anita-loos_gentlemen-prefer-blondes",
    "dashiell-hammett_red-harvest", "dorothy-l-sayers_clouds-of-witness", "dorothy-l-sayers_the-unpleasantness-at-the-bellona-club",
    "dorothy-l-sayers_unnatural-death", "dorothy-l-sayers_whose-body", "edna-ferber_so-big", "ernest-hemingway_a-farewell-to-arms",
    "f-scott-fitzgerald_the-beautiful-and-damned", "f-scott-fitzgerald_this-side-of-paradise", "john-dos-passos_manhattan-transfer",
    "p-g-wodehouse_a-damsel-in-distress", "p-g-wodehouse_leave-it-to-psmith", "p-g-wodehouse_piccadilly-jim",
    "sherwood-anderson_winesburg-ohio", "sinclair-lewis_dodsworth", "sinclair-lewis_elmer-gantry",
    "virginia-woolf_mrs-dalloway", "virginia-woolf_to-the-lighthouse",
]
FRONT_AND_BACK = {"colophon", "imprint", "titlepage", "halftitlepage", "uncopyright", "toc", "loi", "endnotes",
                  "dedication", "epigraph"}
TYPED = {"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'", "\u2060": "", "\u00a0": " ", "\u2009": " ",
         "\u200a": " ", "\u2002": " ", "\u2003": " ", "\u2026": "...", "\u2014": "--", "\u2013": "-"}


def git_show(repo: Path, path: str) -> str:
    return git(repo, "show", f"HEAD:{path}")


def book_text(repo: Path) -> str:
    """The paragraphs of one book, in reading order, separated by blank lines."""
    opf = git_show(repo, "src/epub/content.opf")
    files = {item_id: href for href, item_id in re.findall(r'<item href="text/([^"]+)" id="([^"]+)"', opf)}
    paras = []
    for item_id in re.findall(r'<itemref idref="([^"]+)"', opf):
        href = files.get(item_id)
        if href is None or Path(href).stem in FRONT_AND_BACK:
            continue
        x = re.sub(r'<a [^>]*epub:type="noteref"[^>]*>.*?</a>', "", git_show(repo, f"src/epub/text/{href}"))
        for m in re.finditer(r"<(p|h[1-6])\b[^>]*>(.*?)</\1>", x, re.S):
            t = html.unescape(re.sub(r"<[^>]+>", "", re.sub(r"<br\s*/?>", "\n", m.group(2))))
            for a, b in TYPED.items():
                t = t.replace(a, b)
            t = re.sub(r"[ \t]+", " ", t).strip()
            if t:
                paras.append(t)
    return "\n\n".join(paras) + "\n"


def main() -> None:
    repos, out = snapshots("novels", [f"standardebooks/{b}" for b in BOOKS])
    total = 0
    for name in BOOKS:
        text = book_text(repos[f"standardebooks/{name}"])
        (out / f"{name}.txt").write_text(text, encoding="utf-8")
        total += len(text)
    print(f"{len(BOOKS)} books, {total:,} characters in {out}")


if __name__ == "__main__":
    main()
