"""Choose the suggestion policy by keystroke savings on validation text.

Grid over the confidence threshold, the stopping rule and the maximum length; KSR measured
on the held-out tails of ../shared/corpus (both folders, a sample of files). Prints a table.

    python bench/tune_policy.py [--model attention] [--chars 2000] [--files 8]
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from common import SHARED, command_line, one_thread, sample, tails

from charcomplete.completion import load_completer
from charcomplete.evaluate import completer_ksr


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", action="append", help="model name or path (repeatable; default lstm and attention)")
    ap.add_argument("--chars", type=int, default=2000, help="characters per file")
    ap.add_argument("--files", type=int, default=8, help="files per corpus folder")
    ap.add_argument("--thresholds", default="0.2,0.3,0.4,0.5,0.6")
    args = ap.parse_args()
    one_thread()
    texts = []
    for folder in ("shakespeare", "python-docs"):
        val, _ = tails(SHARED / folder)
        texts += sample(val, args.chars, args.files)
    total = sum(len(t) for _, t in texts)
    print(f"# policy grid: KSR on {len(texts)} validation tails, {total:,} characters\n\n`{command_line()}`\n")
    thresholds = [float(x) for x in args.thresholds.split(",")]
    print("| model | boundary | max_chars | min_chars | threshold (savings: show_threshold) | KSR |\n|---|---|---|---|---|---|")
    for name in args.model or ["lstm", "attention"]:
        c = load_completer(name)
        base = c.policy
        best = None
        grid = [replace(base, boundary=b, max_chars=16, threshold=th) for b in ("word", "phrase") for th in thresholds]
        grid += [replace(base, boundary="savings", max_chars=16, threshold=0.02, show_threshold=th) for th in thresholds]
        for pol in grid:
            c.policy = pol
            keys = sum(completer_ksr(c, t)["keystrokes"] for _, t in texts)
            ksr = 1 - keys / total
            shown = pol.show_threshold if pol.boundary == "savings" else pol.threshold
            print(f"| {c.name} | {pol.boundary} | {pol.max_chars} | {pol.min_chars} | {shown} | {ksr:.4f} |", flush=True)
            if best is None or ksr > best[0]:
                best = (ksr, pol)
        print(f"\nbest for {c.name}: KSR {best[0]:.4f} with {best[1]}\n")


if __name__ == "__main__":
    main()
