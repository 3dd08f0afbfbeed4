"""Does adaptation pay? Bits per character and keystroke savings (KSR) with and without it.

Evaluation sets: (a) a sample of the validation tails of ../shared/corpus (both folders, as the
trainer split them); (b) generated "notes": meeting notes full of invented names, project
code names and terms no model has seen, repeated as notes repeat them (deterministic: seeded);
(c) bench/data/modern-prose.txt (in neither folder). Every text is a fresh document with no
user history (the document cache; for a model with a corpus memory also the network's output
layer, as in the editor: Completer.set_adaptive); the "notes, with history" row first learns one set
of notes as the user's history, then types another set about the same people and projects.

bpc here is the Completer's own next-character distribution (mixed when adapting), stepping
through the text, so both columns are the same computation. Nothing is read from or written to
the user data dir.

    python bench/adapt.py [--model attention] [--chars 3000] [--files 4]
    python bench/adapt.py --latency   # suggestion latency with and without, and the costs of adapting
    python bench/adapt.py --tune   # the discount/strength/orders grid behind AdaptConfig's defaults
"""

from __future__ import annotations

import argparse
import itertools
import math
import random
import statistics
import time
from dataclasses import replace

import numpy as np

from common import REPO, SHARED, command_line, one_thread, sample, tails

from charcomplete.adapt import AdaptConfig, AdaptiveModel, History
from charcomplete.completion import Policy, load_completer
from charcomplete.evaluate import completer_ksr, measure_latency
from charcomplete.vocab import normalize_newlines

SYLLABLES = ["ka", "zor", "vel", "qui", "tam", "bri", "xo", "nel", "drak", "sy", "mur", "fen", "ol", "gra", "thi", "wex",
             "lun", "pra", "zeb", "ith", "ko", "rha", "vun", "sel"]
TEMPLATES = [
    "- {p} met {q} about {proj}; next step: {term}.\n",
    "- {proj} status: {p} says the {term} is blocked on {proj2}.\n",
    "- Action ({p}): send {q} the {term} notes before the {proj} review.\n",
    "- {q} asked whether {proj} needs a {term}; {p} will check with {r}.\n",
    "- Decision: {proj2} moves to the {term} track, owner {r}.\n",
    "- {p} and {q} to pair on the {term} for {proj} this week.\n",
    "- Open question from {r}: can the {term} ship without {proj2}?\n",
    "- {q} demoed the new {term}; {p} found two bugs in it.\n",
    "- Budget for {proj} approved; {r} to order the {term} hardware.\n",
    "- Risk: {proj2} depends on {p}, who is away until Friday.\n",
    "- {p}: the {term} benchmark is 3x slower since the {proj2} merge.\n",
    "- Customer call with {q} and {r}: they want {proj} in March.\n",
]


def word(rng: random.Random, lo: int, hi: int) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(lo, hi)))


def notes_text(seed: int, chars: int, world_seed: int = 0) -> str:
    """Meeting notes about a small invented world (people, projects, terms chosen by `world_seed`),
    `chars` long, the sequence of notes chosen by `seed`."""
    world = random.Random(world_seed)
    people = [f"{word(world, 1, 2).title()} {word(world, 2, 3).title()}" for _ in range(8)]
    projects = [f"Project {word(world, 2, 3).title()}" for _ in range(4)]
    terms = [f"{word(world, 2, 3)} {word(world, 2, 3)}" for _ in range(6)]
    rng = random.Random(seed)
    out, day = [], 1
    while sum(map(len, out)) < chars:
        out.append(f"\nNotes, day {day}\n")
        for _ in range(rng.randint(3, 6)):
            p, q, r = rng.sample(people, 3)
            proj, proj2 = rng.sample(projects, 2)
            out.append(rng.choice(TEMPLATES).format(p=p, q=q, r=r, proj=proj, proj2=proj2, term=rng.choice(terms)))
        day += 1
    return "".join(out)[:chars]


def completer_bpc(c, text: str) -> float:
    """Bits per character of the Completer's own next-character distribution over `text` (the
    first character is not scored), stepping through it as a user would type it."""
    text = normalize_newlines(text)
    ids = c.vocab.encode(text)
    c.reset()
    nll = 0.0
    for i in range(1, len(text)):
        c.observe(text[:i])  # as the editor does before it asks
        p = c._probs(c._state_for(text[:i]), text[:i])  # the network's, or the mixture
        nll -= math.log(max(float(p[int(ids[i])]), 1e-12))
    return nll / max(1, len(text) - 1) / math.log(2)


def adaptive(cfg: AdaptConfig | None, history_text: str = "") -> AdaptiveModel | None:
    """A fresh adaptive model (in memory; `history_text` as the user's earlier writing), or None for off."""
    if cfg is None:
        return None
    history = None
    if history_text:
        history = History(None, cfg, save=False)
        history.loaded.add(normalize_newlines(history_text), 0)
    return AdaptiveModel(cfg, history)


def measure(c, texts: list[str], cfg: AdaptConfig | None, history_text: str = "", ksr: bool = True) -> tuple[float, float, float]:
    """(bpc, KSR, precision) over `texts`, each a fresh document (KSR and precision nan when not asked)."""
    nll_bits, n, keys, chars, shown, taken = 0.0, 0, 0, 0, 0, 0
    for t in texts:
        c.set_adaptive(adaptive(cfg, history_text))  # a fresh document for each pass
        nll_bits += completer_bpc(c, t) * (len(t) - 1)
        n += len(t) - 1
        if ksr:
            c.set_adaptive(adaptive(cfg, history_text))
            r = completer_ksr(c, t)
            keys, chars = keys + r["keystrokes"], chars + r["chars"]
            shown, taken = shown + r["shown"], taken + r["accepted"]
    c.set_adaptive(None)
    return nll_bits / n, (1 - keys / chars if chars else float("nan")), (taken / shown if shown else float("nan"))


def eval_sets(chars: int, files: int) -> dict[str, list[str]]:
    sets = {}
    for f in ("shakespeare", "python-docs"):
        val, _ = tails(SHARED / f)
        long_enough = [(p, t) for p, t in val if len(t) >= chars] or val
        sets[f"{f} validation tails"] = [t for _, t in sample(long_enough, chars, files)]
    sets["modern prose (not in the corpus)"] = [(REPO / "bench" / "data" / "modern-prose.txt").read_text()[:chars]]
    sets["generated notes"] = [notes_text(seed, chars, world_seed=seed) for seed in range(1, 3)]
    return sets


def net_probs(c, text: str) -> np.ndarray:
    """(len(text), V): the network's next-character distribution after every prefix of `text`."""
    c.reset()
    return np.stack([np.exp(c._state_for(text[:i]).logits - c._state_for(text[:i]).logits.max()) for i in range(len(text))])


def cache_bpc(c, text: str, p_net: np.ndarray, cfg: AdaptConfig) -> float:
    """bpc of the mixture for `cfg`, reusing the network's distributions (fast: for tuning)."""
    ids, m, nll = c.vocab.encode(text), AdaptiveModel(cfg), 0.0
    for i in range(1, len(text)):
        m.observe(text[:i])
        p = m.mix(p_net[i] / p_net[i].sum(), text[max(0, i - 64) : i], c._index)
        nll -= math.log(max(float(p[int(ids[i])]), 1e-12))
    return nll / (len(text) - 1) / math.log(2)


def tune(c, args) -> None:
    sets = {k: [(normalize_newlines(t), None) for t in v] for k, v in eval_sets(args.chars, args.files).items()}
    for texts in sets.values():
        for j, (t, _) in enumerate(texts):
            texts[j] = (t, net_probs(c, t))
    print("| min order | max order | discount | strength | mix rate | mix init | " + " | ".join(f"{k} bpc" for k in sets) + " |")
    print("|---" * (6 + len(sets)) + "|")
    base = [measure(c, [t for t, _ in v], None, ksr=False)[0] for v in sets.values()]
    print("| off | | | | | | " + " | ".join(f"{b:.3f}" for b in base) + " |", flush=True)
    grid = itertools.product(args.min_orders, args.max_orders, args.discounts, args.strengths, args.mix_rates, args.mix_inits)
    for lo, hi, d, b, rate, init in grid:
        cfg = AdaptConfig(min_order=lo, max_order=hi, discount=d, strength=b, mix_rate=rate, mix_init=init)
        row = []
        for texts in sets.values():
            n = sum(len(t) - 1 for t, _ in texts)
            row.append(sum(cache_bpc(c, t, p, cfg) * (len(t) - 1) for t, p in texts) / n)
        print(f"| {lo} | {hi} | {d} | {b} | {rate} | {init} | " + " | ".join(f"{x:.3f}" for x in row) + " |", flush=True)


def dynamic_eval(c, text: str, lr: float, segment: int = 32) -> tuple[float, float]:
    """Dynamic evaluation (Krause et al. 2018, plain SGD): score each `segment` characters, then one
    gradient step on them. (bpc, ms per update on one thread)."""
    import copy

    import torch
    import torch.nn.functional as F

    model = copy.deepcopy(c.model)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    ids = torch.from_numpy(c.vocab.encode(text).astype(np.int64))
    state, nll, n, times = None, 0.0, 0, []
    for s in range(0, len(ids) - 1, segment):
        y = ids[s + 1 : s + 1 + segment][None]
        logits, state = model(ids[s : s + y.shape[1]][None], state)
        loss = F.cross_entropy(logits[0], y[0], reduction="sum")
        nll, n = nll + loss.item(), n + y.numel()
        t0 = time.perf_counter()
        opt.zero_grad()
        (loss / y.numel()).backward()
        opt.step()
        times.append(time.perf_counter() - t0)
        state = tuple(t.detach() for t in state)
    return nll / n / math.log(2), statistics.median(times) * 1000


def dyneval_table(c, args) -> None:
    sets = eval_sets(args.chars, args.files)
    print("| learning rate | " + " | ".join(f"{k} bpc" for k in sets) + " | ms per update (32 chars) |")
    print("|---" * (2 + len(sets)) + "|")
    for lr in (0.0, 0.01, 0.03, 0.1, 0.3):
        rows = [[dynamic_eval(c, normalize_newlines(t), lr) for t in texts] for texts in sets.values()]
        bpc = [statistics.mean(b for b, _ in r) for r in rows]
        ms = statistics.median(m for r in rows for _, m in r)
        print(f"| {lr} | " + " | ".join(f"{b:.3f}" for b in bpc) + f" | {ms:.2f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="attention", help="model name or path (default: attention, the network alone, as the figures that give no --model were measured)")
    ap.add_argument("--chars", type=int, default=3000, help="characters per text")
    ap.add_argument("--files", type=int, default=4, help="validation files per corpus folder")
    ap.add_argument("--tune", action="store_true", help="print the bpc grid over AdaptConfig settings instead")
    ap.add_argument("--latency", action="store_true", help="print suggestion latency and the adaptive model's costs instead")
    ap.add_argument("--dyneval", action="store_true", help="print bpc of dynamic evaluation (SGD on the text) instead")
    ap.add_argument("--min-orders", type=int, nargs="+", default=[1, 2, 3], help="--tune: min_order values")
    ap.add_argument("--max-orders", type=int, nargs="+", default=[6, 8], help="--tune: max_order values")
    ap.add_argument("--discounts", type=float, nargs="+", default=[0.5, 0.75], help="--tune: discount values")
    ap.add_argument("--mix-rates", type=float, nargs="+", default=[0.0, 1.0], help="--tune: mix_rate values")
    ap.add_argument("--mix-inits", type=float, nargs="+", default=[0.8], help="--tune: mix_init values")
    ap.add_argument("--strengths", type=float, nargs="+", default=[0.5, 1.0, 2.0], help="--tune: strength values")
    args = ap.parse_args()
    one_thread()
    c = load_completer(args.model, adapt=False)
    print(f"# adaptation, model {c.name} ({c.kind})\n\n`{command_line()}`\n")
    if args.tune:
        tune(c, args)
        return
    if args.dyneval:
        dyneval_table(c, args)
        return
    cfg = AdaptConfig()
    if args.latency:
        latency(c, cfg)
        return
    print(f"AdaptConfig: orders {cfg.min_order}-{cfg.max_order}, discount {cfg.discount}, strength {cfg.strength}\n")
    print("| eval set | texts x chars | bpc off | bpc adapting | KSR off | KSR adapting | KSR change | precision off | precision adapting |\n"
          "|---|---|---|---|---|---|---|---|---|")
    sets = eval_sets(args.chars, args.files)
    rows = [(k, v, "") for k, v in sets.items()]
    rows.append(("generated notes, with history", [notes_text(3, args.chars, world_seed=1)], notes_text(4, args.chars, world_seed=1)))
    for label, texts, history in rows:
        bpc0, ksr0, prec0 = measure(c, texts, None)
        bpc1, ksr1, prec1 = measure(c, texts, cfg, history)
        print(f"| {label} | {len(texts)} x {len(texts[0]):,} | {bpc0:.3f} | {bpc1:.3f} | {ksr0:.3f} | {ksr1:.3f} | "
              f"{(ksr1 / ksr0 - 1) * 100:+.1f}% | {prec0:.3f} | {prec1:.3f} |", flush=True)
    c.set_adaptive(None)


def latency(c, cfg: AdaptConfig) -> None:
    print("Suggestion latency, 1 thread, typing the generated notes then modern prose (bench/latency.py's method, "
          "medians of 3 repeats):\n")
    print("| policy | adaptation | typing p50 ms | typing p99 ms | after a jump p50 ms | after a jump p99 ms |\n|---|---|---|---|---|---|")
    text = (notes_text(5, 1500, world_seed=5) + (REPO / "bench" / "data" / "modern-prose.txt").read_text())[:3000]
    shipped = c.policy
    for pol_label, pol in (("shipped policy, max 16 chars", replace(shipped, max_chars=16)),
                           ("forced 16-char greedy continuation", Policy(max_chars=16, min_chars=1, threshold=0.0, boundary="phrase"))):
        c.policy = pol
        for label, config in (("off", None), ("on", cfg)):
            runs = []
            for _ in range(3):
                c.set_adaptive(adaptive(config))
                runs.append(measure_latency(c, text, max_chars=16))
            med = lambda f: statistics.median(getattr(r, f) for r in runs)  # noqa: E731
            print(f"| {pol_label} | {label} | {med('typing_p50_ms'):.3f} | {med('typing_p99_ms'):.3f} | "
                  f"{med('jump_p50_ms'):.3f} | {med('jump_p99_ms'):.3f} |", flush=True)
    c.policy = shipped
    c.set_adaptive(None)
    costs(c, cfg)


def costs(c, cfg: AdaptConfig) -> None:
    """Microseconds to learn a character and to mix one prediction; a full history's size and load time."""
    import tempfile
    from pathlib import Path

    text = normalize_newlines(notes_text(6, 20_000, world_seed=6))
    m = AdaptiveModel(cfg)
    t0 = time.perf_counter()
    m.doc.add(text, 0)
    learn_us = (time.perf_counter() - t0) / len(text) * 1e6
    p_net = np.full(len(c.vocab), 1.0 / len(c.vocab), dtype=np.float32)
    t0 = time.perf_counter()
    for i in range(64, len(text)):
        m.mix(p_net, text[i - 64 : i], c._index)
    mix_us = (time.perf_counter() - t0) / (len(text) - 64) * 1e6
    _, train = tails(SHARED / "python-docs")
    with tempfile.TemporaryDirectory() as d:
        h = History(Path(d) / "history.json", cfg)
        h.new.add(train[: 4 * cfg.max_contexts], 0)  # more than max_contexts contexts
        h.dirty = True
        h.save()
        size = h.path.stat().st_size
        t0 = time.perf_counter()
        h = History(h.path, cfg)  # a full history, as the editor starts
        load_s = time.perf_counter() - t0
        h.new.add(text[:5000], 0)  # a session's typing
        h.dirty = True
        t0 = time.perf_counter()
        h.save()
        save_s = time.perf_counter() - t0
    print(f"\nCosts, 1 thread: learning {learn_us:.1f} us per character; mixing {mix_us:.1f} us per predicted character "
          f"(notes, {len(text):,} characters). A full history ({len(h.loaded):,} contexts): {size / 1e6:.1f} MB, "
          f"loaded in {load_s:.2f} s (at start), saved with 5,000 characters typed in {save_s:.2f} s (in the background).")


if __name__ == "__main__":
    main()
