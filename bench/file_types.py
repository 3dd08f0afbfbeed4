"""Which shipped model serves a kind of file better: `prose` against `code` on source and
config files other than Python, as the editor runs them (adapting, each file a fresh document).
`edit` gives every suffix in registry.CODE_SUFFIXES the `code` model; this checks that choice
on files neither model trained on.

    python bench/file_types.py [--mirror /work/.mirror] [--types js,ts,c,rs,yml,json,html,css,toml,sh,xml]

The files: for each suffix, 6 files of 3,000 characters or more drawn (seeded) from the git
snapshots in --mirror (the `fetch` tool's layout, OWNER+NAME/repo; node_modules and vendor
folders left out), 1,500 characters from a third into each. Per model and suffix: bits per
character as the editor runs, KSR and precision.
"""

from __future__ import annotations

import argparse
import random
import subprocess
from pathlib import Path

from common import command_line, git, one_thread, tree

from charcomplete.adapt import AdaptiveModel
from charcomplete.completion import load_completer
from charcomplete.evaluate import completion_metrics, sequential_bpc

TYPES = "js,ts,c,rs,yml,json,html,css,toml,sh,xml"


def sample_files(mirror: Path, suffixes: list[str], per: int = 6, chars: int = 1500, seed: int = 0) -> dict[str, list[str]]:
    """{suffix: up to `per` texts}: `chars` characters from a third into files of 2 x chars or more."""
    found: dict[str, list[tuple[Path, str]]] = {}
    for repo in sorted(mirror.glob("*/repo")):
        try:
            files = tree(repo)
        except (subprocess.CalledProcessError, UnicodeDecodeError):  # an empty or odd snapshot
            continue
        for path, size in files:
            suffix = path.rsplit(".", 1)[-1] if "." in path.rsplit("/", 1)[-1] else ""
            if suffix in suffixes and size and size >= 2 * chars and "node_modules" not in path and "/vendor/" not in path:
                found.setdefault(suffix, []).append((repo, path))
    rng, out = random.Random(seed), {}
    for suffix in suffixes:
        candidates = found.get(suffix, [])
        rng.shuffle(candidates)
        texts = []
        for repo, path in candidates:
            if len(texts) >= per:
                break
            try:
                text = git(repo, "show", f"HEAD:{path}")
            except (subprocess.CalledProcessError, UnicodeDecodeError):  # not UTF-8, or absent from the snapshot
                continue
            if "\0" not in text:
                texts.append(text[len(text) // 3 :][:chars])
        if texts:
            out[suffix] = texts
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mirror", type=Path, default=Path("/work/.mirror"), help="git snapshots (OWNER+NAME/repo)")
    ap.add_argument("--types", default=TYPES, help="comma-separated suffixes")
    args = ap.parse_args()
    one_thread()
    sets = sample_files(args.mirror, args.types.split(","))
    models = {m: load_completer(m, adapt=AdaptiveModel()) for m in ("prose", "code")}
    print(f"`{command_line()}`\n\n| suffix | files | `prose` bpc / KSR / precision | `code` bpc / KSR / precision |\n|---|---|---|---|")
    for suffix, texts in sets.items():
        cells = []
        for c in models.values():
            bits = n = 0
            for t in texts:
                r = sequential_bpc(c, t)
                bits, n = bits + r["bpc"] * r["chars"], n + r["chars"]
            m = completion_metrics(c, texts, 0)
            cells.append(f"{bits / n:.3f} / {m['ksr']:.3f} / {m['precision']:.3f}")
        print(f"| .{suffix} | {len(texts)} | {cells[0]} | {cells[1]} |", flush=True)


if __name__ == "__main__":
    main()
