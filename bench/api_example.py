"""The Python API's "as the editor runs" example (docs/python-api.md): one-ghost keystroke savings
of the shipped `prose` model on a text, with and without adaptation (observe before each suggest).
Adapting, it uses `AdaptiveModel()`, the document alone, rather than `adapt=True`, which also reads
your saved history: the figures then do not depend on what you typed before.

    python bench/api_example.py [--model prose] [--chars 6000] [FILE]   # default FILE: bench/data/modern-prose.txt
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from charcomplete import load_completer
from charcomplete.adapt import AdaptiveModel

REPO = Path(__file__).resolve().parent.parent


def one_ghost_ksr(c, text: str, adapt: bool) -> float:
    """Type `text` a key at a time; a ghost that matches the text ahead is taken with one key."""
    c.new_document()
    i = keys = 0
    while i < len(text):
        if adapt:
            c.observe(text[:i])
        ghost = c.suggest(text[:i]).text if i else ""
        i += len(ghost) if ghost and text.startswith(ghost, i) else 1
        keys += 1
    return 1 - keys / len(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file", nargs="?", default=str(REPO / "bench" / "data" / "modern-prose.txt"))
    ap.add_argument("--model", default="prose")
    ap.add_argument("--chars", type=int, default=6000)
    args = ap.parse_args()
    text = Path(args.file).read_text(encoding="utf-8")[: args.chars]
    for adapt in (False, True):
        t0 = time.perf_counter()
        ksr = one_ghost_ksr(load_completer(args.model, adapt=AdaptiveModel() if adapt else False), text, adapt)
        print(f"adapt={adapt}: KSR {ksr:.3f} ({time.perf_counter() - t0:.1f} s, {len(text):,} characters of {args.file})")


if __name__ == "__main__":
    main()
