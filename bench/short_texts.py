"""Two ideas for short texts (issue 11's one-sentence KSR against Presage), measured on tuning
text: what they would add to the `prose` model as the editor runs it (adapting, each text a
fresh document).

1. A word trigram expert, as Presage predicts: word 1- to 3-gram counts of the model's training
   text (the first 95 % of every file of the five prose folders, as bench/quality.py primes
   Presage), turned into a next-character distribution (the words after the last two words that
   begin with the partial word, weighted 0.6 trigram / 0.3 bigram, grouped by their next letter;
   a finished word's share spread over the non-word characters as the model spreads them; 3 %
   of the model's own distribution under it), mixed into the model's distribution wherever it is
   defined (inside a word or after a space) with weight lam, linearly and geometrically.
2. A beam-searched ghost: instead of growing the likeliest character (and the second likeliest
   first character, `Policy.first_chars`), keep the `--beam` likeliest paths at every length,
   each expanding its `--beam` likeliest next characters, and show the path with the most
   expected savings less reading, (P(path) - read_cost) * (len - 1), above the show threshold.

Tuning text (in no bench/quality.py set): 80 sentences of the READMEs of torch, fonttools, ruff
and matplotlib, each a fresh document, and 1,500 characters from a third into 4 held-out tails
each of the novels and the blogs (../shared/corpus; the word tables need it too).

    python bench/short_texts.py [--beam 3] [--skip-words]
"""

from __future__ import annotations

import argparse
import math
import re
from collections import Counter, defaultdict

import numpy as np
from common import SHARED, command_line, one_thread, tails
from tuning import middles, readme_sentences

from charcomplete.adapt import AdaptiveModel
from charcomplete.completion import _blank, _tail, load_completer
from charcomplete.evaluate import keystroke_savings

WORD = re.compile(r"\w+")
PROSE = ("shakespeare", "python-docs", "tech-prose", "novels", "gov-blogs")


class WordTrigrams:
    """Word 1- to 3-gram counts of a text, line by line (`<s>` before a line's first word)."""

    def __init__(self, texts):
        self.bi, self.tri = defaultdict(Counter), defaultdict(Counter)
        for text in texts:
            for line in text.split("\n"):
                a = b = "<s>"
                for w in WORD.findall(line):
                    self.bi[b][w] += 1
                    self.tri[(a, b)][w] += 1
                    a, b = b, w

    def next_char(self, context: str, base: np.ndarray, vocab, is_word: np.ndarray) -> np.ndarray | None:
        """The next-character distribution after `context`, or None where the model says nothing."""
        prefix = re.search(r"\w*\Z", context).group(0)
        if not prefix and not context.endswith(" "):
            return None
        words = WORD.findall(context[: len(context) - len(prefix)].split("\n")[-1])
        b = words[-1] if words else "<s>"
        a = words[-2] if len(words) > 1 else "<s>"
        nxt, end = np.zeros(len(base)), 0.0
        for lam, table in ((0.6, self.tri.get((a, b))), (0.3, self.bi.get(b))):
            if table:
                total = sum(table.values())
                for w, k in table.items():
                    if w.startswith(prefix):
                        if len(w) == len(prefix):
                            end += lam * k / total
                        else:
                            nxt[vocab.id(w[len(prefix)])] += lam * k / total
        mass = nxt.sum() + end
        if mass <= 0:
            return None
        after = np.where(is_word, 0.0, base)
        d = (nxt + end * after / max(after.sum(), 1e-12)) / mass
        return 0.97 * d + 0.03 * base


def word_expert(c, sets: dict[str, list[str]]) -> None:
    train = [tails(SHARED / f)[1] for f in PROSE]
    words = WordTrigrams(train)
    del train
    vocab = c.vocab
    is_word = np.array([vocab.token(i).isalnum() or vocab.token(i) == "_" for i in range(len(vocab))])
    for name, texts in sets.items():
        rows = []  # (model's p(y), its distribution, the word model's or None, y)
        for t in texts:
            c.new_document()
            ids = vocab.encode(t)
            for i in range(1, len(t)):
                c.observe(t[:i])
                p = np.asarray(c.probs(t[:i]), dtype=np.float64)
                rows.append((p, words.next_char(t[:i], p, vocab, is_word), int(ids[i])))
        base = -sum(math.log2(p[y]) for p, _, y in rows) / len(rows)
        cells = [f"{base:.4f}"]
        for lam in (0.1, 0.2, 0.3):
            lin = geo = 0.0
            for p, w, y in rows:
                if w is None:
                    lin -= math.log2(p[y])
                    geo -= math.log2(p[y])
                    continue
                lin -= math.log2((1 - lam) * p[y] + lam * w[y])
                q = np.exp((1 - lam) * np.log(p + 1e-30) + lam * np.log(w + 1e-30))
                geo -= math.log2(q[y] / q.sum())
            cells.append(f"{lin / len(rows):.4f} / {geo / len(rows):.4f}")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


def beam_suggest(c, context: str, width: int) -> str:
    """The ghost with the most expected savings less reading among `width` paths per length."""
    if _blank(context):
        return ""
    pol = c.policy
    st = c._state_for(context)
    tail = _tail(context)
    beam = [("", 1.0, st, c._probs(st, tail))]  # (path, P(path), state after it, next-character distribution)
    best_value, best = 0.0, ""
    while beam:
        grown = []
        for path, conf, s, p in beam:
            for i in np.argsort(-p[1:])[:width] + 1:
                q = conf * float(p[i])
                if q < pol.threshold:
                    break
                text = path + c.vocab.token(int(i))
                value = (q - pol.read_cost) * (len(text) - 1)
                if value > best_value and q >= pol.show_threshold:
                    best_value, best = value, text
                grown.append((q, text, s, int(i)))
        grown.sort(key=lambda g: -g[0])
        beam, stepped = [], set()
        for q, text, s, i in grown[:width]:
            if len(text) >= pol.max_chars or (q - pol.read_cost) * (pol.max_chars - 1) <= best_value:
                continue
            s2 = c._stepper.fork(s) if id(s) in stepped else s  # a sibling's step must not overwrite its rows
            stepped.add(id(s))
            nxt = c._stepper.step(s2, i)
            beam.append((text, q, nxt, c._probs(nxt, tail + text, memory=len(text) < pol.memory_chars)))
    return best if len(best) >= pol.min_chars else ""


def ksr(c, texts: list[str], suggest) -> tuple[float, float]:
    keys = chars = taken = shown = 0
    for t in texts:
        c.new_document()

        def ghost(ctx: str) -> str:
            c.observe(ctx)
            return suggest(ctx)

        r = keystroke_savings(ghost, t)
        keys, chars, taken, shown = keys + r["keystrokes"], chars + r["chars"], taken + r["accepted"], shown + r["shown"]
    return 1 - keys / chars, taken / max(1, shown)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="prose")
    ap.add_argument("--beam", type=int, default=3, help="paths kept per length (and next characters tried per path)")
    ap.add_argument("--skip-words", action="store_true", help="only the beam search (the word tables take minutes)")
    args = ap.parse_args()
    one_thread()
    c = load_completer(args.model, adapt=AdaptiveModel())
    sets = {"README sentences": readme_sentences(), "novels": middles("novels"), "blogs": middles("gov-blogs")}
    print(f"`{command_line()}`\n")
    if not args.skip_words:
        print("| tuning text | bpc as the editor runs | + word trigrams, lam 0.1 (linear / geometric) | 0.2 | 0.3 |")
        print("|---|---|---|---|---|")
        word_expert(c, sets)
        print()
    print(f"| tuning text | shipped ghost: KSR / precision | beam {args.beam}: KSR / precision |")
    print("|---|---|---|")
    for name, texts in sets.items():
        a = ksr(c, texts, lambda ctx: c.suggest(ctx).text)
        b = ksr(c, texts, lambda ctx: beam_suggest(c, ctx, args.beam))
        print(f"| {name} | {a[0]:.4f} / {a[1]:.4f} | {b[0]:.4f} / {b[1]:.4f} |", flush=True)


if __name__ == "__main__":
    main()
