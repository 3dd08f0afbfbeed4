"""Quality of the shipped models side by side with their peers, on the same held-out text.

For each kind of held-out text, each text a fresh document (no user history):

- bits per character (bpc) of the model as the editor runs it (`evaluate.sequential_bpc` with
  `load_completer(name, adapt=AdaptiveModel())`: network + document cache + corpus memory,
  mixed by the online mixer, which learns as the text is typed); without adaptation
  (`adapt=False`: network + corpus memory, nothing learned from the text); and the network
  alone (`memory=False, adapt=False`);
- PPMd: 7-Zip's `7z a -m0=PPMd:o=8:mem=1g` primed with the same training text: the size of
  archive(train + text) minus that of archive(train), per text, in bits per character;
- keystroke savings (KSR) and precision (ghosts taken / shown) of each model as the editor
  runs it (`evaluate.completion_metrics`, adaptation on), of the keyword baseline
  (`evaluate.KeywordCompleter`, its word counts from the training text), and of Presage
  (bench/peers.py: a word n-gram predictor whose database its own `text2ngram` built from the
  training text, asked through libpresage for its single best word; two ghosts, the word's
  remainder and the remainder plus a space: the better is kept).

"The training text" of a kind of text is what the model `edit` picks for it learned from
(the first 95 % of every file, as the trainer and `charcomplete memory` split them): prose
sets: shakespeare + python-docs + tech-prose + novels + gov-blogs + sentences + readmes (the network and the
memory; novels, gov-blogs, sentences and readmes are written by bench/novels_corpus.py, bench/blogs_corpus.py,
bench/sentences_corpus.py and bench/readmes_corpus.py); Python code: shakespeare + python-docs (the network) +
python-src + python-pkgs (the network's fine-tuning and the memory; python-pkgs is written by
bench/code_corpus.py). The other models' rows are compared with the same peers.

The kinds of held-out text:

1. plays: the held-out tails (last 5 %) of ../shared/corpus/shakespeare;
2. Python docs: the held-out tails of ../shared/corpus/python-docs;
3. modern English: bench/data/modern-prose.txt (in no corpus folder) and the README /
   long-description text of Python packages installed in the dev venv
   (site-packages/*.dist-info/METADATA, the body after the headers, fenced code blocks,
   HTML and badge lines dropped): rich, textual, plotext, pytest, syrupy, sortedcontainers,
   pathspec, platformdirs (MIT / Apache-2.0 / MPL-2.0 licensed, as each METADATA says), sympy,
   mpmath, python-dateutil, fsspec, networkx (BSD), pillow (MIT-CMU); with the defaults the
   texts spread over them are rich (MIT), pytest (MIT), sortedcontainers (Apache-2.0) and
   sympy (BSD). None is in the corpus (tech-prose is Django's and Node.js's documentation);
4. modern English, one sentence at a time: each sentence of bench/data/modern-prose.txt (31
   of over 40 characters, 3,700 characters) a fresh document, as a short message or a quote is
   typed: no document to adapt to yet;
5. Python code not in python-src: the source of `click` 8 (BSD-3-Clause, © Pallets), from
   the dev venv's site-packages.

Each set: `--texts` texts, `--bpc-chars` characters each for bpc and PPMd, the first
`--ksr-chars` of them for KSR (KSR costs ~2 ms per character per model, Presage ~5 ms).

Bench dependencies (never package dependencies): `apt-get install -y p7zip-full presage
libpresage-dev` (7z; text2ngram and libpresage.so). Without them those columns read "n/a".
Presage's databases and the primed archive sizes are cached in ~/.cache/charcomplete-bench.

    python bench/quality.py [--model prose --model code ...] [--texts 5] [--bpc-chars 3000] [--ksr-chars 800]
    python bench/quality.py --model prose --no-peers --policy start_chars=0   # the models alone, another suggestion policy
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import peers
from common import REPO, SHARED, command_line, one_thread, policy_with, tails

from charcomplete.adapt import AdaptiveModel
from charcomplete.completion import load_completer
from charcomplete.evaluate import (
    KeywordCompleter,
    WordIndex,
    completion_metrics,
    keystroke_savings,
    sequential_bpc,
)
from charcomplete.vocab import normalize_newlines

SITE = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
README_PACKAGES = ["rich", "textual", "plotext", "pytest", "syrupy", "sortedcontainers", "pathspec", "platformdirs",
                   "sympy", "mpmath", "python_dateutil", "fsspec", "networkx", "pillow"]
CODE_PACKAGE = "click"
SENTENCES = "modern English, one sentence at a time"


def readme_text(metadata: Path) -> str:
    """The long description of a METADATA file, without code blocks, HTML and badge lines."""
    return clean_readme(metadata.read_text(encoding="utf-8", errors="replace").split("\n\n", 1)[-1])


def clean_readme(body: str) -> str:
    """A README without code blocks, HTML and badge lines."""
    out, fenced = [], False
    for line in body.splitlines():
        s = line.strip()
        if s.startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if fenced or s.startswith(("<", "[![", "![", ".. image", ".. |", ":target:", ":alt:", "|")):
            continue
        out.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip() + "\n"


def spread(texts: list[tuple[str, str]], n: int, chars: int) -> list[tuple[str, str]]:
    """n texts spread over the list (preferring ones at least `chars` long), cut to `chars`."""
    long_enough = [t for t in texts if len(t[1]) >= chars] or texts
    step = max(1, len(long_enough) // n)
    return [(p, t[:chars]) for p, t in long_enough[::step][:n]]


def eval_sets(n: int, chars: int) -> dict[str, list[tuple[str, str]]]:
    sets = {}
    for label, folder in (("plays", "shakespeare"), ("Python docs", "python-docs")):
        val, _ = tails(SHARED / folder)
        sets[label] = [(str(Path(p).relative_to(SHARED)), t) for p, t in spread(val, n, chars)]
    readmes = []
    for pkg in README_PACKAGES:
        for meta in sorted(SITE.glob(f"{pkg}-*.dist-info/METADATA")):
            readmes.append((f"{pkg} README", readme_text(meta)))
    prose = ("bench/data/modern-prose.txt", (REPO / "bench" / "data" / "modern-prose.txt").read_text())
    sets["modern English"] = [(prose[0], prose[1][:chars])] + spread(readmes, n - 1, chars)
    # short texts, as a message or a quote is written: each sentence of modern-prose.txt (over 40
    # characters) a fresh document; all of them, whatever --texts says
    sentences = [x.strip() for x in re.split(r"(?<=[.!?])\s+", prose[1]) if len(x.strip()) > 40]
    sets[SENTENCES] = [(f"{prose[0]}, sentence {i + 1}", x[:chars]) for i, x in enumerate(sentences)]
    code = [(str(p.relative_to(SITE)), p.read_text()) for p in sorted((SITE / CODE_PACKAGE).glob("*.py"))]
    sets["Python code"] = spread(code, n, chars)
    return {k: [(p, normalize_newlines(t)) for p, t in v] for k, v in sets.items()}


PROSE_TRAIN = ("shakespeare", "python-docs", "tech-prose", "novels", "gov-blogs", "sentences", "readmes")
CODE_TRAIN = ("shakespeare", "python-docs", "python-src", "python-pkgs")
WRITTEN_BY = {"novels": "novels_corpus.py", "gov-blogs": "blogs_corpus.py", "sentences": "sentences_corpus.py",
              "readmes": "readmes_corpus.py", "python-pkgs": "code_corpus.py"}


def training_texts(kinds=("prose", "code")) -> dict[str, str]:
    """The training text behind each shipped model of `kinds` (the first 95 % of every file)."""
    folders = {"prose": PROSE_TRAIN, "code": CODE_TRAIN}
    needed = dict.fromkeys(f for k in kinds for f in folders[k])  # each once, in order
    for folder in needed:
        if not (SHARED / folder).is_dir():
            raise SystemExit(f"{SHARED / folder} is missing: write it with bench/{WRITTEN_BY.get(folder, '?')} (a shipped model's training text)")
    part = {f: tails(SHARED / f)[1] for f in needed}
    return {k: "".join(part[f] for f in folders[k]) for k in kinds}


def fmt(x: float | None, spec: str = ".3f") -> str:
    return "n/a" if x is None else format(x, spec)


def ratio(a: float | None, b: float | None) -> str:
    return "n/a" if a is None or not b else f"{a / b:.2f}"


def texts_bpc(completer, texts: list[str]) -> float:
    """Bits per character over `texts`, each a fresh document as the editor runs (weighted by length)."""
    bits = n = 0.0
    for t in texts:
        r = sequential_bpc(completer, t)
        bits, n = bits + r["bpc"] * r["chars"], n + r["chars"]
    return bits / n


def model_rows(name: str, texts: list[str], ksr_texts: list[str], policy: str = "") -> dict:
    """bpc (as the editor runs, without adaptation, network alone), KSR and precision of a model
    (its suggestion policy changed by `policy`, FIELD=VALUE[,...], when given)."""
    def bpc(c) -> float:
        return texts_bpc(c, texts)

    editor = load_completer(name, adapt=AdaptiveModel())
    editor.policy = policy_with(editor.policy, policy)
    out = {"editor": bpc(editor)}
    m = completion_metrics(editor, ksr_texts, 0)
    out["ksr"], out["precision"] = m["ksr"], m["precision"]
    out["net"] = bpc(load_completer(name, memory=False, adapt=False))
    out["static"] = bpc(load_completer(name, adapt=False)) if editor.memory is not None else out["net"]
    out["memory"] = editor.memory is not None
    return out


def simulate(suggest_for_text, texts: list[str]) -> tuple[float, float | None]:
    """(KSR, precision) of a ghost source over `texts`; suggest_for_text(i) gives text i's suggest."""
    keys = chars = shown = accepted = 0
    for i, t in enumerate(texts):
        r = keystroke_savings(suggest_for_text(i), t)
        keys, chars, shown, accepted = keys + r["keystrokes"], chars + r["chars"], shown + r["shown"], accepted + r["accepted"]
    return 1 - keys / chars, (accepted / shown if shown else None)


def presage_ksr(db: Path, texts: list[str]) -> dict[bool, tuple[float, float | None]]:
    """{with a trailing space: (KSR, precision)} of Presage's top-1 word as the ghost, each text a
    fresh Presage (its recency predictor sees that document only)."""
    engines = [peers.Presage(db) for _ in texts]
    out = {space: simulate(lambda i, space=space: (lambda ctx: engines[i].ghost(ctx, space)), texts) for space in (False, True)}
    for e in engines:
        e.close()
    return out


def keyword_ksr(words: WordIndex, texts: list[str]) -> tuple[float, float | None]:
    return simulate(lambda i: KeywordCompleter(words).suggest, texts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", action="append", help="model name or path (repeatable; default prose, code, attention, lstm)")
    ap.add_argument("--texts", type=int, default=5, help="texts per kind of text")
    ap.add_argument("--bpc-chars", type=int, default=3000, help="characters per text for bpc and PPMd")
    ap.add_argument("--ksr-chars", type=int, default=800, help="characters per text for KSR and precision (the first ones)")
    ap.add_argument("--only", action="append", help="only these kinds of text (repeatable)")
    ap.add_argument("--no-peers", action="store_true",
                    help="the models' rows alone (no PPMd, Presage or keyword: they need the generated corpus folders)")
    ap.add_argument("--policy", default="", help="the models' suggestion policy with FIELD=VALUE[,FIELD=VALUE], e.g. start_chars=0")
    args = ap.parse_args()
    one_thread()
    t_start = time.time()
    models = args.model or ["prose", "code", "attention", "lstm"]
    sets = eval_sets(args.texts, args.bpc_chars)
    if args.only:
        sets = {k: v for k, v in sets.items() if k in args.only}
    train_of = {k: ("code" if k == "Python code" else "prose") for k in sets}
    train = {} if args.no_peers else training_texts(sorted(set(train_of.values())))
    # PPMd runs in the background (7z is a separate process) while the models are measured
    pool = ThreadPoolExecutor(max_workers=1)
    ppmd = {}
    if peers.have_7z() and train:
        sizes = {k: pool.submit(peers.ppmd_train_size, train[k]) for k in set(train_of.values())}
        for label, texts in sets.items():
            tr = train[train_of[label]]
            ppmd[label] = [pool.submit(lambda tr=tr, t=t, k=train_of[label]: peers.ppmd_bits(tr, t, sizes[k].result()))
                           for _, t in texts]
    words = {k: WordIndex(train[k]) for k in set(train_of.values())} if train else {}
    presage_db = {k: peers.presage_database(train[k]) for k in set(train_of.values())} if peers.have_presage() and train else {}

    print(f"# quality, side by side with PPMd, Presage and keyword completion\n\n`{command_line()}`\n")
    for label, texts in sets.items():
        bodies = [t for _, t in texts]
        ksr_bodies = [t[: args.ksr_chars] for t in bodies]
        nchars = sum(len(t) - 1 for t in bodies)
        ksr_chars = sum(len(t) for t in ksr_bodies)
        kw_ksr, kw_prec = keyword_ksr(words[train_of[label]], ksr_bodies) if words else (None, None)
        pres = presage_ksr(presage_db[train_of[label]], ksr_bodies) if train_of[label] in presage_db else {}
        best = max(pres, key=lambda s: pres[s][0]) if pres else None
        pres_ksr = pres[best][0] if pres else None
        ppmd_bpc = sum(f.result() for f in ppmd[label]) / sum(len(t) for t in bodies) if label in ppmd else None
        print(f"## {label}\n")
        print(f"{len(texts)} texts, {nchars:,} characters for bpc, {ksr_chars:,} for KSR: "
              + (", ".join(p for p, _ in texts) if len(texts) <= 12 else f"{texts[0][0]} to {texts[-1][0].rsplit(', ', 1)[-1]}")
              + (f". Peers primed with the `{train_of[label]}` model's training text "
                 f"({len(train[train_of[label]]) / 1e6:.1f} M characters).\n" if train else ". No peers (--no-peers).\n"))
        print("| model | bpc, as the editor runs | bpc, no adaptation | bpc, network alone | PPMd bpc | ÷ PPMd | "
              "KSR | precision | KSR ÷ keyword | KSR ÷ Presage |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for name in models:
            r = model_rows(name, bodies, ksr_bodies, args.policy)
            print(f"| {name}{'' if r['memory'] else ' (no memory)'} | {r['editor']:.3f} | {r['static']:.3f} | {r['net']:.3f} | "
                  f"{fmt(ppmd_bpc)} | {ratio(r['editor'], ppmd_bpc)} | {r['ksr']:.3f} | {fmt(r['precision'])} | "
                  f"{ratio(r['ksr'], kw_ksr)} | {ratio(r['ksr'], pres_ksr)} |", flush=True)
        print(f"| PPMd o=8, primed | | | | {fmt(ppmd_bpc)} | 1.00 | | | | |")
        print(f"| keyword completion | | | | | | {fmt(kw_ksr)} | {fmt(kw_prec)} | 1.00 | {ratio(kw_ksr, pres_ksr)} |")
        for space in (False, True):
            if space in pres:
                k, p = pres[space]
                mark = " (the better)" if space == best else ""
                print(f"| Presage top-1 word{' + space' if space else ''}{mark} | | | | | | {k:.3f} | {fmt(p)} | "
                      f"{ratio(k, kw_ksr)} | {ratio(k, pres_ksr)} |")
        print(flush=True)
    pool.shutdown()
    print(f"({time.time() - t_start:.0f} s on this machine, 1 thread for the models.)")


if __name__ == "__main__":
    main()
