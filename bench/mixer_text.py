"""Write the held-out text the shipped models' mixers learn their starting weights on.

    python bench/mixer_text.py prose /tmp/mixer-prose
    charcomplete memory checkpoints/prose.safetensors --mixer-text /tmp/mixer-prose
    python bench/mixer_text.py code /tmp/mixer-code
    charcomplete memory checkpoints/code.safetensors --mixer-text /tmp/mixer-code

Text that no network or memory trained on and that bench/quality.py does not report on
(charcomplete/mixer_start.py learns from it):

- prose: the held-out tails of ../shared/corpus/tech-prose and ../shared/corpus/gov-blogs (the
  modern English the model learned: one sentence at a time, bench/quality.py's sentences went
  1.731 -> 1.706 bpc with the blogs' tails added, the plays 1.748 -> 1.753) and the README (long description)
  of each installed package below, none of them one that bench/quality.py or bench/context.py
  reports on (licenses as each package's METADATA says: BSD, MIT, Apache-2.0, PSF-based);
- code: the held-out tails of ../shared/corpus/python-src and the modules of the installed
  packages below (not click, which bench/quality.py reports on).

The plays' and the Python docs' tails are left out: bench/quality.py samples its texts from them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import SHARED, tails
from context import LONG_READMES
from quality import CODE_PACKAGE, README_PACKAGES, SITE, readme_text

README_TUNING = ["hypothesis", "jinja2", "markdown_it_py", "pygments", "pyparsing", "numpy", "contourpy", "packaging", "pluggy",
                 "tomlkit", "build", "hatchling", "filelock", "kiwisolver", "iniconfig", "mdit_py_plugins", "markupsafe",
                 "safetensors", "typing_extensions", "pyflakes", "pytest_asyncio"]
CODE_TUNING = ["rich", "pygments", "jinja2", "markdown_it", "tomlkit", "pluggy", "packaging"]
# none of the text the benches report on: bench/quality.py's READMEs and code, bench/context.py's long READMEs
assert not set(README_TUNING) & (set(README_PACKAGES) | set(LONG_READMES) | {"matplotlib"}) and CODE_PACKAGE not in CODE_TUNING


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["prose", "code"])
    ap.add_argument("out", type=Path, help="folder to write the text files into")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    texts: dict[str, str] = {}
    if args.kind == "prose":
        for pkg in README_TUNING:
            for meta in sorted(SITE.glob(f"{pkg}-*.dist-info/METADATA"))[:1]:
                texts[f"readme-{pkg}.md"] = readme_text(meta)
        val, _ = tails(SHARED / "tech-prose")
        blogs, _ = tails(SHARED / "gov-blogs")
        texts["blogs-tails.txt"] = "\n\n".join(t for _, t in blogs)
    else:
        for pkg in CODE_TUNING:
            for f in sorted((SITE / pkg).rglob("*.py")):
                texts[f"{pkg}-{f.relative_to(SITE / pkg).as_posix().replace('/', '-')}"] = f.read_text(encoding="utf-8", errors="replace")
        val, _ = tails(SHARED / "python-src")
    texts["tails.txt"] = "\n\n".join(t for _, t in val)
    for name, text in texts.items():
        (args.out / name).write_text(text, encoding="utf-8")
    print(f"{len(texts)} files, {sum(map(len, texts.values())):,} characters in {args.out}")


if __name__ == "__main__":
    main()
