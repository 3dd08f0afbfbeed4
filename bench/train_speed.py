"""Training speed: the product's trainer against the notebook's method (issue 5, "Speed").

On a 1 MB slice of ../shared/corpus/shakespeare (the plays in file-name order, the first
1,000,000 characters, as one text), split as the trainer splits it (the last 5% held out),
with the notebook's model sizes (embed 128, hidden 256; attention over 20 characters) and
--threads torch threads (default 1: on this shared 2-core machine other processes compete,
and two threads then give erratic step times; one thread favours the notebook's small
64 x 20 batches, if anything), for each model:

1. the notebook's method (charcomplete/notebook.py: 20-character windows, batch 64, Adam
   0.003) trains for --notebook-minutes, scored every --notebook-eval-every steps on the
   first --tail-chars characters of the held-out tail; X = its best bpc there, and the
   training time until it first reached X;
2. the product's trainer (trainer.train), once per --ours setting (batch x seq_len, lr: the
   trainer's defaults 64 x 128 at 0.003, and 32 x 64 at 0.006), trains --repeats times
   (seeds 0, 1, ...) with the same budget, validated about every --eval-chars characters
   on the same tail characters, and stops as soon as its bpc there is <= X; the training
   time until then;
3. characters of supervision per second of both: one per window for the notebook's method,
   B x T per step for ours; the notebook's method also runs --repeats - 1 short extra runs
   of --rate-seconds for its rate.

Validation time is excluded from every training time (both methods validate on the same
tail, each in its own way: the notebook's model predicts each character from the 20 before
it, ours from the whole stream). Ratio = the notebook's time to X / ours (median).

    python bench/train_speed.py [--notebook-minutes 2] [--repeats 3] [--ours 64,128,0.003 32,64,0.006]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from common import SHARED, command_line

import torch

from charcomplete.corpus import load_corpus, read_corpus
from charcomplete.models import ModelConfig
from charcomplete.experiments.notebook import NotebookConfig, train_notebook
from charcomplete.trainer import TrainConfig, TrainingInterrupted, train

SLICE_CHARS = 1_000_000


def shakespeare_slice(folder: Path) -> Path:
    """The first 1,000,000 characters of the plays, as one file in `folder`."""
    docs = read_corpus([str(SHARED / "shakespeare")]).documents
    text = "".join(d.text for d in docs)[:SLICE_CHARS]
    path = folder / "shakespeare-1mb.txt"
    path.write_text(text, encoding="utf-8")
    return path


def model_config(kind: str) -> ModelConfig:
    return ModelConfig(kind=kind, embed=128, hidden=256, window=20)  # the notebook's sizes


def run_notebook(kind, corpus, minutes, eval_every, tail_chars, seed=0) -> dict:
    cfg = NotebookConfig(epochs=None, max_minutes=minutes, eval_every=eval_every, val_max_windows=0,
                         tail_max_chars=tail_chars, seed=seed, device="cpu")
    r = train_notebook(model_config(kind), cfg, corpus)
    best = min(r.history, key=lambda row: row["val_bpc"])
    return {"best_bpc": best["val_bpc"], "time_to_best": best["train_seconds"], "chars_per_s": r.chars_per_s,
            "seconds": r.seconds, "steps": r.steps}


def run_ours(kind, corpus, target_bpc, minutes, setting, eval_chars, tail_chars, seed, out: Path) -> dict:
    """Our trainer until its validation bpc <= target_bpc; training time with validation excluded."""
    B, T, lr = setting
    cfg = TrainConfig(epochs=None, max_minutes=minutes, batch_size=B, seq_len=T, lr=lr, eval_every=max(1, eval_chars // (B * T)),
                      val_max_chars=tail_chars, seed=seed, device="cpu")
    clock = {"start": None, "last_step": None, "eval": 0.0, "reached": None, "best": None, "chars": 0, "train": 0.0}

    def callback(p) -> None:
        now = time.perf_counter()
        if p.kind == "start":
            clock["start"] = clock["last_step"] = now
        elif p.kind == "step":
            clock["last_step"] = now
        elif p.kind == "eval":
            clock["eval"] += now - clock["last_step"]  # validation + checkpoint write since the last step
            clock["train"] = now - clock["start"] - clock["eval"]
            clock["chars"] = p.chars
            clock["best"] = p.val_bpc if clock["best"] is None else min(clock["best"], p.val_bpc)
            if clock["reached"] is None and p.val_bpc <= target_bpc:
                clock["reached"] = clock["train"]

    try:
        train(model_config(kind), cfg, corpus, out, callback=callback, should_stop=lambda: clock["reached"] is not None)
    except TrainingInterrupted:
        pass  # stopped on purpose: it reached the notebook's best
    return {"time_to_target": clock["reached"], "best_bpc": clock["best"], "chars_per_s": clock["chars"] / clock["train"],
            "seconds": clock["train"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--notebook-minutes", type=float, default=2.0, help="the notebook method's training budget per model")
    ap.add_argument("--notebook-eval-every", type=int, default=400, help="its steps between validations")
    ap.add_argument("--eval-chars", type=int, default=81920, help="our trainer validates after about this many characters")
    ap.add_argument("--ours", nargs="+", default=["64,128,0.003", "32,64,0.006"], help="our settings: batch,seq_len,lr")
    ap.add_argument("--repeats", type=int, default=3, help="runs of our trainer per model (and notebook rate runs)")
    ap.add_argument("--rate-seconds", type=float, default=15.0, help="length of the notebook's extra rate runs")
    ap.add_argument("--tail-chars", type=int, default=16384, help="held-out characters both methods are scored on")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--kinds", default="lstm,attention")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        corpus = load_corpus([str(shakespeare_slice(Path(tmp)))])
        print(f"# Training speed: our trainer vs the notebook's method\n\n`{command_line()}`\n")
        print(f"{corpus.summary()}; scored on the first {args.tail_chars:,} held-out characters; "
              f"{torch.get_num_threads()} torch thread(s); embed 128, hidden 256, attention window 20\n")
        rows = []
        for kind in args.kinds.split(","):
            nb = run_notebook(kind, corpus, args.notebook_minutes, args.notebook_eval_every, args.tail_chars)
            rates = [nb["chars_per_s"]] + [
                run_notebook(kind, corpus, args.rate_seconds / 60, 10**9, 64, seed=i + 1)["chars_per_s"]
                for i in range(args.repeats - 1)]
            print(f"{kind}: the notebook's method: best {nb['best_bpc']:.3f} bpc after {nb['time_to_best']:.1f}s of "
                  f"{nb['seconds']:.1f}s ({nb['steps']} steps)", flush=True)
            rows.append((kind, "notebook's method (64 x 20-char windows, lr 0.003)", statistics.median(rates), nb["best_bpc"],
                         nb["time_to_best"], 1.0))
            for spec in args.ours:
                B, T, lr = int(spec.split(",")[0]), int(spec.split(",")[1]), float(spec.split(",")[2])
                ours = [run_ours(kind, corpus, nb["best_bpc"], args.notebook_minutes, (B, T, lr), args.eval_chars,
                                 args.tail_chars, seed, Path(tmp) / f"{kind}-{seed}.safetensors") for seed in range(args.repeats)]
                times = [o["time_to_target"] for o in ours]
                t_ours = statistics.median(t if t is not None else float("inf") for t in times)
                print(f"{kind}: ours {B} x {T}, lr {lr:g}: reached it after "
                      f"{', '.join('never' if t is None else f'{t:.1f}s' for t in times)}", flush=True)
                rows.append((kind, f"ours: trainer.train, {B} x {T}, lr {lr:g}", statistics.median(o["chars_per_s"] for o in ours),
                             statistics.median(o["best_bpc"] for o in ours), t_ours, nb["time_to_best"] / t_ours))
        print("\n| model | method | chars of supervision / s | best tail bpc reached | time to the notebook's best (s) | speed-up |")
        print("|---|---|---|---|---|---|")
        for kind, method, rate, bpc, t, ratio in rows:
            print(f"| {kind} | {method} | {rate:,.0f} | {bpc:.3f} | {t:.1f} | {ratio:.1f}x |")
        print(f"\nmedians over {args.repeats} repeats (our runs: seeds 0..{args.repeats - 1}; the notebook's rate: its main "
              f"run and {args.repeats - 1} runs of {args.rate_seconds:g}s); the notebook's main run: {args.notebook_minutes:g} min, seed 0")


if __name__ == "__main__":
    main()
