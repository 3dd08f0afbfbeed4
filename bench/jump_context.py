"""How many characters should a recompute after a jump read? (Completer.context_chars)

The first prediction after a cursor jump recomputes the network's state from the last N
characters. For N in 256, 192, 160, 128, 96, 64: bits per character of that first prediction,
of the first --after predictions (the user typing on from the jump: the state stepped from the
recomputed one), the first one's KL divergence from N=256's, and the recompute's median time
(one thread), at 1,500 random positions of modern English, held-out Python docs, plays and
Python source (network alone).

    python bench/jump_context.py [--model prose] [--after 16]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from common import REPO, SHARED, command_line, one_thread, sample, tails

from charcomplete.completion import load_completer


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="prose")
    ap.add_argument("--after", type=int, default=16, help="predictions typed on after the jump for the second bpc column")
    args = ap.parse_args()
    one_thread()
    text = (REPO / "bench" / "data" / "modern-prose.txt").read_text()
    for folder in ("python-docs", "shakespeare", "python-src"):
        val, _ = tails(SHARED / folder)
        text += "".join(t for _, t in sample(val, 3000, 3))
    pos = np.random.default_rng(0).integers(400, len(text) - 1 - args.after, 1500)
    c = load_completer(args.model, adapt=False)
    c.memory = c.mixer = None  # the network alone: what the recompute changes
    print(f"`{command_line()}`\n\n| context_chars | bpc of the first prediction | bpc of the first {args.after} | KL from 256 | recompute p50 ms |\n|---|---|---|---|---|")
    ref = {}
    index = c.vocab._index
    for n in (256, 192, 160, 128, 96, 64):
        c.context_chars = n
        nll, nll_after, kl, times = 0.0, 0.0, 0.0, []
        for p in pos:
            c.reset()
            t0 = time.perf_counter()
            q = c.probs(text[:p])
            times.append(time.perf_counter() - t0)
            nll -= np.log(q[index.get(text[p], 0)])
            nll_after -= np.log(q[index.get(text[p], 0)])
            for k in range(p + 1, p + args.after):  # typing on: each a step from the state before
                nll_after -= np.log(c.probs(text[:k])[index.get(text[k], 0)])
            if n == 256:
                ref[p] = q
            else:
                kl += float((ref[p] * np.log(ref[p] / q)).sum())
        bits = nll / len(pos) / np.log(2)
        bits_after = nll_after / (len(pos) * args.after) / np.log(2)
        print(f"| {n} | {bits:.4f} | {bits_after:.4f} | {kl / len(pos):.5f} | {np.median(times) * 1e3:.2f} |", flush=True)


if __name__ == "__main__":
    main()
