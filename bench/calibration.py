"""Is the model's top character as likely as it says? Calibration of the prose model's
next-character distribution with and without its corpus memory, as the editor runs it (adapting,
each text a fresh document), and what that does to ghosts (KSR, precision, ghosts shown).

Text: 1,500 characters from a quarter into the READMEs of torch, fonttools, ruff and matplotlib
(the tuning set of tune_policy.py --precision) and from a third into four tech-prose tails.

    python bench/calibration.py [--model prose]
"""

from __future__ import annotations

import argparse

import numpy as np

from common import SHARED, command_line, one_thread, tails
from quality import SITE, readme_text

from charcomplete.adapt import AdaptiveModel
from charcomplete.completion import load_completer
from charcomplete.evaluate import completion_metrics

EDGES = (0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 1.01)


def texts() -> list[str]:
    out = []
    for pkg in ("torch", "fonttools", "ruff", "matplotlib"):
        for meta in sorted(SITE.glob(f"{pkg}-*.dist-info/METADATA"))[:1]:
            t = readme_text(meta)
            out.append(t[len(t) // 4 : len(t) // 4 + 1500])
    val, _ = tails(SHARED / "tech-prose")
    return out + [t[len(t) // 3 : len(t) // 3 + 1500] for _, t in val[3 :: max(1, len(val) // 4)][:4]]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="prose")
    args = ap.parse_args()
    one_thread()
    docs = texts()
    print(f"# calibration of the top character, {len(docs)} texts, {sum(map(len, docs)):,} characters\n\n`{command_line()}`\n")
    print("| model | " + " | ".join(f"p in [{a:.2f}, {b:.2f})" for a, b in zip(EDGES[:-1], EDGES[1:])) + " | KSR | precision | ghosts shown |")
    print("|---|" + "---|" * (len(EDGES) + 2))
    for memory in (False, True):
        c = load_completer(args.model, adapt=AdaptiveModel())
        if not memory:
            c.memory = c.mixer = None
        p_top, right = [], []
        for t in docs:
            c.new_document()
            for i in range(1, len(t)):
                c.observe(t[:i])
                p = c.probs(t[:i]).copy()
                p[0] = 0.0  # suggestions never start with <unk>
                j = int(np.argmax(p))
                p_top.append(p[j])
                right.append(c.vocab.token(j) == t[i])
        P, R = np.array(p_top), np.array(right)
        cells = []
        for a, b in zip(EDGES[:-1], EDGES[1:]):
            m = (P >= a) & (P < b)
            cells.append(f"{P[m].mean():.3f} → {R[m].mean():.3f} ({m.sum()})" if m.any() else "–")
        k = completion_metrics(c, docs, latency_chars=0)
        label = f"{c.name} {'with' if memory else 'without'} its memory"
        print(f"| {label} | " + " | ".join(cells) + f" | {k['ksr']:.3f} | {k['precision']:.3f} | {k['shown']} |", flush=True)
    print("\n(each cell: mean predicted probability of the top character → how often it was right (positions))")


if __name__ == "__main__":
    main()
