"""Where the slowest keys' time goes, and what the corpus memory's C code buys the typing p99.

Types bench/latency.py's text as `latency.py --adapt` does (observe + suggest per key, a fresh
document each repeat, one thread) and reports:

1. per key, for all keys and for the slow ones (from the 98th to the 99.9th percentile: the
   rare 10-100 ms key, a full garbage collection or a page fault, left out): the time in each part of the per-key path
   (the network's steps, the corpus memory's answers, the partial-word model, the mixer, the
   document cache's mixture and its observe, the second candidate ghost), and how often each
   ran — each part timed by a wrapper (about 0.3 µs a call of its own);
2. the typing p50 / p99 with the memory's answers from its Python code, from its C code
   (charcomplete/native.py, when it could be built) and replayed from a dict (recorded on a first
   pass over the same text: a bound on what faster memory code could take off), alternating;
   the ghosts are exactly the same in all three.

    python bench/slow_keys.py [--model prose] [--repeats 3] [--chars 3000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter

import numpy as np
from common import REPO, SHARED, command_line, one_thread, sample, tails

from charcomplete.adapt import AdaptiveModel
from charcomplete.completion import load_completer

PARTS = [  # (label, owner attribute or "" for the Completer itself, method)
    ("network steps", "_stepper", "step"),
    ("corpus memory", "memory", "predict_text"),
    ("partial words", "", "_words"),
    ("mixer", "mixer", "mix"),
    ("document cache mix", "adapt", "mix"),
    ("document cache observe", "adapt", "observe"),
    ("second candidate (all of it)", "", "_other_starts"),
]


def typing_text(chars: int) -> str:
    text = (REPO / "bench" / "data" / "modern-prose.txt").read_text()
    if SHARED.exists():
        val, _ = tails(SHARED / "shakespeare")
        text += "".join(t for _, t in sample(val, 1500, 2))
    return text[:chars]


def type_text(c, text: str) -> list[float]:
    """Seconds of observe + suggest per key, a fresh document."""
    c.reset()
    c.new_document()
    out = []
    for i in range(1, len(text) + 1):
        t0 = time.perf_counter()
        c.observe(text[:i])
        c.suggest(text[:i], max_chars=16)
        out.append(time.perf_counter() - t0)
    return out


def timed(obj, name: str, label: str, acc: Counter) -> None:
    """Wrap obj.name so that its time and calls add up in acc[label] and acc[label, "calls"]."""
    f = getattr(obj, name)

    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return f(*args, **kwargs)
        finally:
            acc[label] += time.perf_counter() - t0
            acc[label, "calls"] += 1

    setattr(obj, name, wrapper)


def breakdown(c, text: str, repeats: int) -> None:
    acc: Counter = Counter()
    for label, owner, name in PARTS:
        obj = getattr(c, owner) if owner else c
        if obj is not None:
            timed(obj, name, label, acc)
    keys = []  # (seconds, {part: seconds or calls})
    for _ in range(repeats):
        c.reset()
        c.new_document()
        for i in range(1, len(text) + 1):
            acc.clear()
            t0 = time.perf_counter()
            c.observe(text[:i])
            c.suggest(text[:i], max_chars=16)
            keys.append((time.perf_counter() - t0, dict(acc)))
    for _, owner, name in PARTS:  # the wrappers go (instance attributes shadowing the methods)
        obj = getattr(c, owner) if owner else c
        if obj is not None and name in vars(obj):
            delattr(obj, name)
    t = np.array([k[0] for k in keys])
    lo, hi = np.percentile(t, [98, 99.9])
    slow = (t >= lo) & (t < hi)
    print("| part of the per-key path | all keys: ms per key | calls per key | slow keys: ms per key | calls per key |\n|---|---|---|---|---|")
    rows = [("the whole key (observe + suggest)", None)] + [(label, label) for label, _, _ in PARTS]
    for label, part in rows:
        cells = []
        for sel in (np.ones(len(t), bool), slow):
            idx = np.nonzero(sel)[0]
            if part is None:
                cells += [f"{t[idx].mean() * 1000:.3f}", ""]
            else:
                cells += [f"{sum(keys[j][1].get(part, 0.0) for j in idx) / len(idx) * 1000:.3f}",
                          f"{sum(keys[j][1].get((part, 'calls'), 0) for j in idx) / len(idx):.1f}"]
        print(f"| {label} | " + " | ".join(cells) + " |")
    print(f"\n{len(t):,} keys; slow: the {int(slow.sum())} from {lo * 1000:.3f} to {hi * 1000:.3f} ms (98th to 99.9th percentile). "
          "The parts overlap: the second candidate's time holds steps, memory answers and mixes of its own.\n")


def memory_rows(c, text: str, repeats: int) -> None:
    memory = c.memory
    answers = {}
    predict = memory.predict_text

    def record(tail: str):
        answers[tail[-memory.max_order :]] = hit = predict(tail)
        return hit

    memory.predict_text = record
    type_text(c, text)
    del memory.predict_text  # the method again
    native = memory._native  # NativeMemory, or None (no compiler, or CHARCOMPLETE_NO_NATIVE=1)
    rows = {"its Python code": None, "its C code (native.py)": native, "its answers replayed from a dict": "replay"}
    if native is None:
        del rows["its C code (native.py)"]
    runs = {label: [] for label in rows}
    for _ in range(repeats):  # alternating: a slower stretch of the machine hits them all
        for label, how in rows.items():
            memory._native = how if how != "replay" else None
            if how == "replay":
                memory.predict_text = lambda tail: answers[tail[-memory.max_order :]]
            memory._recent.clear()
            t = type_text(c, text)
            if how == "replay":
                del memory.predict_text
            runs[label].append((float(np.percentile(t, 50)) * 1000, float(np.percentile(t, 99)) * 1000))
    memory._native = native
    print("| the corpus memory's answers | typing p50 ms | typing p99 ms |\n|---|---|---|")
    for label, r in runs.items():
        print(f"| {label} | {statistics.median(x[0] for x in r):.3f} | {statistics.median(x[1] for x in r):.3f} |")
    print(f"\n(medians over {repeats} repeats; {len(answers):,} distinct memory questions in {len(text):,} keys)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="prose", help="a model with a corpus memory (default: prose)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--chars", type=int, default=3000, help="characters typed per repeat")
    args = ap.parse_args()
    one_thread()
    text = typing_text(args.chars)
    c = load_completer(args.model, adapt=AdaptiveModel())
    if c.memory is None:
        raise SystemExit(f"{args.model}: no corpus memory")
    print(f"# the slowest keys, model {c.name}, adapting, 1 thread, {len(text):,} characters typed, {args.repeats} repeats\n\n`{command_line()}`\n")
    breakdown(c, text, args.repeats)
    memory_rows(c, text, args.repeats)


if __name__ == "__main__":
    main()
