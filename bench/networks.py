"""Networks side by side on each corpus folder's held-out tails: the trainer's validation
(bits per character and top-1 of the network alone, no memory, no adaptation) on the same
evenly spread sample of every folder's last 5 %. What decides whether a newly trained network
replaces a shipped one.

    python bench/networks.py checkpoints/attention.safetensors runs/prose-net.safetensors \
        [--folders shakespeare,python-docs,tech-prose] [--chars 65536]
"""

from __future__ import annotations

import argparse

from common import SHARED, command_line, one_thread

from charcomplete.checkpoint import load_checkpoint
from charcomplete.corpus import load_corpus
from charcomplete.trainer import score_ids, validation_sample, validation_streams


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", nargs="+", help="checkpoint paths (the first one's vocabulary reads the text)")
    ap.add_argument("--folders", default="shakespeare,python-docs,tech-prose,python-src")
    ap.add_argument("--chars", type=int, default=65536, help="held-out characters per folder (16 spread pieces)")
    args = ap.parse_args()
    one_thread()
    models = [load_checkpoint(p)[0] for p in args.checkpoints]
    vocab = load_checkpoint(args.checkpoints[0])[2]
    print(f"`{command_line()}`\n")
    print("| folder | " + " | ".join(args.checkpoints) + " |")
    print("|---|" + "---|" * len(models))
    for folder in args.folders.split(","):
        val = validation_sample(load_corpus([str(SHARED / folder)], vocab=vocab).val, args.chars)
        cells = []
        for m in models:
            s = score_ids(m, val, validation_streams(len(val), 64, 128), 128, "cpu")
            cells.append(f"{s['bpc']:.3f} bpc, top-1 {s['top1']:.3f}")
        print(f"| {folder} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
