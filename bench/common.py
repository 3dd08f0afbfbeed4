"""Shared helpers for the benchmark scripts: the corpus's held-out tails, timing, tables."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "corpus"
UNSEEN_PLAYS = SHARED.parent / "unseen-plays"  # bench/plays_corpus.py's plays: beside the corpus, so that no training reads them
sys.path.insert(0, str(REPO))

from charcomplete.corpus import read_corpus, split_text  # noqa: E402


def git(repo: Path, *args: str) -> str:
    """The output of `git -C repo ARGS` (text; CalledProcessError when git fails): the corpus
    scripts and the tuning sets read snapshots with it."""
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def tree(repo: Path) -> list[tuple[str, int | None]]:
    """(path, size in bytes) of every file at a snapshot's HEAD (`git ls-tree -r -l`); the size is
    None where the snapshot lacks the file's contents (a large file left out of it)."""
    out = []
    for line in git(repo, "ls-tree", "-r", "-l", "HEAD").splitlines():
        meta, path = line.split("\t", 1)
        size = meta.split()[3]
        out.append((path, int(size) if size.isdigit() else None))
    return out


def snapshots(folder: str, repos: list[str], default: Path | None = None) -> tuple[dict[str, Path], Path]:
    """The command line of a corpus script, `MIRROR [OUT]`: the snapshot of each of `repos`
    (OWNER/NAME, at MIRROR/OWNER+NAME/repo, the layout the project's `fetch` tool writes) and the
    output folder (default `default`, else ../shared/corpus/FOLDER; created); one line and exit if one is missing."""
    ap = argparse.ArgumentParser()
    ap.add_argument("mirror", type=Path, help="folder of the snapshots (MIRROR/OWNER+NAME/repo)")
    ap.add_argument("out", type=Path, nargs="?", default=default or SHARED / folder)
    args = ap.parse_args()
    found = {name: args.mirror / name.replace("/", "+") / "repo" for name in repos}
    missing = [n for n, r in found.items() if not r.is_dir()]
    if missing:
        raise SystemExit(f"no snapshot of {len(missing)} of {len(repos)} repositories in {args.mirror}, "
                         f"e.g. {missing[0]} (fetch github:{missing[0]})")
    args.out.mkdir(parents=True, exist_ok=True)
    return found, args.out


def tails(folder: str | Path, val_fraction: float = 0.05) -> tuple[list[tuple[str, str]], str]:
    """([(path, validation tail)], training text) of a corpus folder, split as the trainer splits it."""
    files = read_corpus([str(folder)])
    val, train = [], []
    for d in files.documents:
        t, v = split_text(d.text, val_fraction)
        train.append(t)
        if v:
            val.append((d.path, v))
    return val, "".join(train)


def sample(texts: list[tuple[str, str]], chars_per_file: int, max_files: int) -> list[tuple[str, str]]:
    """Up to `chars_per_file` characters from each of up to `max_files` texts, spread over the
    list and skipping short ones, so the sample holds about chars_per_file * max_files characters."""
    step = max(1, len(texts) // max_files)
    order = texts[::step] + [t for i, t in enumerate(texts) if i % step]
    long_enough = [t for t in order if len(t[1]) >= chars_per_file // 2] or order
    return [(p, t[:chars_per_file]) for p, t in long_enough[:max_files]]


def policy_with(base, spec: str):
    """`base` (a completion.Policy) with FIELD=VALUE[,FIELD=VALUE] of `spec`, each value read as
    the field's own type (e.g. "start_chars=0,show_threshold=0.12")."""
    from dataclasses import replace

    fields = dict(kv.split("=", 1) for kv in spec.split(",") if kv)
    return replace(base, **{k: type(getattr(base, k))(v) for k, v in fields.items()})


def one_thread() -> None:
    import torch

    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


def command_line() -> str:
    return "python " + " ".join([os.path.relpath(sys.argv[0], REPO)] + sys.argv[1:])
