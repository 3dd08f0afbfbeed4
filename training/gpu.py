"""One training run of a candidate network on a lent GPU (training/README.md, "On a GPU").

The project's own trainer (`charcomplete.trainer.train`), as `charcomplete train` runs it, with
one thing the command line does not offer: a network of a new size that reads the characters
of an existing model (`--vocab-of`), so that model's corpus memory (built in its vocabulary)
fits the new network unchanged. `--init` fine-tunes a model instead (its size and vocabulary);
with `--teacher` it learns from a larger model's predictions as well as from the text (distils it).

    python training/gpu.py --out runs/prose-512.safetensors --vocab-of checkpoints/prose.safetensors \
        --hidden 512 --corpus ../shared/corpus/shakespeare ... --minutes 8 --batch-size 256 --device cuda
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from charcomplete.checkpoint import load_checkpoint  # noqa: E402
from charcomplete.config import ModelConfig  # noqa: E402
from charcomplete.corpus import load_corpus  # noqa: E402
from charcomplete.trainer import TrainConfig, train  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path, help="the checkpoint to write (the best by validation)")
    ap.add_argument("--corpus", action="append", required=True, help="a training folder (repeatable; the reader skips a folder given twice: to count one twice, give a copy)")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--init", help="fine-tune this checkpoint (its size and vocabulary)")
    src.add_argument("--vocab-of", help="a new network in this checkpoint's vocabulary")
    ap.add_argument("--hidden", type=int, default=256, help="LSTM width of a new network")
    ap.add_argument("--embed", type=int, default=64, help="embedding width of a new network")
    ap.add_argument("--layers", type=int, default=1, help="LSTM layers of a new network")
    ap.add_argument("--window", type=int, default=32, help="attention window of a new network")
    ap.add_argument("--minutes", type=float, required=True, help="wall-clock budget (the cosine schedule spans it)")
    ap.add_argument("--batch-size", type=int, default=256, help="parallel streams per step")
    ap.add_argument("--seq-len", type=int, default=128, help="characters per chunk")
    ap.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate (cosine decay to 10%%)")
    ap.add_argument("--eval-every", type=int, default=2000, help="steps between validations")
    ap.add_argument("--teacher", help="a model in the same vocabulary whose predicted distributions the network learns too")
    ap.add_argument("--teacher-weight", type=float, default=0.5, help="the teacher's share of the loss (the text has the rest)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    init_model, _, vocab = load_checkpoint(args.init or args.vocab_of, device="cpu")
    if args.init:
        init_model.train()
        model_cfg = init_model.cfg
    else:
        init_model = None
        model_cfg = ModelConfig(kind="attention", embed=args.embed, hidden=args.hidden, layers=args.layers, window=args.window)
    teacher = load_checkpoint(args.teacher, device="cpu")[0] if args.teacher else None
    t0 = time.perf_counter()
    corpus = load_corpus(args.corpus, vocab=vocab)
    print(f"{corpus.description}: {len(corpus.train):,} training, {len(corpus.val):,} held-out characters "
          f"({time.perf_counter() - t0:.0f} s to read)", flush=True)
    cfg = TrainConfig(epochs=None, max_minutes=args.minutes, batch_size=args.batch_size, seq_len=args.seq_len, lr=args.lr,
                      eval_every=args.eval_every, seed=args.seed, device=args.device)

    def report(p) -> None:
        if p.kind == "eval":
            print(f"step {p.step} epoch {p.epoch:.2f} {p.elapsed:.0f}s train {p.train_bpc or float('nan'):.3f} "
                  f"val {p.val_bpc:.4f} acc {p.val_acc:.4f} {p.chars_per_s:,.0f} chars/s", flush=True)
        elif p.kind == "step" and p.step in (10, 100, 500):
            print(f"step {p.step} {p.elapsed:.1f}s {p.chars_per_s:,.0f} chars/s", flush=True)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    r = train(model_cfg, cfg, corpus, args.out, callback=report, init_model=init_model,
              teacher=teacher, teacher_weight=args.teacher_weight)
    print(f"done: {r.steps} steps, {r.chars:,} chars, {r.seconds:.0f} s, {r.chars_per_s:,.0f} chars/s, "
          f"{r.parameters:,} parameters, best val {r.best_val_bpc:.4f}", flush=True)


if __name__ == "__main__":
    main()
