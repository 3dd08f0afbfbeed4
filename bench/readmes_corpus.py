"""Write ../shared/corpus/readmes: the READMEs of popular Python packages, modern technical English
as people write it about their software (what bench/quality.py's "modern English" READMEs are).

    python bench/readmes_corpus.py MIRROR [OUT]                          # choose and write (PyPI's JSON API)
    python bench/readmes_corpus.py MIRROR [OUT] --manifest bench/data/readmes.tsv   # the same versions again

MIRROR holds a git snapshot of github.com/hugovk/top-pypi-packages (the most downloaded PyPI
projects of 30 days, MIT) as MIRROR/hugovk+top-pypi-packages/repo, the layout the project's
`fetch` tool writes. In download order, each project's long description (its README: its latest
release's, https://pypi.org/pypi/NAME/json; with --manifest, the manifest's version) is kept when its license is a permissive one (MIT, BSD,
Apache, PSF, ISC, MPL, Unlicense, CC0, zlib: by its license expression, license field or
classifiers), it is English (the, and, to, of: at least 8 per 1,000 characters) and, cleaned as
bench/quality.py cleans READMEs (code blocks, HTML, badges and tables dropped), at least 1,500
characters (its first 20,000, to a paragraph's end: long descriptions go on into changelogs); at most FAMILY projects per name family (the name up to its first -, _ or .:
azure-*, types-*, mypy-boto3-* are one template each), a README met before (its first 2,000
characters) once. Left out: every package whose README a bench reports or tunes on (bench/
quality.py, context.py, tuning.py, mixer_text.py) and click. Stops at --chars characters.
OUT gets readmes-000.txt, readmes-001.txt, ... (50 READMEs each, in download order, so that the
trainer's held-out tail of every file is a README or two, whole) and .manifest.tsv (hidden: the
corpus reader skips it): name, version, license, characters of every README kept; commit it
as bench/data/readmes.tsv to write the same corpus again with --manifest.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from packaging.utils import canonicalize_name
from common import SHARED, git
from context import LONG_READMES
from mixer_text import README_TUNING
from quality import CODE_PACKAGE, README_PACKAGES, clean_readme

PERMISSIVE = re.compile(r"\b(MIT|BSD|Apache|PSF|Python Software Foundation|ISC|MPL|Mozilla Public|Unlicense|CC0|zlib)\b", re.I)
LEFT_OUT = {*README_PACKAGES, *LONG_READMES, *README_TUNING, "matplotlib", CODE_PACKAGE, "charcomplete"}
PER_FILE = 50  # READMEs per file
FAMILY = 2  # projects kept per name family
ENGLISH = 8  # the, and, to, of per 1,000 characters, at least
LONGEST = 20_000  # a README's first this many characters (to a paragraph's end) are kept: past them come changelogs


def family(name: str) -> str:
    return canonicalize_name(name).split("-", 1)[0]


def license_of(info: dict) -> str | None:
    """The permissive license the project declares, or None."""
    for text in [info.get("license_expression") or "", (info.get("license") or "")[:200],
                 *[c.rsplit("::", 1)[-1] for c in info.get("classifiers") or [] if c.startswith("License ::")]]:
        m = PERMISSIVE.search(text)
        if m and "GPL" not in text.upper():
            return text.strip().splitlines()[0][:60]
    return None


def fetch(name: str, version: str = "") -> dict | None:
    """The project's metadata from PyPI's JSON API (that version's, when given: from its own page,
    or else the latest when it is still that version; a mirror of PyPI may serve only the latest)."""
    info = _get(f"https://pypi.org/pypi/{name}/{version}/json") if version else None
    if info is None:
        info = _get(f"https://pypi.org/pypi/{name}/json")
        if info is not None and version and info.get("version") != version:
            return None
    return info


def _get(url: str) -> dict | None:
    for attempt in range(3):
        try:
            with urllib.request.urlopen(url, timeout=30) as r:
                return json.load(r)["info"]
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None  # no such project or version
            time.sleep(1 + attempt)
        except Exception:  # a hiccup: tried again, then left out
            time.sleep(1 + attempt)
    return None


def english(text: str) -> bool:
    words = len(re.findall(r"\b(?:the|and|to|of)\b", text, re.I))
    return words * 1000 >= ENGLISH * len(text)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mirror", type=Path, help="folder of the snapshots (MIRROR/hugovk+top-pypi-packages/repo)")
    ap.add_argument("out", type=Path, nargs="?", default=SHARED / "readmes")
    ap.add_argument("--chars", type=int, default=8_000_000, help="stop after this many characters of READMEs")
    ap.add_argument("--candidates", type=int, default=4000, help="projects looked at, in download order")
    ap.add_argument("--manifest", type=Path, help="write exactly these projects' versions (a .manifest.tsv written before)")
    args = ap.parse_args()
    if args.manifest:
        rows = [line.split("\t") for line in args.manifest.read_text().splitlines()[1:] if line]
        wanted = [(r[0], r[1]) for r in rows]
    else:
        repo = args.mirror / "hugovk+top-pypi-packages" / "repo"
        if not repo.is_dir():
            raise SystemExit(f"no snapshot of hugovk/top-pypi-packages in {args.mirror} (fetch github:hugovk/top-pypi-packages)")
        top = json.loads(git(repo, "show", "HEAD:top-pypi-packages.min.json"))["rows"]
        left_out = {canonicalize_name(n) for n in LEFT_OUT}
        wanted = [(r["project"], "") for r in top[: args.candidates] if canonicalize_name(r["project"]) not in left_out]
    with ThreadPoolExecutor(8) as pool:
        infos = list(pool.map(lambda nv: fetch(*nv), wanted))
    kept, seen, families, total = [], set(), Counter(), 0
    for (name, _), info in zip(wanted, infos):
        if info is None or total >= args.chars:
            continue
        lic, text = license_of(info), clean_readme((info.get("description") or "").replace("\r", ""))
        if len(text) > LONGEST:
            cut = text.rfind("\n\n", 0, LONGEST)
            text = text[: cut if cut > 0 else LONGEST]
        key = hashlib.sha256(text[:2000].encode()).hexdigest()
        fam = family(name)
        if not args.manifest and (lic is None or len(text) < 1500 or not english(text) or key in seen or families[fam] >= FAMILY):
            continue
        seen.add(key)
        families[fam] += 1
        kept.append((name, info["version"], lic or "", text))
        total += len(text)
    args.out.mkdir(parents=True, exist_ok=True)
    for old in args.out.glob("readmes-*.txt"):
        old.unlink()
    for i in range(0, len(kept), PER_FILE):
        (args.out / f"readmes-{i // PER_FILE:03d}.txt").write_text("\n\n".join(t.strip() for *_, t in kept[i : i + PER_FILE]) + "\n",
                                                                   encoding="utf-8")
    manifest = "name\tversion\tlicense\tchars\n" + "".join(f"{n}\t{v}\t{lic}\t{len(t)}\n" for n, v, lic, t in kept)
    (args.out / ".manifest.tsv").write_text(manifest, encoding="utf-8")
    missing = [name for (name, _), info in zip(wanted, infos) if info is None]
    print(f"{len(kept):,} READMEs of {len(wanted):,} projects looked at, {total:,} characters in {args.out}"
          + (f"; {len(missing)} not found on PyPI, or not at the manifest's version (e.g. {missing[0]})" if missing else ""))


if __name__ == "__main__":
    main()
