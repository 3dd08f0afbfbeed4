"""Where a model's ghosts save keystrokes against Presage's, by position in the sentence.

Types bench/tuning.py's sentence sets (each text a fresh document, as bench/quality.py's KSR
does: `evaluate.keystroke_savings`'s simulated user) with the model (adapting as the editor
runs) and with Presage's top-1 word + space (built from the model's training text, as in
bench/quality.py), and counts characters saved / ghosts taken / ghosts shown by the word the
cursor is in (1, 2, 3, 4 and later) and whether it is at the word's start (no letter of it typed
yet) or inside it. Needs presage (bench/peers.py).

    cd bench && python word_starts.py [--model prose] [--only "everyday sentences"]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter

import peers
from common import command_line, one_thread
from quality import training_texts
from tuning import tuning_sets

from charcomplete.adapt import AdaptiveModel
from charcomplete.completion import load_completer
from charcomplete.vocab import normalize_newlines

SENTENCE_SETS = ("README sentences", "everyday sentences", "short sentences")


def simulate(suggest, text: str, who: str, counts: Counter) -> None:
    """Type `text` taking `suggest`'s ghost when the text goes on with it; count by position."""
    text = normalize_newlines(text)
    pos = 0
    while pos < len(text):
        ghost = suggest(text[:pos])
        inside = pos > 0 and not text[pos - 1].isspace()
        where = (min(len(re.findall(r"\S+", text[:pos])) + (not inside), 4), inside)  # (word 1.., inside it)
        counts[who, "shown", where] += bool(ghost)
        if ghost and text.startswith(ghost, pos):
            counts[who, "saved", where] += len(ghost) - 1  # one key (Tab) for the ghost
            counts[who, "taken", where] += 1
            pos += len(ghost)
        else:
            pos += 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="prose")
    ap.add_argument("--only", action="append", help="only these tuning sets (default: the three of sentences)")
    args = ap.parse_args()
    one_thread()
    if not peers.have_presage():
        raise SystemExit("presage is not installed (bench/peers.py says how)")
    sets = tuning_sets()
    db = peers.presage_database(training_texts()["prose"])
    c = load_completer(args.model, adapt=AdaptiveModel())
    print(f"`{command_line()}`\n")
    for name in args.only or SENTENCE_SETS:
        counts: Counter = Counter()
        for text in sets[name]:
            c.new_document()
            c.reset()

            def ours(ctx: str) -> str:
                c.observe(ctx)
                ghost = c.suggest(ctx).text
                c.learn_network()
                return ghost

            simulate(ours, text, "model", counts)
            engine = peers.Presage(db)
            simulate(lambda ctx: engine.ghost(ctx, True), text, "presage", counts)
            engine.close()
        print(f"{name} ({len(sets[name])} texts): characters saved / ghosts taken / ghosts shown\n")
        print(f"| word | where | {args.model} | Presage, word + space |\n|---|---|---|---|")
        for word in range(1, 5):
            for inside in (False, True):
                cells = [" / ".join(str(counts[who, k, (word, inside)]) for k in ("saved", "taken", "shown")) for who in ("model", "presage")]
                print(f"| {word if word < 4 else '4+'} | {'inside' if inside else 'start'} | {cells[0]} | {cells[1]} |")
        print()


if __name__ == "__main__":
    main()
