"""Choose the suggestion policy by keystroke savings on validation text.

Grid over the confidence threshold, the stopping rule and the maximum length; KSR measured
on the held-out tails of ../shared/corpus (both folders, a sample of files). Prints a table.

    python bench/tune_policy.py [--model attention] [--chars 2000] [--files 8]

With --precision: the grid behind Policy.show_threshold and Policy.memory_chars, as the editor
runs (each text a fresh document the model adapts to, the corpus memory mixed in): KSR,
precision (ghosts taken / shown) and CPU time per key, on modern English held out from every
training set (bench/data/modern-prose.txt and the tech-prose tails, which the shipped networks
never saw and the memory holds only the first 95 % of).

    python bench/tune_policy.py --precision [--model prose]
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from common import REPO, SHARED, command_line, one_thread, sample, tails

from charcomplete.completion import load_completer
from charcomplete.evaluate import completer_ksr, completion_metrics


def precision_grid(model: str, chars: int, files: int) -> None:
    import time

    from charcomplete.adapt import AdaptiveModel

    texts = [(REPO / "bench" / "data" / "modern-prose.txt").read_text()[:3000]]
    val, _ = tails(SHARED / "tech-prose")
    texts.append("".join(t for _, t in sample(val, chars, files)))
    print(f"# policy grid for precision: {model}, {sum(len(t) for t in texts):,} characters of modern English\n\n`{command_line()}`\n")
    print("| memory_chars | show_threshold | KSR | precision | CPU ms per key |\n|---|---|---|---|---|")
    c = load_completer(model, adapt=AdaptiveModel())
    base = c.policy
    for mc, st in [(0, 0.05), (1, 0.05), (2, 0.05), (4, 0.05), (16, 0.05), (4, 0.1), (4, 0.15), (4, 0.2), (4, 0.3)]:
        c.policy = replace(base, memory_chars=mc, show_threshold=st)
        t0 = time.process_time()
        m = completion_metrics(c, texts, latency_chars=0)
        keys = m["ksr_chars"] * (1 - m["ksr"])
        print(f"| {mc} | {st} | {m['ksr']:.3f} | {m['precision']:.3f} | {(time.process_time() - t0) / keys * 1000:.3f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", action="append", help="model name or path (repeatable; default lstm and attention)")
    ap.add_argument("--chars", type=int, default=2000, help="characters per file")
    ap.add_argument("--files", type=int, default=8, help="files per corpus folder")
    ap.add_argument("--thresholds", default="0.2,0.3,0.4,0.5,0.6")
    ap.add_argument("--precision", action="store_true", help="the show_threshold x memory_chars grid (KSR and precision)")
    args = ap.parse_args()
    one_thread()
    if args.precision:
        precision_grid((args.model or ["prose"])[0], 600, 6)
        return
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
