"""What training on ../shared/corpus looks like: each model for N minutes, default settings.

Trains `lstm` and then `attention` (one after the other, each with the machine to itself)
on both folders of ../shared/corpus (shakespeare and python-docs) through the real
trainer, with the settings `charcomplete train` uses by default (embed 64, hidden 256,
window 32; batch 64 x 128 characters, Adam 3e-3 with cosine decay over the budget,
validation every 200 steps on up to 262,144 held-out characters) and a budget of
`--minutes` minutes each. The same as, per model:

    charcomplete train --model KIND --corpus ../shared/corpus/shakespeare \\
        --corpus ../shared/corpus/python-docs --max-minutes N

Prints a markdown table: training speed (characters of supervision per second of training
steps, validations excluded) and the best validation bits per character after N minutes.

    python bench/train_5min.py [--minutes 5] [--threads T]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from common import SHARED, command_line

import torch

from charcomplete.corpus import load_corpus
from charcomplete.device import resolve_device
from charcomplete.models import KINDS, ModelConfig
from charcomplete.trainer import TrainConfig, train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=5.0, help="training budget per model")
    ap.add_argument("--corpus", action="append", default=None,
                    help="training text (repeatable; default: both folders of ../shared/corpus)")
    ap.add_argument("--models", default=",".join(KINDS), help="comma-separated model kinds")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    paths = args.corpus or [str(SHARED / "shakespeare"), str(SHARED / "python-docs")]

    t0 = time.perf_counter()
    corpus = load_corpus(paths)
    print(f"corpus: {corpus.summary()} (loaded in {time.perf_counter() - t0:.1f}s)", file=sys.stderr)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.models.split(","):
            cfg = TrainConfig(epochs=None, max_minutes=args.minutes)  # device "auto", as `charcomplete train`

            clock = {"last": 0.0, "steps": 0.0}  # time spent in training steps (validations excluded)

            def report(p, kind=kind, clock=clock):
                now = time.perf_counter()
                if p.kind == "step":
                    clock["steps"] += now - clock["last"]
                clock["last"] = now  # after "start" and after a validation ("eval") the next step starts
                if p.kind == "eval" and p.val_bpc is not None:
                    print(f"{kind:9} step {p.step:6}  {p.elapsed:6.0f}s  train {p.train_bpc or float('nan'):.3f}  "
                          f"val {p.val_bpc:.3f} bpc", file=sys.stderr)

            r = train(ModelConfig(kind=kind), cfg, corpus, Path(tmp) / f"{kind}.safetensors", callback=report)
            rows.append((kind, r, r.chars / max(clock["steps"], 1e-9)))

    print(f"`{command_line()}` — on {resolve_device('auto')}: {platform.machine()}, {os.cpu_count()} CPU cores, "
          f"{torch.get_num_threads()} torch threads, torch {torch.__version__}; corpus: {corpus.summary()}\n")
    print(f"| model | parameters | steps in {args.minutes:g} min | epochs | training chars/s | val bpc after {args.minutes:g} min | val accuracy |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for kind, r, rate in rows:
        epochs = r.history[-1]["epoch"] if r.history else 0.0
        print(f"| `{kind}` | {r.parameters:,} | {r.steps:,} | {epochs:.2f} | {rate:,.0f} | "
              f"{r.best_val_bpc:.3f} | {r.best_val_acc:.3f} |")
    print("\ntraining chars/s: characters of supervision (64 streams x 128 per step) per second of training steps; "
          "the budget includes the validations (every 200 steps and one at the end).")


if __name__ == "__main__":
    main()
