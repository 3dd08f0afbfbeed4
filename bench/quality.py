"""Quality of the shipped models against 7-Zip's PPMd and the keyword-completion baseline.

For each evaluation set (the validation tails of ../shared/corpus/shakespeare and
../shared/corpus/python-docs, as the trainer split them, and bench/data/modern-prose.txt,
which is in neither folder), and each model: bits per character, top-1/top-3 accuracy,
keystroke savings (KSR) and the keyword baseline's KSR (its word counts start from the
training text). PPMd: `7z a -m0=PPMd:o=8`, primed with the training text: compressed size of
train+eval minus that of train alone, in bits per character of the eval text.

    python bench/quality.py [--model lstm --model attention] [--ksr-chars 3000 --ksr-files 10]

A second table: the same models adapting to each document as they are in the editor
(charcomplete/adapt.py; each text a fresh document, no history), on the KSR sample, against
PPMd and the keyword baseline on that same sample.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

from common import REPO, SHARED, command_line, one_thread, sample, tails

from charcomplete.completion import load_completer
from adapt import measure  # bench/adapt.py: the Completer's own (mixed) bpc and KSR

from charcomplete.adapt import AdaptConfig
from charcomplete.evaluate import KeywordCompleter, WordIndex, completer_ksr, keystroke_savings, score_text


def ppmd_bpc(train: str, evaluation: str) -> float | None:
    """PPMd (order 8) bits per character of `evaluation` after priming with `train`."""
    if shutil.which("7z") is None:
        return None
    with tempfile.TemporaryDirectory() as d:
        def size(text: str, name: str) -> int:
            src, arc = Path(d) / f"{name}.txt", Path(d) / f"{name}.7z"
            src.write_text(text, encoding="utf-8")
            subprocess.run(["7z", "a", "-m0=PPMd:o=8", str(arc), str(src)], check=True, capture_output=True)
            return arc.stat().st_size

        return (size(train + evaluation, "both") - size(train, "train")) * 8 / len(evaluation)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", action="append", help="model name or path (repeatable; default lstm and attention)")
    ap.add_argument("--ksr-chars", type=int, default=3000, help="KSR: characters per validation file")
    ap.add_argument("--ksr-files", type=int, default=10, help="KSR: files per folder")
    args = ap.parse_args()
    one_thread()
    folders = {f: tails(SHARED / f) for f in ("shakespeare", "python-docs")}
    train_text = "".join(t for _, t in folders.values())  # what the models trained on (both folders)
    prose = (REPO / "bench" / "data" / "modern-prose.txt").read_text()
    sets = {f"{f} validation tails": v for f, (v, _) in folders.items()}
    sets["modern prose (not in the corpus)"] = [("modern-prose.txt", prose)]
    words = WordIndex(train_text)  # the keyword baseline's reference counts, built once
    completers = [load_completer(m) for m in args.model or ["lstm", "attention"]]
    print(f"# quality\n\n`{command_line()}`\n")
    print("| eval set | chars (bpc) | chars (KSR) | model | bpc | PPMd o=8 bpc | top-1 | top-3 | KSR | keyword KSR | KSR / keyword |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    combined = {c.name: [0.0, 0] for c in completers}  # bits and characters over both folders' tails
    for label, texts in sets.items():
        full = "".join(t for _, t in texts)
        ppmd = ppmd_bpc(train_text, full)
        ksr_texts = sample(texts, args.ksr_chars, args.ksr_files)
        ksr_chars = sum(len(t) for _, t in ksr_texts)
        base_keys = 0
        for _, t in ksr_texts:
            base_keys += keystroke_savings(KeywordCompleter(words).suggest, t)["keystrokes"]
        base = 1 - base_keys / ksr_chars
        for c in completers:
            scores = [score_text(c.model, c.vocab, t) for _, t in texts]
            n = sum(s["chars"] for s in scores)
            avg = lambda k: sum(s[k] * s["chars"] for s in scores if s["chars"]) / n  # noqa: E731
            if "validation" in label:
                combined[c.name][0] += avg("bpc") * n
                combined[c.name][1] += n
            keys = sum(completer_ksr(c, t)["keystrokes"] for _, t in ksr_texts)
            ksr = 1 - keys / ksr_chars
            ppmd_s = f"{ppmd:.3f}" if ppmd is not None else "7z missing"
            print(f"| {label} | {n:,} | {ksr_chars:,} | {c.name} | {avg('bpc'):.3f} | {ppmd_s} | {avg('top1'):.3f} | "
                  f"{avg('top3'):.3f} | {ksr:.3f} | {base:.3f} | {ksr / base if base > 0 else float('inf'):.2f}x |", flush=True)
    print("\nbits per character over all held-out text of both folders: "
          + ", ".join(f"{name} {bits / n:.3f}" for name, (bits, n) in combined.items()))
    print("\n## adapting to the document (as in the editor), on the KSR sample\n")
    print("| eval set | chars | model | bpc, adapting | PPMd o=8 bpc (same sample) | KSR, adapting | keyword KSR | KSR / keyword |")
    print("|---|---|---|---|---|---|---|---|")
    for label, texts in sets.items():
        ksr_texts = sample(texts, args.ksr_chars, args.ksr_files)
        chars = sum(len(t) for _, t in ksr_texts)
        ppmd = ppmd_bpc(train_text, "".join(t for _, t in ksr_texts))
        base = 1 - sum(keystroke_savings(KeywordCompleter(words).suggest, t)["keystrokes"] for _, t in ksr_texts) / chars
        for c in completers:
            bpc, ksr = measure(c, [t for _, t in ksr_texts], AdaptConfig())
            ppmd_s = f"{ppmd:.3f}" if ppmd is not None else "7z missing"
            print(f"| {label} | {chars:,} | {c.name} | {bpc:.3f} | {ppmd_s} | {ksr:.3f} | {base:.3f} | {ksr / base:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
