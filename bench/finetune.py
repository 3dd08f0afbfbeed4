"""The Ctrl+T flow on notes of a few sizes: the model in use vs the one a training job makes,
on the same held-out tail of the notes (bits per character and KSR, no adaptation).

The notes are modern technical English none of the shipped models trained on: the long
descriptions (READMEs) of the Python packages installed beside charcomplete (their
`*.dist-info/METADATA` bodies, each under its package's own license), concatenated in name
order and cut to each size. For every size it runs the editor's job (jobs.run_training with
the editor's TrainRequest defaults: 2 minutes or 20 passes) fine-tuning the model in use at a
few learning rates, and once from scratch, and prints one row per run. This is what chose
jobs.FINETUNE_LR and jobs.MIN_TRAIN_CHARS.

    python bench/finetune.py [--model attention] [--sizes 2000,20000,200000] [--lrs 0.0003,0.001,0.003]
"""

from __future__ import annotations

import argparse
import os
import site
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def notes_text(limit: int) -> str:
    """Package READMEs (METADATA bodies) from site-packages, in name order, up to `limit` chars."""
    out, total = [], 0
    for root in site.getsitepackages():
        for meta in sorted(Path(root).glob("*.dist-info/METADATA")):
            if meta.parent.name.startswith("charcomplete"):
                continue
            text = meta.read_text(encoding="utf-8", errors="replace")
            body = text.split("\n\n", 1)[1] if "\n\n" in text else ""
            if len(body) > 500:
                out.append(body.strip() + "\n\n")
                total += len(out[-1])
            if total >= limit:
                return "".join(out)[:limit]
    return "".join(out)[:limit]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="attention", help="the model in use (default attention)")
    ap.add_argument("--sizes", default="2000,20000,200000", help="note sizes in characters")
    ap.add_argument("--lrs", default="0.0003,0.001,0.003", help="fine-tuning learning rates")
    ap.add_argument("--minutes", type=float, default=2.0, help="each run's budget (the editor's default: 2)")
    args = ap.parse_args()

    import torch

    from charcomplete.corpus import load_corpus
    from charcomplete.jobs import SCRATCH_LR, TrainRequest, run_training, score_tail
    from charcomplete.registry import resolve_model

    torch.set_num_threads(1)
    os.environ.setdefault("CHARCOMPLETE_DATA_DIR", tempfile.mkdtemp(prefix="finetune-bench-"))
    base = resolve_model(args.model)
    print(f"`python bench/finetune.py {' '.join(sys.argv[1:])}`: model in use {args.model}, notes = package READMEs, "
          f"{args.minutes:g} min or 20 passes per run, 1 thread\n")
    print("| notes | run | lr | old bpc | new bpc | old KSR | new KSR | old precision | new precision | switched | seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for size in [int(s) for s in args.sizes.split(",")]:
        folder = Path(tempfile.mkdtemp(prefix="notes-"))
        (folder / "notes.md").write_text(notes_text(size), encoding="utf-8")
        old = score_tail(base, load_corpus([str(folder)]))
        runs = [("fine-tune", float(lr)) for lr in args.lrs.split(",")] + [("scratch", SCRATCH_LR)]
        for i, (how, lr) in enumerate(runs):
            req = TrainRequest(corpus=[str(folder)], name=f"bench-{size}-{i}", max_minutes=args.minutes, lr=lr,
                               init=str(base) if how == "fine-tune" else None, min_chars=0)
            t0 = time.perf_counter()
            try:
                out = run_training(req, None, lambda: False, compare_with=str(base))
            except Exception as e:  # e.g. too small to learn from
                print(f"| {size:,} | {how} | {lr:g} | {old.bpc:.3f} | - | {old.ksr:.3f} | - | {_p(old)} | - | {str(e)[:60]} | - |", flush=True)
                continue
            print(f"| {size:,} | {how} | {lr:g} | {out.old.bpc:.3f} | {out.new.bpc:.3f} | {out.old.ksr:.3f} | {out.new.ksr:.3f} | "
                  f"{_p(out.old)} | {_p(out.new)} | {'yes' if out.better else 'no'} | {time.perf_counter() - t0:.0f} |", flush=True)


def _p(scores) -> str:
    """A TailScores' precision (ghosts taken / shown), "-" when none was shown."""
    return "-" if scores.precision is None else f"{scores.precision:.3f}"


if __name__ == "__main__":
    main()
