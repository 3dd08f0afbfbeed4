"""What is left on long documents (issue 12 (a)): where the bits go, and whether reading the
buffer helps the network. Three analyses, as bench/context.py's "whole buffer" row runs (the
editor's context per key, the buffer counted and indexed, the network having read it):

--bits     typing the last 3,000 characters (at most half) of each document, every character
           predicted: bits per character by where the cursor is in a word (a word's first
           character, inside one, what ends it; and whether the document already held that
           word), and how often the likeliest character was right against its probability
           (reliability of the final mixture: a calibrated model's rows agree).
--reading  the network alone (no caches, no memory) on the buffer's last --hold characters,
           held out of what it reads: before reading, after the reading never judged (the last
           16 KB, a short buffer up to 4 times), after the shipped reading (over 9 KB judged: it
           holds out another 1 KB of its own), and after each of up to --passes readings of the
           rest at rate --lr over its last --read-chars characters, never judged (bits per
           character, a state from the 256 characters before).
--judged   typing as `context.py`'s "whole buffer" row after the shipped reading (Completer.read:
           a buffer over 9 KB judged on its held-out end) and after the reading never judged (the
           last 16 KB, a short buffer up to 4 times; shipped before): KSR / precision / bits per
           character, and the passes the judged reading kept per document.

The documents: --set tuning (bench/context.py --tuning's: the READMEs of rich and plotext, 2
held-out tails each of the novels and the blogs), --set readmes ((a)'s four long READMEs in
no training text), --set long (the first 30,000 characters of the 2 longest held-out tails each
of the novels and the blogs: long text like what the network trained on), --set plays ((a)'s five
long plays in no training text: bench/plays_corpus.py) or --set ourdocs (this
repository's docs at a fixed commit: unfamiliar text, like a user's own notes).

    cd bench && python long_docs.py --bits [--set tuning|readmes|long|ourdocs|plays]
    cd bench && python long_docs.py --reading [--set tuning|readmes|long|ourdocs|plays] [--hold 1024] [--lr 0.04] [--read-chars 32768] [--passes 3]
    cd bench && python long_docs.py --judged [--set tuning|readmes|long|ourdocs|plays] [--fields read_lr=0.06,read_more=4] [--no-before]
"""

from __future__ import annotations

import argparse
import math
import re
import subprocess
from collections import defaultdict

import numpy as np

from pathlib import Path

from common import REPO, SHARED, command_line, one_thread, tails
from context import Typist, long_plays, long_readmes, read_buffer, run, summary, tuning_docs, whole_buffer

from charcomplete.adapt import AdaptConfig, AdaptiveModel
from charcomplete.completion import load_completer
from charcomplete.vocab import normalize_newlines
from charcomplete.words import is_word

TYPED = 3000  # characters typed at the end of each document (at most half of it)
MODEL = {"name": "prose"}  # --model: the prose model typed with (a name or a checkpoint path)


def completer():
    return load_completer(MODEL["name"], adapt=AdaptiveModel(AdaptConfig(), None), memory=True)


def category(full: str, typed: str, i: int) -> str:
    """Where the character typed[i] stands, after the text `full`: in a word (its first
    character, inside it, the one that ends it) or between words; and whether `full` held the word."""
    j = len(full)
    while j > 0 and is_word(full[j - 1]):
        j -= 1
    k = i
    while k < len(typed) and is_word(typed[k]):
        k += 1
    prefix, word = full[j:], full[j:] + typed[i:k]
    if not prefix and not is_word(typed[i]):
        return "between words"
    where = "a word's first character" if not prefix else "inside a word" if is_word(typed[i]) else "the character ending a word"
    seen = re.search(r"(?<!\w)" + re.escape(word) + r"(?!\w)", full[:j]) is not None
    return f"{where}, {'a word the document holds' if seen else 'a new word'}"


def bits(docs: list[tuple[str, str]]) -> None:
    by_cat = defaultdict(lambda: [0, 0.0])  # category -> [characters, bits]
    top = []  # (probability of the likeliest character, whether it was right)
    for name, text in docs:
        chars = min(TYPED, len(text) // 2)
        buffer, typed = text[:-chars], normalize_newlines(text[-chars:])
        c = completer()
        sync = Typist(buffer, whole_buffer(c, buffer))
        ids = c.vocab.encode(typed)
        for i in range(len(typed)):
            full = buffer + typed[:i]
            ctx = sync(full)
            c.observe(ctx)
            p = c.probs(ctx)
            best = int(p[1:].argmax()) + 1
            top.append((float(p[best]), best == int(ids[i])))
            cell = by_cat[category(full, typed, i)]
            cell[0] += 1
            cell[1] -= math.log2(max(float(p[int(ids[i])]), 1e-12))
            c.learn_network()
        print(f"  {name}: {len(buffer)} characters before, {len(typed)} typed", flush=True)
    n, total = sum(v[0] for v in by_cat.values()), sum(v[1] for v in by_cat.values())
    print(f"\nbits per character {total / n:.4f} over {n} characters\n")
    print("| where | characters | bits | bits per character |\n|---|---|---|---|")
    for cat, (k, b) in sorted(by_cat.items(), key=lambda kv: -kv[1][1]):
        print(f"| {cat} | {k / n:.1%} | {b / total:.1%} | {b / k:.2f} |")
    pr = np.array(top)
    print("\n| likeliest character's probability | positions | mean probability | right |\n|---|---|---|---|")
    for lo in np.arange(0.0, 1.0, 0.1):
        sel = (pr[:, 0] >= lo) & (pr[:, 0] < lo + 0.1)
        if sel.sum():
            print(f"| {lo:.1f}–{lo + 0.1:.1f} | {int(sel.sum())} | {pr[sel, 0].mean():.3f} | {pr[sel, 1].mean():.3f} |")


def network_loss(c, before: str, text: str) -> float:
    """Bits per character of the completer's network alone (its weights now) on `text`, its state from `before`'s last 256 characters."""
    fold = lambda s: [int(c._fold[int(i)]) for i in c.vocab.encode(s)]  # noqa: E731 (the network's own ids)
    st, nll = c._stepper.recompute(np.array(fold(before[-256:]))), 0.0
    for i in fold(text):
        z = st.logits - st.logits.max()
        nll -= float(z[i] - np.log(np.exp(z).sum()))
        st = c._stepper.step(st, i)
    return nll / len(text) / math.log(2)


def read(c, text: str, **fields) -> None:
    """The network reads `text` once as the editor's pauses give it (Completer.read), with NetLearnConfig `fields` changed."""
    read_buffer(c, text, fields, times=1)


def reading(docs: list[tuple[str, str]], hold: int, lr: float, read_chars: int, passes: int) -> None:
    harder = " | ".join(f"{k + 1}× at {lr}, last {read_chars}" for k in range(passes))
    print(f"| document | characters before | not read | read as before | judged (shipped) | {harder} |")
    print("|---" * (4 + passes) + "|---|")
    for name, text in docs:
        buffer = normalize_newlines(text[: -min(TYPED, len(text) // 2)])
        rest, held = buffer[:-hold], buffer[-hold:]
        c = completer()
        row = [network_loss(c, rest, held)]
        read(c, rest, **BEFORE)
        row.append(network_loss(c, rest, held))
        c = completer()
        read(c, rest)
        row.append(network_loss(c, rest, held))
        c = completer()
        for _ in range(passes):
            read(c, rest, lr=lr, read_chars=read_chars, read_passes=1, read_check=0)
            row.append(network_loss(c, rest, held))
        print(f"| {name} | {len(rest)} | " + " | ".join(f"{x:.3f}" for x in row) + " |", flush=True)


BEFORE = {"read_check": 0}  # the reading never judged (shipped before): the last 16 KB, a short text up to 4 times


def judged(docs: list[tuple[str, str]], fields: dict, before: bool = True) -> None:
    kept = []

    def shipped(c, buffer: str) -> None:
        read(c, buffer, **fields)
        kept.append(c.read_kept)

    label = "read as shipped (over 9 KB: judged on its last 1 KB)" + (f", {fields}" if fields else "")
    rows = ({"read as before (16 KB, never judged)": []} if before else {}) | {label: []}
    readers = ([lambda c, b: read(c, b, **BEFORE)] if before else []) + [shipped]
    for name, text in docs:
        chars = min(TYPED, len(text) // 2)
        for label, how in zip(rows, readers):
            rows[label].append(run(MODEL["name"], text[:-chars], text[-chars:], "whole buffer", reader=how))
        print(f"  {name}: " + ", ".join(f"{m} KSR {1 - r[-1]['keys'] / r[-1]['chars']:.3f}" for m, r in rows.items()), flush=True)
    print(f"\npasses kept (KSR run, then bpc run; None: a short buffer, not judged): {kept}\n")
    print("| reading | KSR | precision | bits/char |\n|---|---|---|---|")
    for label, r in rows.items():
        ksr, bpc, _, precision = summary(r)
        print(f"| {label} | {ksr:.4f} | {precision:.3f} | {bpc:.4f} |")


def long_tails() -> list[tuple[str, str]]:
    """--set long: text like what the network trained on, long enough to be judged: the first
    30,000 characters of the 2 longest held-out tails each of the novels and the blogs (no table
    but this one reports on them)."""
    docs = []
    for folder in ("novels", "gov-blogs"):
        val, _ = tails(SHARED / folder)
        docs += [(Path(p).name, t[:30_000]) for p, t in sorted(val, key=lambda t: -len(t[1]))[:2]]
    return docs


OUR_DOCS = "8b02624"  # --set ourdocs: this repository's docs at this commit


def our_docs() -> list[tuple[str, str]]:
    """--set ourdocs: text like a user's own notes, which no training saw: this repository's docs
    at commit OUR_DOCS (training.md and editor.md whole, the first 30,000 characters of
    reliability.md, characters 100,000-130,000 of benchmarks.md; 14-27 KB before the typed 3,000).
    For tuning how the network reads a buffer; no table but this one reports on them."""
    show = lambda path: subprocess.run(["git", "-C", str(REPO), "show", f"{OUR_DOCS}:{path}"],  # noqa: E731
                                       check=True, capture_output=True, text=True).stdout
    return [("training.md", show("docs/training.md")), ("editor.md", show("docs/editor.md")),
            ("reliability.md", show("docs/reliability.md")[:30_000]), ("benchmarks.md", show("docs/benchmarks.md")[100_000:130_000])]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bits", action="store_true", help="bits per character by place in a word, and the top character's reliability")
    ap.add_argument("--reading", action="store_true", help="the network alone on the buffer's held-out end, before and after reading")
    ap.add_argument("--judged", action="store_true", help="typing after the shipped (judged) reading and the one before it")
    ap.add_argument("--set", choices=("tuning", "readmes", "long", "ourdocs", "plays"), default="tuning")
    ap.add_argument("--fields", default="", help="--judged: NetLearnConfig fields for the judged reading, e.g. read_lr=0.06,read_more=4")
    ap.add_argument("--no-before", action="store_true", help="--judged: only the judged reading's row")
    ap.add_argument("--model", default="prose", help="the prose model typed with (a name or a checkpoint path)")
    ap.add_argument("--hold", type=int, default=1024, help="--reading: the buffer's last characters held out of the reading")
    ap.add_argument("--lr", type=float, default=0.04, help="--reading: the rate of the harder reading")
    ap.add_argument("--read-chars", type=int, default=32768, help="--reading: how much of the buffer's end the harder reading reads")
    ap.add_argument("--passes", type=int, default=3, help="--reading: passes of the harder reading (at most)")
    args = ap.parse_args()
    one_thread()
    MODEL["name"] = args.model
    print(command_line())
    docs = {"tuning": tuning_docs, "readmes": long_readmes, "long": long_tails, "ourdocs": our_docs, "plays": long_plays}[args.set]()
    if args.bits:
        bits(docs)
    if args.reading:
        reading(docs, args.hold, args.lr, args.read_chars, args.passes)
    if args.judged:
        fields = {k: (int(v) if k in ("read_more", "read_check", "judge_chars", "judge_from") else float(v))
                  for k, v in (f.split("=") for f in args.fields.split(",") if f)}
        judged(docs, fields, not args.no_before)
    if not (args.bits or args.reading or args.judged):
        ap.error("choose --bits, --reading or --judged")


if __name__ == "__main__":
    main()
