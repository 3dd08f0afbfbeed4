"""Whole buffer and neighbouring files (issue 12, item 4 (a), (b)): KSR, precision and bits per character
against today's document cache (fed by the ~1 KB context the editor passes), as the editor runs.

(a) typing the last --chars characters of long held-out documents, the rest of the document in
    the buffer: "previous" (the previous release: the attention network without corpus memory) vs
    "today" (contexts only) vs "whole buffer" (adapt.BufferLearner, and the network reading the
    buffer before typing starts: Completer.read, a long one judged on its held-out end). Two sets: the trainer's 5 %
    tails of ../shared/corpus/shakespeare and python-docs (6-8 KB; text no shipped model trained
    on, but the rest of each play or page is in the corpus memory, so its names are known
    already), and long documents in no training text: the READMEs of torch, fonttools, ruff and
    syrupy from the dev venv's METADATA (BSD-3 / MIT / MIT / Apache-2.0; bench/quality.py's
    cleaning), the first --long-chars characters of each. With --set plays, a third set: five
    long plays in no training text and in no peer's priming (Webster, Jonson, Marlowe, Wilde ×2;
    bench/plays_corpus.py writes them beside the corpus), the first --long-chars characters of each.
(b) typing the first --chars characters of modules of a real package (click, BSD-3-Clause; not
    in the training corpus) into an empty buffer, the package's other files beside it: "today" vs
    "whole buffer" vs "+ neighbours" (neighbours.read_neighbours with its default caps); --package
    another installed package, --code-model another code model (`code-large`, as `edit --large` picks).

Every document starts fresh, with no user history. The network learns what is typed (a lesson
after each suggestion once due, as `evaluate` and the editor's pauses give them; the previous
release's had no such lessons). The editor's context is reproduced exactly
(tui/editor.py's rule: a line start at least 1 KB back). "suggest p99" is Completer.suggest's own
time per keystroke; in the "+ neighbours" rows the neighbours are counted *while* typing (512
characters between keystrokes, as the model thread does between requests) until done; with
--neighbours-first, all of them before the first keystroke (a user who looks a few seconds
before typing: the editor's model thread counts them while the user is idle).

    python bench/context.py [--chars 3000] [--files 3] [--modules 3] [--skip-a | --skip-b] [--neighbours-first] [--model PATH]
    python bench/context.py --skip-a --package tomlkit --code-model code-large   # (b) on tomlkit, as edit --large types it
    python bench/context.py --set plays --skip-b     # (a) on five long plays in no training text (bench/plays_corpus.py)
    python bench/context.py --tuning [--short]   # the network reading the buffer or not, on text no table reports on
"""

from __future__ import annotations

import argparse
import math
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from common import SHARED, UNSEEN_PLAYS, command_line, one_thread, tails
from quality import SITE, readme_text

from charcomplete.adapt import AdaptConfig, AdaptiveModel, BufferLearner
from charcomplete.completion import load_completer
from charcomplete.neighbours import read_neighbours
from charcomplete.vocab import normalize_newlines

CONTEXT_BACK = 1024
LONG_READMES = ("torch", "fonttools", "ruff", "syrupy")


NOT_READ = "whole buffer, not read by the network"  # --tuning's baseline: the buffer counted, not read (Completer.read)
CACHE: dict = {}  # AdaptConfig fields to override (--max-order)
READ = {"times": 1, "fields": {}}  # how the network reads the buffer: Completer.read calls, NetLearnConfig fields to override (--read-*)
NEIGHBOURS_FIRST = False  # --neighbours-first: count the neighbouring files before typing, not while


def editor_context(text: str) -> str:
    """GhostEditor.context() with the cursor at the end of `text` (lines shorter than 2 KB)."""
    cur = text.rfind("\n") + 1
    s = cur
    while s > 0 and cur - s < CONTEXT_BACK:
        s = text.rfind("\n", 0, s - 1) + 1
    return text[s:]


def run(model: str, buffer: str, typed: str, mode: str, neighbours: list[str] = (), reader=None) -> dict:
    """KSR, bpc and suggest latency of typing `typed` at the end of `buffer`. mode "previous":
    the previous release's editor (the `attention` network, no corpus memory, the context-fed
    document cache). reader(completer, buffer): how the network reads the buffer (default `read_buffer`)."""
    memory = mode != "previous"
    model = model if memory else "attention"
    completer = load_completer(model, adapt=AdaptiveModel(AdaptConfig(**CACHE), None), memory=memory)
    if not memory:
        completer.net_adapt = None  # the previous release's network did not adapt (netadapt.py came later)
    reads = mode not in ("today", "previous", NOT_READ)  # the network reads the buffer (Completer.read)
    learner = whole_buffer(completer, buffer, neighbours, reads, NEIGHBOURS_FIRST, reader) if mode not in ("today", "previous") else None
    sync = Typist(buffer, learner)
    # KSR: as evaluate.keystroke_savings, the editor's context per key
    typed = normalize_newlines(typed)
    n, pos, keys, lat, shown, taken = len(typed), 0, 0, [], 0, 0
    completer.reset()
    while pos < n:
        ctx = sync(buffer + typed[:pos])
        completer.observe(ctx)
        t0 = time.perf_counter()
        s = completer.suggest(ctx).text
        lat.append(time.perf_counter() - t0)
        completer.learn_network()  # as the editor does in a pause after the ghost (a lesson every 16 typed)
        right = bool(s) and typed.startswith(s, pos)
        pos += len(s) if right else 1
        keys, shown, taken = keys + 1, shown + bool(s), taken + right
    # bpc: a fresh start, every character predicted from the editor's context
    completer2 = load_completer(model, adapt=AdaptiveModel(AdaptConfig(**CACHE), None), memory=memory)
    if not memory:
        completer2.net_adapt = None
    if learner is not None:
        learner = whole_buffer(completer2, buffer, neighbours, reads, True, reader)
    sync = Typist(buffer, learner)
    ids = completer2.vocab.encode(typed)
    nll = 0.0
    for i in range(n):
        ctx = sync(buffer + typed[:i])
        completer2.observe(ctx)
        nll -= math.log(max(float(completer2.probs(ctx)[int(ids[i])]), 1e-12))
        completer2.learn_network()
    return {"keys": keys, "chars": n, "nll": nll, "lat": lat, "shown": shown, "taken": taken}


def whole_buffer(completer, buffer: str, neighbours=(), reads: bool = True, neighbours_first: bool = False,
                 reader=None) -> BufferLearner:
    """The editor's whole-buffer level for `completer`: a BufferLearner that counted (and indexed)
    `buffer`, with `neighbours` added (counted now with neighbours_first, else while typing), and
    the network having read the buffer (`reads`: Completer.read, as in the editor's first pauses;
    or as `reader(completer, buffer)` does)."""
    learner = BufferLearner(AdaptConfig(**CACHE))
    learner.open(buffer)
    while learner.work(1 << 16):
        pass
    for t in neighbours:
        learner.add_file(t)
    while neighbours_first and learner.work(1 << 16):
        pass
    completer.adapt.attach(learner)
    if reads:
        (reader or read_buffer)(completer, buffer)
    return learner


class Typist:
    """Text typed at the end of a buffer, as the editor tells the whole-buffer level: called with
    the buffer as it is now (an extension of the last), it passes the new text to the learner,
    lets it count as the editor does, and returns the editor's context."""

    LEARN_BEFORE = 64  # counted before each request, as the editor does (the buffer only)

    def __init__(self, buffer: str, learner: BufferLearner | None):
        self.text, self.learner = buffer, learner

    def __call__(self, full: str) -> str:
        learner, old = self.learner, self.text
        if learner is not None and len(full) > len(old):
            learner.edit(old[-learner.edit_window:], "", full[len(old):], "")
            learner.work(self.LEARN_BEFORE, neighbours=False)
            learner.work(512)  # the model thread's idle step between keys (the neighbours, while any wait)
        self.text = full
        return editor_context(full)


def read_buffer(completer, buffer: str, fields: dict | None = None, times: int | None = None) -> None:
    """The network reads the buffer (Completer.read: the last 16 KB, a short one up to 4 times; a
    longer one's last 32 KB before its held-out last 1 KB, again while that end says it helps)
    before typing starts, as the editor's model thread does in the first pauses (1,024 lessons of
    16 characters for 16 KB). `fields` (NetLearnConfig's, while reading) and `times`
    (Completer.read calls) default to --read-lr, --read-chars, --read-passes, --read-check and
    --read-times: other ways of reading, tried (typed text learned as shipped)."""
    fields = READ["fields"] if fields is None else fields
    learner = completer.net_learn
    shipped = learner.learn_cfg if learner is not None else None
    if learner is not None and fields:
        learner.learn_cfg = replace(shipped, **fields)
    for _ in range(READ["times"] if times is None else times):
        completer.read(buffer)
        while completer.network_reading:
            completer.learn_network()
    if learner is not None:
        learner.learn_cfg = shipped


def summary(rows: list[dict]) -> tuple[float, float, float, float]:
    """KSR, bits per character, suggest p99 (ms) and precision (ghosts taken / shown) of `rows`."""
    chars = sum(r["chars"] for r in rows)
    ksr = 1 - sum(r["keys"] for r in rows) / chars
    precision = sum(r["taken"] for r in rows) / max(1, sum(r["shown"] for r in rows))
    bpc = sum(r["nll"] for r in rows) / chars / math.log(2)
    p99 = float(np.percentile([x for r in rows for x in r["lat"]], 99) * 1000)
    return ksr, bpc, p99, precision


def table(title: str, results: dict[str, list[dict]]) -> None:
    print(f"\n{title}\n")
    print("| | KSR | vs previous release | precision | bits/char | suggest p99 |\n|---|---|---|---|---|---|")
    base = summary(results["today"])[0]
    prev = summary(results["previous"])[0] if "previous" in results else None
    for mode, rows in results.items():
        ksr, bpc, p99, precision = summary(rows)
        rel = f" ({(ksr / base - 1):+.0%})" if mode not in ("today", "previous") and base > 0 else ""
        vs = f"{(ksr / prev - 1):+.0%}" if prev and mode != "previous" else ""
        print(f"| {mode} | {ksr:.3f}{rel} | {vs} | {precision:.3f} | {bpc:.3f} | {p99:.2f} ms |")


def tuning_docs(short: bool = False) -> list[tuple[str, str]]:
    """--tuning's documents (text no table reports on): the READMEs of rich and plotext and 2
    held-out tails each of the novels and the blogs, their first 20,000 characters; short: the
    first 6,000 characters of 4 held-out tails each of tech-prose, the novels and the blogs."""
    if short:
        docs = []
        for folder in ("tech-prose", "novels", "gov-blogs"):
            val, _ = tails(SHARED / folder)
            docs += [(Path(p).name, t[:6000]) for p, t in sorted((t for t in val if len(t[1]) >= 6000), key=lambda t: t[0])[:4]]
        return docs
    docs = [(pkg, readme_text(next(SITE.glob(f"{pkg}-*.dist-info/METADATA")))) for pkg in ("rich", "plotext")]
    for folder in ("novels", "gov-blogs"):
        val, _ = tails(SHARED / folder)
        docs += [(Path(p).name, t[:20_000]) for p, t in sorted((t for t in val if len(t[1]) >= 12_000), key=lambda t: len(t[1]))[:2]]
    return docs


def long_readmes(chars: int = 30_000) -> list[tuple[str, str]]:
    """(a)'s long documents in no training text: the first `chars` characters of the READMEs of LONG_READMES."""
    return [(f"{pkg} README", readme_text(meta)[:chars])
            for pkg in LONG_READMES for meta in sorted(SITE.glob(f"{pkg}-*.dist-info/METADATA"))[:1]]


def held_out_tails(chars: int, files: int) -> list[tuple[str, str]]:
    """(a)'s held-out tails: the `files` longest of shakespeare's and python-docs' (at least 2 x `chars` characters)."""
    out = []
    for folder in ("shakespeare", "python-docs"):
        val, _ = tails(SHARED / folder)
        long = sorted((t for t in val if len(t[1]) >= 2 * chars), key=lambda t: -len(t[1]))[:files]
        out += [(Path(p).name, t) for p, t in long]
    return out


def long_plays(chars: int = 30_000) -> list[tuple[str, str]]:
    """(a)'s long plays in no training text (bench/plays_corpus.py's, beside the corpus): the first `chars` characters of each."""
    plays = sorted(UNSEEN_PLAYS.glob("*.md"))
    if not plays:
        raise SystemExit(f"no plays in {UNSEEN_PLAYS}: run python bench/plays_corpus.py MIRROR first")
    return [(p.stem, normalize_newlines(p.read_text(encoding="utf-8"))[:chars]) for p in plays]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chars", type=int, default=3000)
    ap.add_argument("--files", type=int, default=3, help="documents per corpus folder in (a)")
    ap.add_argument("--modules", type=int, default=3, help="modules typed in (b)")
    ap.add_argument("--package", default="click")
    ap.add_argument("--code-model", default="code", help="(b): the code model typed with (a name or a checkpoint path)")
    ap.add_argument("--model", default="prose", help="(a) and --tuning: the prose model typed with (a name or a checkpoint path)")
    ap.add_argument("--long-chars", type=int, default=30_000, help="characters of each long README in (a)")
    ap.add_argument("--set", action="append", choices=("tails", "readmes", "plays"),
                    help="(a)'s documents (repeatable; default tails and readmes): the held-out tails, the long READMEs, or the "
                         "five long plays in no training text of bench/plays_corpus.py (the first --long-chars characters of each)")
    ap.add_argument("--skip-a", action="store_true", help="only (b)")
    ap.add_argument("--skip-b", action="store_true", help="only (a)")
    ap.add_argument("--tuning", action="store_true",
                    help="only the network reading the buffer, on tuning text (the READMEs of rich and plotext, 2 held-out "
                         "tails each of the novels and the blogs, their first 20,000 characters)")
    ap.add_argument("--short", action="store_true",
                    help="--tuning on short documents: the first 6,000 characters of 4 held-out tails each of tech-prose, the novels and "
                         "the blogs, the last 1,500 typed")
    ap.add_argument("--max-order", type=int, default=None, help="the document cache's longest context (AdaptConfig.max_order)")
    ap.add_argument("--read-times", type=int, default=1, help="times the buffer is given to Completer.read before typing (shipped: 1)")
    ap.add_argument("--read-passes", type=int, default=None, help="NetLearnConfig.read_passes while reading (shipped: 4; 1 before 2026-12-05)")
    ap.add_argument("--read-lr", type=float, default=None,
                    help="the network's rate while reading the buffer (shipped: NetLearnConfig.read_lr, a short buffer .lr)")
    ap.add_argument("--read-check", type=int, default=None,
                    help="NetLearnConfig.read_check while reading (shipped: 1024, a buffer over 9 KB judged; 0: never judged, as "
                         "before 2026-12-05, late)")
    ap.add_argument("--read-chars", type=int, default=None, help="characters of the buffer's end read (shipped: NetLearnConfig.read_chars)")
    ap.add_argument("--neighbours-first", action="store_true",
                    help="(b): count the neighbouring files before typing starts (a user who looks a few seconds first)")
    args = ap.parse_args()
    one_thread()
    global NEIGHBOURS_FIRST
    NEIGHBOURS_FIRST = args.neighbours_first
    if args.max_order:
        CACHE.update(max_order=args.max_order)
    READ["times"] = args.read_times
    READ["fields"] = {k: v for k, v in (("lr", args.read_lr), ("read_lr", args.read_lr), ("read_chars", args.read_chars),
                                        ("read_passes", args.read_passes), ("read_check", args.read_check))
                      if v is not None}
    print(command_line())

    if args.tuning:
        docs = tuning_docs(args.short)
        results = {"today": [], NOT_READ: [], "whole buffer": []}
        for name, text in docs:
            chars = 1500 if args.short else min(args.chars, len(text) // 2)
            for mode in results:
                results[mode].append(run(args.model, text[:-chars], text[-chars:], mode))
            print(f"  {name}: {len(text) - chars} chars before, "
                  + ", ".join(f"{m} KSR {1 - r[-1]['keys'] / r[-1]['chars']:.3f}" for m, r in results.items()))
        typed = "1500 characters" if args.short else f"{args.chars} characters (at most half)"
        table(f"typing the last {typed} of {len(docs)} documents of tuning text ({args.model} model)", results)
        return
    if not args.skip_a:
        sets = {"tails": ("held-out tails", lambda: held_out_tails(args.chars, args.files)),
                "readmes": ("long READMEs in no training text", lambda: long_readmes(args.long_chars)),
                "plays": ("long plays in no training text", lambda: long_plays(args.long_chars))}
        for label, documents in (sets[s] for s in (args.set or ("tails", "readmes"))):
            docs = documents()  # (only the sets asked for are read)
            results = {"previous": [], "today": [], "whole buffer": []}
            for name, text in docs:
                buffer, typed = text[: -args.chars], text[-args.chars :]
                for mode in results:
                    results[mode].append(run(args.model, buffer, typed, mode))
                print(f"  (a) {name}: {len(buffer)} chars before, "
                      + ", ".join(f"{m} KSR {1 - r[-1]['keys'] / r[-1]['chars']:.3f}" for m, r in results.items()))
            table(f"(a) typing the last {args.chars} characters of {len(docs)} {label} ({args.model} model)", results)

    if args.skip_b:
        return
    import importlib

    pkg = Path(importlib.import_module(args.package).__file__).parent
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / pkg.name
        shutil.copytree(pkg, copy, ignore=shutil.ignore_patterns("__pycache__"))
        modules = sorted((p for p in copy.glob("*.py") if p.stat().st_size >= args.chars), key=lambda p: p.name)
        step = max(1, len(modules) // args.modules)
        results = {"previous": [], "today": [], "whole buffer": [], "+ neighbours": []}
        for module in modules[::step][: args.modules]:
            typed = normalize_newlines(module.read_text())[: args.chars]
            near = [t for _, t in read_neighbours(module)]
            for mode in results:
                results[mode].append(run(args.code_model, "", typed, mode, near if mode == "+ neighbours" else ()))
            print(f"  (b) {module.name}: {len(near)} neighbouring files, "
                  + ", ".join(f"{m} KSR {1 - r[-1]['keys'] / r[-1]['chars']:.3f}" for m, r in results.items()))
        table(f"(b) typing the first {args.chars} characters of {len(results['today'])} modules of "
              f"{args.package} ({args.code_model} model), the package beside them", results)


if __name__ == "__main__":
    main()
