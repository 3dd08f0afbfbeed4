"""The network's output layer adapting to the document (charcomplete/netadapt.py): its rate.

Sequential bits per character as the editor runs (`evaluate.sequential_bpc`: the shipped `prose`
and `code` models with their memories, adapting, each document fresh, no user history) on the
held-out tuning sets of bench/memory.py (the last 5 % of the corpus folders' files; not the texts
bench/quality.py reports on), for each rate of `NetAdaptConfig.lr` (0: off, the release before it).

    python bench/netadapt.py [--rates 0,0.001,0.003,0.005,0.01] [--min-step S] [--chars 9000] [--doc-chars 3000]
"""

from __future__ import annotations

import argparse

from common import command_line, one_thread
from memory import eval_sets

from charcomplete.adapt import AdaptiveModel
from charcomplete.completion import load_completer
from charcomplete.evaluate import sequential_bpc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default="0,0.001,0.003,0.005,0.01", help="NetAdaptConfig.lr values")
    ap.add_argument("--min-step", type=float, default=None, help="NetAdaptConfig.min_step (default: the shipped one)")
    ap.add_argument("--chars", type=int, default=9000, help="held-out characters per set")
    ap.add_argument("--doc-chars", type=int, default=3000, help="characters per document (each one fresh)")
    args = ap.parse_args()
    one_thread()
    rates = [float(r) for r in args.rates.split(",")]
    sets = {name: v for name, v in eval_sets(args).items() if name != "modern-prose"}  # modern-prose.txt: a reporting text
    models = {kind: load_completer(kind, adapt=AdaptiveModel()) for kind in ("prose", "code")}
    print(f"# the output layer's adaptation: sequential bpc as the editor runs, {args.chars:,} characters per set\n\n`{command_line()}`\n")
    print("| set | model | " + " | ".join(f"lr {r}" for r in rates) + " |\n|---|---|" + "---|" * len(rates))
    for name, (kind, docs) in sets.items():
        c = models[kind]
        row = []
        for rate in rates:
            cfg = c.net_adapt.cfg
            cfg.lr = rate
            cfg.min_step = cfg.min_step if args.min_step is None else args.min_step
            bits = chars = 0.0
            for doc in docs:
                c.adapt = AdaptiveModel()  # a fresh document, no user history
                r = sequential_bpc(c, doc)
                bits, chars = bits + r["bpc"] * r["chars"], chars + r["chars"]
            row.append(f"{bits / chars:.4f}")
        print(f"| {name} | {kind} | " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
