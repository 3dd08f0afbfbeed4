"""The corpus memory (charcomplete/memory.py) mixed in by the online mixer (charcomplete/mixer.py).

Builds a prose memory (shakespeare/, python-docs/, tech-prose/) and a code memory (python-src/)
from the first 95 % of every file, and measures on held-out text (the last 5 % of the files, and
bench/data/modern-prose.txt), each document fresh as in the editor, sequential bits per character of
  (a) the network alone,
  (b) the network + the document cache (charcomplete.adapt.AdaptiveModel, no history), as the editor runs,
  (c) (b) + the memory, through the mixer (experts: network, (b), memory),
  (d) (c) + the partial-word model (charcomplete/words.py: the memory's word table and the
      document's partial words over (b)), the editor's mixer (the four experts, mixer.MixerConfig()),
plus the memory's size on disk, build and load time, and latency of predict and mix + update.

The network's and the cache's distributions are computed once per set and cached under --work
(they do not depend on the memory), so --sweep can compare memory and mixer settings quickly.

    python bench/memory.py                     # the table (about 10 minutes on 2 shared cores)
    python bench/memory.py --sweep             # pruning / blending settings against the same cache
    python bench/memory.py --sweep-mixer       # mixer settings on the default memory
    python bench/memory.py --model prose --sweep-words   # the partial-word model's discount, the starting weights
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import math
import time
from pathlib import Path

import numpy as np

from common import REPO, SHARED, command_line, one_thread, sample, tails

from charcomplete.adapt import AdaptiveModel
from charcomplete.memory import CorpusMemory, MemoryConfig, build_memory, load_memory
from charcomplete.mixer import (COUNT_DOC_KEYS, COUNT_WORD_KEYS, MEMORY_DOC_KEYS, Mixer, MixerConfig, count_doc_key, default_keys,
                                doc_match_order, memory_doc_key)
from charcomplete.words import blend, count_words, partial_word

PROSE = ("shakespeare", "python-docs", "tech-prose")
CODE = ("python-src",)


def load(model: str):
    """A Completer for `model` (a shipped name, or a checkpoint path), without its corpus memory."""
    try:
        from charcomplete.completion import load_completer

        return load_completer(model, memory=False)  # the network alone: (b) must not hold a shipped memory already
    except ImportError:  # modules moving under a refactor: fall back to the checkpoint itself
        from charcomplete.checkpoint import load_checkpoint
        from charcomplete.completion import Completer

        path = Path(model) if model.endswith(".safetensors") else REPO / "checkpoints" / f"{model}.safetensors"
        net, meta, vocab = load_checkpoint(path)
        return Completer(net, vocab, name=path.stem, meta=meta)


def corpus(folders) -> tuple[str, list[str]]:
    """(training text: the first 95 % of every file, [held-out tails])."""
    train, val = [], []
    for f in folders:
        v, t = tails(SHARED / f)
        train.append(t)
        val += [x for _, x in v]
    return "".join(train), val


def eval_sets(args) -> dict[str, tuple[str, list[str]]]:
    """name -> (memory kind, documents)."""
    per = args.chars // args.doc_chars
    sets = {}
    for f in PROSE + CODE:
        v, _ = tails(SHARED / f)
        sets[f] = ("code" if f in CODE else "prose", [t for _, t in sample(v, args.doc_chars, per)])
    modern = (REPO / "bench" / "data" / "modern-prose.txt").read_text()
    sets["modern-prose"] = ("prose", [modern[i * args.doc_chars : (i + 1) * args.doc_chars] for i in range(per)])
    return sets


def expert_cache(c, name: str, docs: list[str], work: Path) -> dict:
    """The network's and the document cache's distributions at every position of every document."""
    key = "\0".join(docs) + c.name + ("" if c.memory is None else "+memory")
    digest = hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    path = work / f"experts-{name}-{digest}.npz"
    if path.exists():
        return dict(np.load(path))
    p_net, p_doc, orders, ys, starts = [], [], [], [], [0]
    for text in docs:
        c.adapt = AdaptiveModel()  # a fresh document, no history
        c.reset()
        ids = c.vocab.encode(text)
        for i in range(1, len(text)):
            ctx = text[:i]
            c.adapt.observe(ctx)  # as the editor does before it asks (Completer.observe)
            st = c._state_for(ctx)
            z = np.exp(st.logits - st.logits.max())
            p_net.append((z / z.sum()).astype(np.float32))
            p_doc.append(c._probs(st, ctx).astype(np.float32))
            orders.append(doc_match_order(c.adapt.doc.table, ctx, c.adapt.cfg.min_order, c.adapt.cfg.max_order))
            ys.append(int(ids[i]))
        starts.append(len(ys))
    c.adapt = None
    out = {"p_net": np.stack(p_net), "p_doc": np.stack(p_doc), "doc_order": np.array(orders), "y": np.array(ys),
           "starts": np.array(starts)}
    work.mkdir(parents=True, exist_ok=True)
    np.savez(path, **out)
    return out


def memory_probs(mem: CorpusMemory, docs: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[float]]:
    """((T, V) the memory's distributions, (T,) its longest matched orders, (T,) how often those
    were seen, latencies in seconds)."""
    probs, orders, counts, lat = [], [], [], []
    for text in docs:
        ids = mem.vocab.encode(text)
        for i in range(1, len(text)):
            t0, c0 = time.perf_counter(), time.thread_time()
            p, info = mem.predict(ids[max(0, i - mem.max_order) : i])
            lat.append((time.perf_counter() - t0, time.thread_time() - c0))
            probs.append(p)
            orders.append(info["order"])
            counts.append(info["count"])
    return np.stack(probs), np.array(orders), np.array(counts), lat


def bpc(p: np.ndarray, y: np.ndarray) -> float:
    return float(-np.log2(np.maximum(p[np.arange(len(y)), y], 1e-30)).mean())


# the mixer of these three experts (network, cache, memory) as the memory shipped with it; the
# editor's mixer has a fourth, the partial-word model (words.py; docs/benchmarks.md)
FOUR = dict(n_inputs=4, key_sizes=(MEMORY_DOC_KEYS, COUNT_WORD_KEYS))  # the editor's mixer before the match model (match.py)
MIXER3 = MixerConfig(n_inputs=3, key_sizes=(MEMORY_DOC_KEYS, COUNT_DOC_KEYS), init=(0.0, 0.6, 0.5))


def mix_keys(cfg: MixerConfig, mem_order: int, mem_count: int, doc_order: int):
    """The mixer's key(s): memory order × document match, and for two layers also count × document match."""
    if len(cfg.key_sizes) == 1:
        return memory_doc_key(mem_order, doc_order)
    return memory_doc_key(mem_order, doc_order), count_doc_key(mem_count, doc_order)


def mixed_bpc(ex: dict, p_mem: np.ndarray, mem_order: np.ndarray, mem_count: np.ndarray, cfg: MixerConfig,
              lat: list | None = None, learn: bool = True) -> float:
    """Sequential bpc of the mixer over (network, cache, memory), a fresh mixer per document."""
    nll, mixer = 0.0, Mixer(cfg)
    starts = ex["starts"]
    for a, b in zip(starts[:-1], starts[1:]):
        mixer.reset()
        for t in range(a, b):
            t0, c0 = time.perf_counter(), time.thread_time()
            key = mix_keys(cfg, int(mem_order[t]), int(mem_count[t]), int(ex["doc_order"][t]))
            p = mixer.mix((ex["p_net"][t], ex["p_doc"][t], p_mem[t]), key, learn=learn)
            y = int(ex["y"][t])
            mixer.update(y)  # (nothing when learn is False)
            if lat is not None:
                lat.append((time.perf_counter() - t0, time.thread_time() - c0))
            nll -= math.log(max(float(p[y]), 1e-30))
    return nll / len(ex["y"]) / math.log(2)


def words_bpc(ex: dict, p_mem: np.ndarray, mem_order: np.ndarray, mem_count: np.ndarray, mem: CorpusMemory,
              docs: list[str], cfg: MixerConfig | None = None, frozen: bool = False) -> float:
    """(d): (c) with the partial-word model as the fourth expert, mixed as the Completer mixes it
    (the memory's word table and the document's partial words, counted as it is typed, over (b)).
    frozen: as with adaptation off (the network, the memory and its word table; nothing learned)."""
    nll, mixer, index = 0.0, Mixer(cfg or MixerConfig(**FOUR)), mem.vocab._index
    starts = ex["starts"]
    for text, a, b in zip(docs, starts[:-1], starts[1:]):
        mixer.reset()
        table: dict = {}  # the document's partial words (ngram.CharCounts.words in the editor)
        for t in range(a, b):
            i = t - a + 1  # predicting text[i] after text[:i]
            prefix = partial_word(text[max(0, i - 64) : i])
            levels, seen = [], 0
            if prefix:
                for level in (mem.word_counts(prefix), None if frozen else table.get(prefix)):
                    if level is not None:
                        levels.append(level)
                seen = table[prefix][0] if prefix in table and not frozen else 0
            base = ex["p_net" if frozen else "p_doc"][t]
            doc = 0 if frozen else int(ex["doc_order"][t])
            keys = default_keys({"order": int(mem_order[t]), "count": int(mem_count[t])}, doc, seen)[:2]  # no match model here
            p = mixer.mix((ex["p_net"][t], base, p_mem[t], blend(base, levels, index) if levels else base), keys, learn=not frozen)
            y = int(ex["y"][t])
            if not frozen:
                mixer.update(y)
            nll -= math.log(max(float(p[y]), 1e-30))
            count_words(table, text, i, i + 1)
    return nll / len(ex["y"]) / math.log(2)


def sweep_words(sets, experts, mems) -> None:
    """bpc of (d) per set for the partial-word model's discount and strength and the mixer's
    starting weights, adapting (as the editor runs) and frozen (adaptation off: the starting
    weights are all there is)."""
    import charcomplete.words as words

    print("| discount d | strength b | starting weights (net / cache / memory / words) | adapting | " + " | ".join(sets) + " |")
    print("|---|---|---|---|" + "---|" * len(sets))
    shipped = words.DISCOUNT, words.STRENGTH
    grid = [(d, b, (0.0, 0.4, 0.4, 0.2)) for d, b in ((0.3, 0.5), (0.15, 0.25), (0.05, 0.05), (0.02, 0.02))]
    grid += [(0.05, 0.05, init) for init in ((0.0, 0.6, 0.5, 0.3), (0.0, 0.35, 0.35, 0.2), (0.0, 0.4, 0.4, 0.15), (0.0, 0.4, 0.4, 0.3))]
    for d, b, init in grid:
        words.DISCOUNT, words.STRENGTH = d, b
        for frozen in (False, True):
            row = []
            for name, (kind, docs) in sets.items():
                p_mem, mem_order, mem_count, _ = memory_probs(mems[kind], docs)
                row.append(words_bpc(experts[name], p_mem, mem_order, mem_count, mems[kind], docs, MixerConfig(init=init, **FOUR), frozen))
            print(f"| {d} | {b} | {'/'.join(f'{w:g}' for w in init)} | {'no' if frozen else 'yes'} | "
                  + " | ".join(f"{x:.3f}" for x in row) + " |", flush=True)
    words.DISCOUNT, words.STRENGTH = shipped
    print("\n(c), the three experts, for comparison (adapting; frozen with the same starting weights as before the words):")
    for frozen in (False, True):
        row = []
        for name, (kind, docs) in sets.items():
            p_mem, mem_order, mem_count, _ = memory_probs(mems[kind], docs)
            ex = experts[name]
            if frozen:
                ex = {**ex, "p_doc": ex["p_net"], "doc_order": np.zeros_like(ex["doc_order"])}
            row.append(mixed_bpc(ex, p_mem, mem_order, mem_count, MIXER3, learn=not frozen))
        print(f"| (c) | | 0/0.6/0.5 | {'no' if frozen else 'yes'} | " + " | ".join(f"{x:.3f}" for x in row) + " |", flush=True)


def ms(lat: list[tuple[float, float]]) -> str:
    """p50 / p99 in ms of wall time (CPU time of the thread in brackets: the machine is shared)."""
    (w50, c50), (w99, c99) = np.percentile(np.array(lat), [50, 99], axis=0) * 1e3
    return f"{w50:.3f} / {w99:.3f} ({c50:.3f} / {c99:.3f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="attention", help="the network (a shipped name or a checkpoint path)")
    ap.add_argument("--chars", type=int, default=20000, help="held-out characters per set")
    ap.add_argument("--doc-chars", type=int, default=4000, help="characters per document (each one fresh)")
    ap.add_argument("--work", default="/tmp/charcomplete-bench-memory", help="where memories and caches go")
    ap.add_argument("--sweep", action="store_true", help="compare pruning and blending settings instead")
    ap.add_argument("--sweep-mixer", action="store_true", help="compare mixer settings on the default memory instead")
    ap.add_argument("--sweep-words", action="store_true", help="compare the partial-word model's settings instead")
    args = ap.parse_args()
    one_thread()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    c = load(args.model)
    sets = eval_sets(args)
    t0 = time.time()
    experts = {name: expert_cache(c, name, docs, work) for name, (_, docs) in sets.items()}
    print(f"(network and cache distributions: {time.time() - t0:.0f} s)", flush=True)
    texts = {"prose": corpus(PROSE)[0], "code": corpus(CODE)[0]}
    if args.sweep or args.sweep_mixer:
        return sweep(c, sets, experts, texts, args.sweep_mixer)
    if args.sweep_words:
        print(f"`{command_line()}`\n")
        mems = {kind: build_memory(text, c.vocab, MemoryConfig()) for kind, text in texts.items()}
        return sweep_words(sets, experts, mems)

    print(f"`{command_line()}`\n")
    print("| memory | training chars | contexts | file MB | build s | load ms | predict p50 / p99 ms, wall (CPU) |")
    print("|---|---|---|---|---|---|---|")
    mems, lat_mix = {}, []
    for kind, text in texts.items():
        t0 = time.perf_counter()
        mem = build_memory(text, c.vocab, MemoryConfig(), description=f"{kind}: " + ", ".join(PROSE if kind == "prose" else CODE))
        built = time.perf_counter() - t0
        path = work / f"{kind}.memory.safetensors"
        mem.save(path)
        t0 = time.perf_counter()
        mems[kind] = load_memory(path)
        loaded = time.perf_counter() - t0
        *_, lat = memory_probs(mems[kind], [d for k, docs in sets.values() if k == kind for d in docs])
        print(f"| {kind} | {len(text):,} | {mems[kind].contexts():,} | {path.stat().st_size / 1e6:.1f} | {built:.0f} | "
              f"{loaded * 1e3:.0f} | {ms(lat)} |", flush=True)
    print("\n| set | memory | chars | (a) network | (b) + document cache | memory alone | (c) (b) + memory, mixed | (c) / (b) "
          "| (d) (c) + partial words | (d) / (c) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, (kind, docs) in sets.items():
        ex = experts[name]
        p_mem, mem_order, mem_count, _ = memory_probs(mems[kind], docs)
        a, b_, m = bpc(ex["p_net"], ex["y"]), bpc(ex["p_doc"], ex["y"]), bpc(p_mem, ex["y"])
        cc = mixed_bpc(ex, p_mem, mem_order, mem_count, MIXER3, lat_mix)
        dd = words_bpc(ex, p_mem, mem_order, mem_count, mems[kind], docs)
        print(f"| {name} | {kind} | {len(ex['y']):,} | {a:.3f} | {b_:.3f} | {m:.3f} | {cc:.3f} | {cc / b_:.3f} | {dd:.3f} "
              f"| {dd / cc:.3f} |", flush=True)
    print(f"\nmix + update latency p50 / p99 ms, wall (CPU): {ms(lat_mix)}")


def sweep(c, sets, experts, texts, mixer_sweep: bool = False) -> None:
    """bpc of (c) per set for memory pruning and blending settings (a memory is built once per pruning)."""
    R = dataclasses.replace
    best = MemoryConfig((1, 2, 3, 4, 5, 6, 8, 12, 20), (1, 1, 2, 2, 3, 4, 5, 5, 5))
    O = (1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 16, 24)
    memories = {
        "orders 1-8,10,12,16,24, min 1,1,1,2,2,3,3,4,4,4,4,4": MemoryConfig(O, (1, 1, 1, 2, 2, 3, 3, 4, 4, 4, 4, 4)),
        "orders 1-8,10,12,16,24, min 1,1,2,3,4,6,8,8,8,8,8,8": MemoryConfig(O, (1, 1, 2, 3, 4, 6, 8, 8, 8, 8, 8, 8)),
        "orders 1-6,8,12,20, min 1,1,2,2,3,4,5,5,5": best,
        "orders 1-6,8,12,20, min 1,1,2,2,3,4,4,4,4": R(best, min_count=(1, 1, 2, 2, 3, 4, 4, 4, 4)),
        "orders 1-4,6,8,12,20, min 1,1,2,2,3,4,4,4": MemoryConfig((1, 2, 3, 4, 6, 8, 12, 20), (1, 1, 2, 2, 3, 4, 4, 4)),
        "orders 1-6,8,11,16,24, min 1,1,2,2,3,4,5,5,5,5": MemoryConfig((1, 2, 3, 4, 5, 6, 8, 11, 16, 24), (1, 1, 2, 2, 3, 4, 5, 5, 5, 5)),
        "orders 1-6,8,12,20, min 5, d 0.7 b 0.3": R(best, discount=0.7, strength=0.3),
        "orders 1-6,8,12,20, min 5, d 0.5 b 1.0": R(best, discount=0.5, strength=1.0),
        "orders 1-6,8,12,20, min 5, d 0.8 b 0.2": R(best, discount=0.8, strength=0.2),
        "orders 1-6,8,12,20, min 5, cutoff 0": R(best, cutoff=0.0),
    }
    mixers = {"default": MIXER3}
    if mixer_sweep:
        memories = {"default": MemoryConfig()}
        M2 = (MEMORY_DOC_KEYS, COUNT_DOC_KEYS)
        mixers = {
            "1 layer, lr 0.02": MixerConfig(n_inputs=3, key_sizes=(MEMORY_DOC_KEYS,), lr=0.02, init=()),
            "1 layer, lr 0.05": MixerConfig(n_inputs=3, key_sizes=(MEMORY_DOC_KEYS,), lr=0.05, init=()),
            "1 layer, lr 0.02, init 0/0.6/0.5": MixerConfig(n_inputs=3, key_sizes=(MEMORY_DOC_KEYS,), lr=0.02, init=(0.0, 0.6, 0.5)),
            "1 layer, lr 0.01, init 0/0.6/0.5": MixerConfig(n_inputs=3, key_sizes=(MEMORY_DOC_KEYS,), lr=0.01, init=(0.0, 0.6, 0.5)),
            "1 layer, lr 0.005, init 0/0.6/0.5": MixerConfig(n_inputs=3, key_sizes=(MEMORY_DOC_KEYS,), lr=0.005, init=(0.0, 0.6, 0.5)),
            "1 layer, lr 0.01, init 0/0.5/0.6": MixerConfig(n_inputs=3, key_sizes=(MEMORY_DOC_KEYS,), lr=0.01, init=(0.0, 0.5, 0.6)),
            "2 layers, lr 0.01, lr2 0.002, init 0/0.6/0.5": MixerConfig(n_inputs=3, key_sizes=M2, lr=0.01, lr2=0.002, init=(0.0, 0.6, 0.5)),
        }
    print("| memory | mixer | MB (prose / code) | " + " | ".join(sets) + " |")
    print("|---|---|---|" + "---|" * len(sets))
    built = {}
    for mname, mcfg in memories.items():
        prune = (mcfg.orders, mcfg.min_count)
        if prune not in built:
            built[prune] = {k: build_memory(t, c.vocab, mcfg) for k, t in texts.items()}
        mems = built[prune]
        for m in mems.values():
            m.cfg = mcfg  # the blending settings apply at prediction time
        preds = {name: memory_probs(mems[kind], docs)[:3] for name, (kind, docs) in sets.items()}
        for xname, xcfg in mixers.items():
            row = [mixed_bpc(experts[n], *preds[n], xcfg) for n in sets]
            print(f"| {mname} | {xname} | {mems['prose'].nbytes() / 1e6:.1f} / {mems['code'].nbytes() / 1e6:.1f} | "
                  + " | ".join(f"{x:.3f}" for x in row) + " |", flush=True)


if __name__ == "__main__":
    main()
