"""The partial-word model: the next character after the part of a word already typed.

A word is a run of letters, digits and underscores (`str.isalnum()` or "_", as regex `\\w`).
After the first k characters of a word (1 <= k <= WORD_MAX, the word beginning after a non-word
character or at the text's start), the next character is the word's next letter, or what ends
it (a space, a bracket, ...). The n-gram caches see the last few characters wherever they stand;
this model knows where the word began: after "Py_tss_N" it predicts "E" from an earlier
"Py_tss_NEEDS_INIT" in the document, after "th" at a word's start the letters of words that
begin so.

Its counts come from the document and the neighbouring files (`ngram.CharCounts.words`, kept
true to the buffer like the n-gram counts) and from the training corpus (the corpus memory's
word table, memory.py); they are blended long-to-short like the document cache — corpus, then
neighbours, then document — on top of a base distribution (the caches' own mixture):

    p(c) = max(n(c) - d, 0) / (N + b)  +  (b + d T) / (N + b) * p_below(c)

The mixer (mixer.py) weighs the result as its fourth expert, keyed by how often the document
has seen the prefix. `blend` runs in C where adapt.c is built (native.py): the same numbers.
"""

from __future__ import annotations

import numpy as np

from charcomplete.native import library

WORD_MAX = 40  # longer partial words are not looked up (nor counted)
DISCOUNT = 0.05  # d (chosen by measurement: docs/benchmarks.md "The partial-word model"; 0.3 -> 0.05)
STRENGTH = 0.05  # b (0.5 -> 0.05: the counts are trusted, the mixer weighs them)


def is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def partial_word(tail: str) -> str:
    """The word being typed at the end of `tail` ("" when none, or when longer than WORD_MAX). A
    word reaching tail's start is taken to begin there: pass the text's start, or more than
    WORD_MAX characters."""
    j = n = len(tail)
    stop = max(0, n - WORD_MAX - 1)  # a run that reaches this far back is too long
    while j > stop and is_word(tail[j - 1]):  # (a loop back over the few letters typed: a third of a regex search's time, the same answer)
        j -= 1
    return tail[j:] if n - j <= WORD_MAX else ""


def count_words(table: dict, text: str, start: int, end: int, sign: int = 1) -> None:
    """Count (sign 1) or uncount (-1) each character text[i], start <= i < end, after the partial
    word before it, in `table` (prefix -> [total, {char: count}], like ngram.CharCounts.table).
    Uncounting what was never counted does nothing; counts and prefixes that reach zero go."""
    run, j = 0, start
    while j > 0 and run <= WORD_MAX and is_word(text[j - 1]):
        run, j = run + 1, j - 1
    for i in range(start, end):
        ch = text[i]
        if 0 < run <= WORD_MAX:
            prefix = text[i - run : i]
            node = table.get(prefix)
            if sign > 0:
                if node is None:
                    table[prefix] = [1, {ch: 1}]
                else:
                    node[0] += 1
                    node[1][ch] = node[1].get(ch, 0) + 1
            elif node is not None and ch in node[1]:
                counts = node[1]
                node[0] -= 1
                if counts[ch] > 1:
                    counts[ch] -= 1
                else:
                    del counts[ch]
                    if not counts:
                        del table[prefix]
        run = run + 1 if is_word(ch) else 0


def prepared(ids: np.ndarray, cnts: np.ndarray) -> tuple:
    """The memory's (distinct ids, counts) after a partial word as `blend` reads them, computed
    once for a level asked again and again: (ids, total, counts - DISCOUNT), as lists when few."""
    if len(ids) <= 8:  # a few: cheaper in Python than in numpy
        ids, cnts = ids.tolist(), cnts.tolist()
        return ids, float(sum(cnts)), [n - DISCOUNT for n in cnts]
    return ids, float(cnts.sum()), cnts - DISCOUNT


def blend(base: np.ndarray, levels: list, index: dict) -> np.ndarray:
    """`base` (V,) with the word counts of `levels` on top, lowest first, each either a node
    [total, {char: count}] (unknown characters count for <unk>, id 0), (ids, counts) arrays
    (the memory's table) or those `prepared`. Walked from the top down, as adapt.py's cache: what
    each level adds, and the mass left for the levels below it (a few small operations: this runs
    on every key). In C (adapt.c) when `base` is float64 and the levels are nodes or `prepared`."""
    d, b = DISCOUNT, STRENGTH
    native = library("adapt")
    if native is not None and base.dtype == np.float64 and all(isinstance(lv, list) or len(lv) == 3 for lv in levels):
        p = np.empty(len(base))
        native.blend(base, levels, index, d, b, p)
        return p
    return blend_python(base, levels, index)


def blend_python(base: np.ndarray, levels: list, index: dict) -> np.ndarray:
    """`blend` in Python and numpy (what adapt.c's blend does: the same numbers)."""
    d, b = DISCOUNT, STRENGTH
    scale, adds = 1.0, []  # mass left below the levels walked; (ids, values) each level adds
    for level in reversed(levels):
        if isinstance(level, list):
            total, counts = level
            ids, less = [index.get(ch, 0) for ch in counts], [n - d for n in counts.values()]
        else:
            ids, total, less = level if len(level) == 3 else prepared(*level)  # the memory's: distinct ids
        w = scale / (total + b)
        adds.append((ids, [w * x for x in less] if isinstance(less, list) else w * less))
        scale *= (b + d * len(ids)) / (total + b)
    p = base * scale  # (V,) float64
    for ids, vals in adds:
        if not isinstance(ids, list):
            p[ids] += vals  # the memory's many: distinct ids
        elif len(ids) <= 8:
            for i, v in zip(ids, vals):
                p[i] += v  # (characters outside the vocabulary all count for <unk>, id 0)
        else:
            np.add.at(p, ids, vals)
    return p
