"""Models side by side on tuning text: text no bench/quality.py table reports on, for choosing
settings (the memory's minimum counts, a training run) without tuning on the benchmarks.

The sets: 80 sentences of the READMEs of torch, fonttools, ruff and matplotlib, each a fresh
document; 1,500 characters from a third into 4 held-out tails (the last 5 % of files, never
trained on) each of the plays, the Python docs, the novels and the blogs (../shared/corpus); 100
sentences of 30 characters or more spread over the held-out tail of ../shared/corpus/sentences
(Common Voice's last 5 %: lines of dialogue from old novels, then proverbs), each a fresh
document; and the 40 lines of bench/data/tuning-sentences.txt (messages, notes and sayings
written for this set; in no corpus and no bench/quality.py set), each a fresh document.
With --code, Python instead: 2,000 characters from a third into 6 modules each of pytest and
textual (installed in the dev venv; MIT; no model trains on them and bench/quality.py does not
report on them), and 1,500 from a third into 4 held-out tails each of ../shared/corpus/python-src
and python-pkgs; and the first 1,500 characters of 8 scripts of github.com/TheAlgorithms/Python (MIT;
in no corpus) that `import numpy as np` (imports, docstrings, numpy as people use it), read from
its snapshot in --mirror (the `fetch` tool's layout; the set is left out when it is missing).
Per model and set: bits per character as the editor runs it (adapting, a fresh
document per text), KSR and precision.

    python bench/tuning.py prose path/to/other.safetensors ...
    python bench/tuning.py --code code path/to/other.safetensors ...
    python bench/tuning.py prose other.safetensors --only "everyday sentences"   # one set
    python bench/tuning.py prose --policy start_chars=0 --policy show_threshold=0.12   # other policies, as rows of their own
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from common import REPO, SHARED, command_line, git, one_thread, policy_with, tails
from quality import SITE, readme_text

from charcomplete.adapt import AdaptiveModel
from charcomplete.completion import load_completer
from charcomplete.errors import CorpusError
from charcomplete.evaluate import completion_metrics, sequential_bpc


def readme_sentences(n: int = 80) -> list[str]:
    out = []
    for pkg in ("torch", "fonttools", "ruff", "matplotlib"):
        for meta in sorted(SITE.glob(f"{pkg}-*.dist-info/METADATA"))[:1]:
            out += [x.strip() for x in re.split(r"(?<=[.!?])\s+", readme_text(meta))
                    if 40 < len(x.strip()) < 400 and "|" not in x and "http" not in x]
    return out[:: max(1, len(out) // n)][:n]


def middles(folder: str, n: int = 4, chars: int = 1500, long_only: bool = False) -> list[str]:
    val, _ = tails(SHARED / folder)
    if long_only:  # tails of 1.5 x chars or more (a module's tail can be a few lines)
        val = [v for v in val if len(v[1]) >= 3 * chars // 2] or val
    return [t[len(t) // 3 :][:chars] for _, t in val[3 :: max(1, len(val) // n)][:n]]


def modules(package: str, n: int = 6, chars: int = 2000) -> list[str]:
    """`chars` characters from a third into n modules of an installed package (of 3 x chars or more)."""
    files = [f.read_text(encoding="utf-8") for f in sorted((SITE / package).rglob("*.py"))]
    files = [t for t in files if len(t) >= 3 * chars]
    return [t[len(t) // 3 :][:chars] for t in files[:: max(1, len(files) // n)][:n]]


def numpy_scripts(mirror: Path, n: int = 8, chars: int = 1500) -> list[str]:
    """The first `chars` characters of n scripts of TheAlgorithms/Python that import numpy as np."""
    repo = mirror / "TheAlgorithms+Python" / "repo"
    if not repo.is_dir():
        return []
    paths = git(repo, "grep", "-l", "^import numpy as np", "HEAD", "--", "*.py").split()  # HEAD:PATH each
    texts = [git(repo, "show", p) for p in paths]
    texts = [t for t in texts if len(t) >= chars]
    return [t[:chars] for t in texts[:: max(1, len(texts) // n)][:n]]


def tuning_sets(code: bool = False, mirror: Path = Path("/work/.mirror")) -> dict[str, list[str]]:
    """The sets by name; those from a generated corpus folder that is missing (novels, gov-blogs,
    sentences, python-pkgs: written by bench/*_corpus.py) are left out, with a line that says so."""
    if code:
        sets = {"pytest modules": lambda: modules("_pytest"), "textual modules": lambda: modules("textual"),
                "python-src tails": lambda: middles("python-src", long_only=True),
                "python-pkgs tails": lambda: middles("python-pkgs", long_only=True), "numpy scripts": lambda: numpy_scripts(mirror)}
    else:
        sets = {"README sentences": readme_sentences, "plays": lambda: middles("shakespeare"),
                "Python docs": lambda: middles("python-docs"), "novels": lambda: middles("novels"),
                "blogs": lambda: middles("gov-blogs"), "short sentences": short_sentences,
                "everyday sentences": lambda: (REPO / "bench" / "data" / "tuning-sentences.txt").read_text().splitlines()}
    out = {}
    for name, texts in sets.items():
        try:
            out[name] = texts()
        except CorpusError as e:
            print(f"(left out: {name}, {e})")
    return {k: v for k, v in out.items() if v}


def short_sentences(n: int = 100) -> list[str]:
    val, _ = tails(SHARED / "sentences")
    lines = [x for _, t in val for x in t.split("\n")[1:] if len(x) >= 30]  # the first is cut
    return lines[:: max(1, len(lines) // n)][:n]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="+", help="model names or checkpoint paths")
    ap.add_argument("--code", action="store_true", help="the Python sets (for code models)")
    ap.add_argument("--only", action="append", default=[], help="only this set (repeatable)")
    ap.add_argument("--mirror", type=Path, default=Path("/work/.mirror"), help="snapshots (for the numpy scripts)")
    ap.add_argument("--policy", action="append", default=[],
                    help="also each model with its policy's FIELD=VALUE[,FIELD=VALUE] (repeatable), e.g. start_chars=0")
    args = ap.parse_args()
    one_thread()
    sets = {k: v for k, v in tuning_sets(args.code, args.mirror).items() if not args.only or k in args.only}
    print(f"`{command_line()}`\n\n| model | tuning text | bpc as the editor runs | KSR | precision |\n|---|---|---|---|---|")
    for model in args.models:
        c = load_completer(model, adapt=AdaptiveModel())
        shipped = c.policy
        for name, texts in sets.items():
            bits = chars = 0
            for t in texts:
                r = sequential_bpc(c, t)  # (the policy shapes the ghosts, not the bits)
                bits, chars = bits + r["bpc"] * r["chars"], chars + r["chars"]
            for spec in ["", *args.policy]:
                c.policy = policy_with(shipped, spec)
                m = completion_metrics(c, texts, 0)
                label = f"{model}, {spec}" if spec else model
                print(f"| {label} | {name} | {bits / chars:.4f} | {m['ksr']:.4f} | {m['precision']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
