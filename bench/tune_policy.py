"""Choose the suggestion policy by keystroke savings on validation text.

Grid over the confidence threshold, the stopping rule and the maximum length; KSR measured
on the held-out tails of ../shared/corpus (both folders, a sample of files). Prints a table.

    python bench/tune_policy.py [--model attention] [--chars 2000] [--files 8]

With --precision: the grid behind Policy.read_cost and Policy.show_threshold, as the editor
runs (each text a fresh document the model adapts to, the corpus memory mixed in): KSR and
precision (ghosts taken / shown) of the shipped prose and code models on four kinds of held-out
text (see precision_grid). (The memory_chars grid of the first release is in
docs/benchmarks.md.)

    python bench/tune_policy.py --precision [--grid 0:0.1,0.1:0.1,0.05:0.12:2:8,0.05:0.12:2:4:32,0.05:0.1:2:4:16:0.02:1]
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from common import SHARED, command_line, one_thread, sample, tails

from charcomplete.completion import load_completer
from charcomplete.evaluate import completer_ksr, completion_metrics


def precision_grid(chars: int, texts_per_kind: int, grid: list[tuple[float, float]], at: tuple[float, float, int] | None = None) -> None:
    """KSR and precision of the shipped models (prose; code for the code set) as the editor runs
    them, for each (read_cost, show_threshold) in `grid`, on five kinds of held-out text: the
    middle of the held-out tails of shakespeare, python-docs and tech-prose (modern English), the
    READMEs of torch, fonttools, ruff and matplotlib (BSD / MIT / MIT / PSF-based; not the ones
    bench/quality.py reports on), and Python from `rich` (MIT; not click, which bench/quality.py
    reports on). `at`: where the texts start (a fraction into each tail, a fraction into each README,
    a character offset into each code file; default a third, a quarter, 2000)."""
    import glob

    from quality import SITE, readme_text

    from charcomplete.adapt import AdaptiveModel

    def middle(folder: str) -> list[str]:
        val, _ = tails(SHARED / folder)
        val = val[3:: max(1, len(val) // texts_per_kind)][:texts_per_kind]
        return [t[start(len(t), 3, 0) :][:chars] for _, t in val]

    def start(n: int, default: int, which: int) -> int:
        return n // default if at is None else int(n * at[which])

    rich = sorted(glob.glob(str(SITE / "rich" / "*.py")))[5::12][:texts_per_kind]
    readmes = []
    for pkg in ("torch", "fonttools", "ruff", "matplotlib"):  # none of them in bench/quality.py's README_PACKAGES
        for meta in sorted(SITE.glob(f"{pkg}-*.dist-info/METADATA"))[:1]:
            t = readme_text(meta)
            readmes.append(t[start(len(t), 4, 1) :][: 2 * chars])
    sets = {"plays": middle("shakespeare"), "Python docs": middle("python-docs"), "modern English": middle("tech-prose"),
            "READMEs": readmes, "Python code": [Path(f).read_text()[2000 if at is None else int(at[2]) :][:chars] for f in rich]}
    print(f"# policy grid for precision: KSR and precision, {texts_per_kind} x {chars} characters per kind\n\n`{command_line()}`\n")
    print("| held-out text | read_cost | show_threshold | first_chars | memory_chars | max_chars | threshold | lookahead | KSR | precision |\n"
          "|---|---|---|---|---|---|---|---|---|---|")
    for kind, texts in sets.items():
        c = load_completer("code" if kind == "Python code" else "prose", adapt=AdaptiveModel())
        base = c.policy
        for cost, show, *more in grid:
            first = int(more[0]) if more else base.first_chars
            mem = int(more[1]) if len(more) > 1 else base.memory_chars
            longest = int(more[2]) if len(more) > 2 else base.max_chars
            grow = more[3] if len(more) > 3 else base.threshold
            ahead = int(more[4]) if len(more) > 4 else base.lookahead
            c.policy = replace(base, read_cost=cost, show_threshold=show, first_chars=first, memory_chars=mem, max_chars=longest,
                               threshold=grow, lookahead=ahead)
            m = completion_metrics(c, texts, latency_chars=0)
            print(f"| {kind} | {cost} | {show} | {first} | {mem} | {longest} | {grow} | {ahead} | {m['ksr']:.3f} | {m['precision']:.3f} |",
                  flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", action="append", help="model name or path (repeatable; default lstm and attention)")
    ap.add_argument("--chars", type=int, default=2000, help="characters per file")
    ap.add_argument("--files", type=int, default=8, help="files per corpus folder")
    ap.add_argument("--thresholds", default="0.2,0.3,0.4,0.5,0.6")
    ap.add_argument("--precision", action="store_true", help="the read_cost x show_threshold grid (KSR and precision)")
    ap.add_argument("--grid", default="0:0.1,0.03:0.1,0.05:0.1,0.1:0.1,0.15:0.1,0:0.12",
                    help="--precision: read_cost:show_threshold[:first_chars[:memory_chars[:max_chars[:threshold[:lookahead]]]]] settings")
    ap.add_argument("--sample", default="700:5", help="--precision: characters per text : texts per kind")
    ap.add_argument("--at", default=None, help="--precision: where the texts start: tails fraction : READMEs fraction : code offset "
                    "(default a third, a quarter, 2000)")
    args = ap.parse_args()
    one_thread()
    if args.precision:
        chars, n = (int(x) for x in args.sample.split(":"))
        at = tuple(float(x) for x in args.at.split(":")) if args.at else None
        precision_grid(chars, n, [tuple(float(x) for x in g.split(":")) for g in args.grid.split(",")], at)
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
