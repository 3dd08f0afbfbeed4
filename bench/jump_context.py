"""How many characters should a recompute after a jump read? (Completer.context_chars)

The first prediction after a cursor jump recomputes the network's state from the last N
characters. For N in 256, 192, 128, 96, 64: bits per character of that first prediction and
its KL divergence from N=256's, and the recompute's median time (one thread), at 1,500 random
positions of modern English, held-out Python docs, plays and Python source (network alone).

    python bench/jump_context.py [--model prose]
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
    args = ap.parse_args()
    one_thread()
    text = (REPO / "bench" / "data" / "modern-prose.txt").read_text()
    for folder in ("python-docs", "shakespeare", "python-src"):
        val, _ = tails(SHARED / folder)
        text += "".join(t for _, t in sample(val, 3000, 3))
    pos = np.random.default_rng(0).integers(400, len(text) - 1, 1500)
    c = load_completer(args.model, adapt=False)
    c.memory = c.mixer = None  # the network alone: what the recompute changes
    print(f"`{command_line()}`\n\n| context_chars | bpc of the first prediction | KL from 256 | recompute p50 ms |\n|---|---|---|---|")
    ref = {}
    for n in (256, 192, 128, 96, 64):
        c.context_chars = n
        nll, kl, times = 0.0, 0.0, []
        for p in pos:
            c.reset()
            t0 = time.perf_counter()
            q = c.probs(text[:p])
            times.append(time.perf_counter() - t0)
            nll -= np.log(q[c.vocab._index.get(text[p], 0)])
            if n == 256:
                ref[p] = q
            else:
                kl += float((ref[p] * np.log(ref[p] / q)).sum())
        print(f"| {n} | {nll / len(pos) / np.log(2):.4f} | {kl / len(pos):.5f} | {np.median(times) * 1e3:.2f} |", flush=True)


if __name__ == "__main__":
    main()
