"""Suggestion latency on one CPU thread, with the default shipped model (or --model).

Times `suggest()` as a user types (the context grows by one character per call), the
first suggestion after a cursor jump (a full recompute), and Backspace after a typo (a wrong
character typed every 10 characters, then deleted: the state before it is kept). Two
policies: the shipped one with max_chars=16, and a forced 16-character greedy continuation
(the worst case: no early stop).
Medians over repeats of p50 and p99.

    python bench/latency.py [--model prose] [--repeats 3] [--adapt] [--first-chars 1] [--policy lookahead=0,show_threshold=0.12]
    python bench/latency.py --model code --adapt --neighbours PATH/TO/click/core.py

--adapt: as the editor runs (observe + suggest per key, the document cache learning, the
corpus memory mixed in when the model has one; no user history), each repeat a fresh document.

--neighbours FILE (with --adapt): instead, typing the first --chars characters of FILE into an
empty buffer as the editor does with the files beside it (neighbours.read_neighbours, as `edit
FILE` reads them: counted and indexed for the match model before the first key, as the model
thread does while the user looks) against the same typing without them, alternating; observe +
suggest per key, the editor's own context (bench/context.py's Typist: the whole-buffer level
told of each key, its counting outside the timing).
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from common import REPO, SHARED, command_line, one_thread, policy_with, sample, tails

from charcomplete.completion import Policy, load_completer
from charcomplete.evaluate import measure_latency
from charcomplete.vocab import normalize_newlines


def steps_per_key(c, text: str) -> float:
    """Network steps per key while typing `text` as the editor does (a fresh document)."""
    count = [0]
    step = c._stepper.step

    def counted(st, i):
        count[0] += 1
        return step(st, i)

    c._stepper.step = counted
    c.new_document()
    for i in range(1, len(text) + 1):
        c.observe(text[:i])
        c.suggest(text[:i], max_chars=16)
    c._stepper.step = step
    return count[0] / len(text)


def backspace_ms(c, text: str, every: int = 10) -> list[float]:
    """observe + suggest times (ms) of the Backspace after a wrong character, typed every
    `every` characters of `text` (a fresh document; the typing between them not timed)."""
    c.new_document()
    out = []
    for i in range(1, len(text) + 1):
        c.observe(text[:i])
        c.suggest(text[:i], max_chars=16)
        if i % every == 0:
            c.observe(text[:i] + "x")
            c.suggest(text[:i] + "x", max_chars=16)
            t0 = time.perf_counter()
            c.observe(text[:i])
            c.suggest(text[:i], max_chars=16)
            out.append((time.perf_counter() - t0) * 1000)
    return out


def neighbours_ms(c, text: str, files: list[str]) -> list[float]:
    """observe + suggest times (ms) typing `text` into an empty buffer, the whole-buffer level
    attached as the editor runs it, with `files` (neighbouring texts) counted before the first key."""
    from context import Typist, whole_buffer

    c.new_document()
    sync = Typist("", whole_buffer(c, "", files, reads=False, neighbours_first=True))
    out = []
    for i in range(1, len(text) + 1):
        ctx = sync(text[:i])  # (the level counting the key: the model thread's work, not timed)
        t0 = time.perf_counter()
        c.observe(ctx)
        c.suggest(ctx, max_chars=16)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def neighbours_table(c, path: Path, chars: int, repeats: int) -> None:
    from charcomplete.neighbours import read_neighbours

    text = normalize_newlines(path.read_text(encoding="utf-8"))[:chars]
    files = [t for _, t in read_neighbours(path)]
    print(f"typing the first {len(text):,} characters of {path.name}, {len(files)} files beside it "
          f"({sum(map(len, files)):,} characters)\n")
    print("| | typing p50 ms | typing p99 ms |\n|---|---|---|")
    runs = {"without the files beside it": [], "with them counted": []}
    for _ in range(repeats):  # alternating: a slower stretch of the machine hits both
        for label, near in zip(runs, ([], files)):
            times = neighbours_ms(c, text, near)
            runs[label].append((float(np.percentile(times, 50)), float(np.percentile(times, 99))))
    for label, r in runs.items():
        print(f"| {label} | {statistics.median(x[0] for x in r):.3f} | {statistics.median(x[1] for x in r):.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="attention", help="model name or path (default: attention, the network alone, as the figures that give no --model were measured)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--chars", type=int, default=3000, help="characters typed per repeat")
    ap.add_argument("--adapt", action="store_true", help="adapt to the document as the editor does")
    ap.add_argument("--first-chars", type=int, default=None, help="Policy.first_chars (default: the shipped policy's)")
    ap.add_argument("--policy", action="append", default=[],
                    help="another row: the shipped policy with FIELD=VALUE[,FIELD=VALUE] (repeatable), e.g. lookahead=0,show_threshold=0.12")
    ap.add_argument("--neighbours", type=Path, default=None,
                    help="with --adapt: type this file's first --chars characters with the files beside it counted, and without")
    args = ap.parse_args()
    if args.neighbours and not args.adapt:
        ap.error("--neighbours needs --adapt")
    one_thread()
    text = (REPO / "bench" / "data" / "modern-prose.txt").read_text()
    if SHARED.exists():
        val, _ = tails(SHARED / "shakespeare")
        text += "".join(t for _, t in sample(val, 1500, 2))
    text = text[: args.chars]
    from charcomplete.adapt import AdaptiveModel

    c = load_completer(args.model, adapt=AdaptiveModel() if args.adapt else False)
    mode = "adapting, " if args.adapt else ""
    memory = f", corpus memory ({'C' if c.memory._native is not None else 'Python'})" if c.memory else ""  # load_memory readied it
    print(f"# suggestion latency, model {c.name} ({c.kind}{memory}), {mode}1 thread, {len(text):,} characters typed, "
          f"{args.repeats} repeats\n\n`{command_line()}`\n")
    if args.neighbours:
        return neighbours_table(c, args.neighbours, args.chars, args.repeats)
    print("| policy | typing p50 ms | typing p99 ms | after a jump p50 ms | after a jump p99 ms | Backspace p50 / p99 ms "
          "| network steps per key, typing |\n|---|---|---|---|---|---|---|")
    shipped = c.policy if args.first_chars is None else replace(c.policy, first_chars=args.first_chars)
    rows = [("shipped policy, max 16 chars", replace(shipped, max_chars=16))]
    for spec in args.policy:  # other policies, measured alternately with the shipped one
        pol = policy_with(replace(shipped, max_chars=16), spec)
        rows.append((f"shipped, but {spec}", pol))
    rows.append(("forced 16-char greedy continuation", Policy(max_chars=16, min_chars=1, threshold=0.0, boundary="phrase")))
    runs = {label: [] for label, _ in rows}
    back = {label: [] for label, _ in rows}
    for _ in range(args.repeats):  # the policies alternate: a slower stretch of the machine hits them all
        for label, pol in rows:
            c.policy = pol
            c.new_document()
            runs[label].append(measure_latency(c, text, max_chars=16))
            times = backspace_ms(c, text)
            back[label].append((float(np.percentile(times, 50)), float(np.percentile(times, 99))))
    for label, pol in rows:
        c.policy = pol
        med = lambda f: statistics.median(getattr(r, f) for r in runs[label])  # noqa: E731
        bs = [statistics.median(b[k] for b in back[label]) for k in (0, 1)]
        print(f"| {label} | {med('typing_p50_ms'):.3f} | {med('typing_p99_ms'):.3f} | {med('jump_p50_ms'):.3f} | {med('jump_p99_ms'):.3f} "
              f"| {bs[0]:.3f} / {bs[1]:.3f} | {steps_per_key(c, text):.2f} |")

if __name__ == "__main__":
    main()
