"""The files around the one being edited, which the editor's document cache also learns from.

Which files: the git-tracked files of its repository when it is in one (`git ls-files`, so
.gitignore is respected; a subprocess with a timeout), otherwise its folder and the folders just
below it. Text files only (binary and non-UTF-8 files are skipped, as the corpus reader skips
them), the same kind of text first (code for a code file, prose for prose: `registry.file_kind`),
then the nearest (same folder first). Hidden and vendored folders are skipped. Caps: at most
`max_files` files, `max_bytes` bytes in all (a file over `max_file_bytes` is skipped), and
`max_seconds` for finding and reading them. Nothing leaves the machine: the files are only read.

A file inside a repository's `.git` folder (COMMIT_EDITMSG, TAG_EDITMSG, MERGE_MSG: charcomplete as
git's editor) has the repository's latest commit messages as its neighbours instead: `git log`, with
no program a repository's config names run (no fsmonitor, no signature checks).
"""

from __future__ import annotations

import os
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from charcomplete.fileio import looks_binary
from charcomplete.vocab import normalize_newlines

SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", "venv", ".venv", "env", "__pycache__", "dist", "build",
             "vendor", "site-packages", ".tox", ".mypy_cache", ".pytest_cache", "target"}


@dataclass
class Caps:
    max_files: int = 200
    max_bytes: int = 4_000_000  # text read in all
    max_file_bytes: int = 1_000_000  # a larger file is skipped
    max_seconds: float = 3.0  # finding and reading
    max_listed: int = 20_000  # candidate paths looked at (a huge repository or folder)


def _skipped(rel: Path) -> bool:
    """A path under a hidden or vendored folder, or a hidden file."""
    return any(part in SKIP_DIRS or part.startswith(".") for part in rel.parts)


# A repository's own config must not run a program when a file in it is opened: `git ls-files`
# runs the core.fsmonitor hook a downloaded folder's .git/config may name.
GIT = ["git", "-c", "core.fsmonitor=false"]


def _git_files(folder: Path, timeout: float, limit: int) -> list[Path] | None:
    """The tracked files of the repository `folder` is in (absolute paths), or None when it is
    not in one (or git is missing, slow or fails)."""
    try:
        top = subprocess.run([*GIT, "-C", str(folder), "rev-parse", "--show-toplevel"], capture_output=True,
                             timeout=timeout, stdin=subprocess.DEVNULL)
        if top.returncode != 0:
            return None
        root = Path(os.fsdecode(top.stdout.strip()))
        out = subprocess.run([*GIT, "-C", str(root), "ls-files", "-z"], capture_output=True, timeout=timeout,
                             stdin=subprocess.DEVNULL)
        if out.returncode != 0:
            return None
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    names = [os.fsdecode(n) for n in out.stdout.split(b"\0") if n][:limit]
    return [root / n for n in names if not _skipped(Path(n)) and _inside(root, n)]


def _inside(root: Path, name: str) -> bool:
    """Whether `root/name` is that file itself: no folder on the way is a link (an index can name
    `d/id_rsa` beside an untracked link `d` -> ~/.ssh, and reading it followed the link)."""
    try:
        return os.path.realpath(root / name) == os.path.join(os.path.realpath(root), name)
    except (OSError, ValueError):
        return False


def _folder_files(folder: Path, limit: int) -> list[Path]:
    """The files of `folder` and of the folders just below it (not hidden, not vendored)."""
    out: list[Path] = []
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)[:limit]
    except OSError:
        return out
    for e in entries:
        if e.name.startswith(".") or e.name in SKIP_DIRS:
            continue
        try:
            if e.is_file(follow_symlinks=False):
                out.append(Path(e.path))
            elif e.is_dir(follow_symlinks=False):
                with os.scandir(e.path) as sub:
                    out += [Path(s.path) for s in sorted(sub, key=lambda s: s.name)[:limit]
                            if not s.name.startswith(".") and s.is_file(follow_symlinks=False)]
        except OSError:
            continue
        if len(out) >= limit:
            break
    return out[:limit]


def candidates(path: str | os.PathLike, caps: Caps | None = None) -> list[Path]:
    """The files that may be learned from for `path`, best first (not yet read)."""
    from charcomplete.registry import file_kind

    caps = caps or Caps()
    path = Path(path).absolute()
    folder = path.parent
    files = _git_files(folder, caps.max_seconds, caps.max_listed)
    if files is None:
        files = _folder_files(folder, caps.max_listed)
    kind = file_kind(path)

    def distance(p: Path) -> int:  # folders between the two (0: the same folder)
        a, b = p.parent.parts, folder.parts
        common = 0
        for x, y in zip(a, b):
            if x != y:
                break
            common += 1
        return len(a) + len(b) - 2 * common

    files = [p for p in files if p != path]
    return sorted(files, key=lambda p: (file_kind(p) != kind, distance(p), str(p)))


def git_dir_of(path: str | os.PathLike) -> Path | None:
    """The git folder `path` lies in (`.git`, or a worktree's or submodule's folder under it, where
    git writes COMMIT_EDITMSG), or None when no folder above it is named `.git`."""
    path = Path(path).absolute()
    dotgit = next((p for p in path.parents if p.name == ".git"), None)
    if dotgit is None:
        return None
    folder = path.parent
    while folder != dotgit and not (folder / "HEAD").is_file():  # .git/rebase-merge/git-rebase-todo
        folder = folder.parent
    return folder


def unit_of(path: str | os.PathLike) -> str:
    """What one neighbour of `path` is, as the status bar counts them: "file" or "commit"."""
    return "file" if git_dir_of(path) is None else "commit"


def _commit_messages(git_dir: Path, caps: Caps) -> list[str]:
    """The repository's latest commit messages (at most `caps.max_files`, newest first)."""
    cmd = [*GIT, "-c", "log.showSignature=false", "--git-dir", str(git_dir), "log", "--no-show-signature",
           f"-n{caps.max_files}", "--format=%B%x00"]
    try:
        out = subprocess.run(cmd, capture_output=True, timeout=caps.max_seconds, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError, ValueError):
        return []
    if out.returncode != 0:
        return []
    messages = []
    for raw in out.stdout.split(b"\0"):
        try:
            text = raw.decode("utf-8").strip("\n")
        except UnicodeDecodeError:
            continue
        if text:
            messages.append(normalize_newlines(text) + "\n")
    return messages


def read_neighbours(path: str | os.PathLike, caps: Caps | None = None, should_stop=lambda: False) -> Iterator[tuple[Path, str]]:
    """(path, text) of the neighbouring files of `path`, best first, within the caps; binary,
    non-UTF-8, unreadable and too large files are skipped. `should_stop()` ends it early. In a git
    folder: (that folder, message) for each of the latest commit messages."""
    caps = caps or Caps()
    git_dir = git_dir_of(path)
    if git_dir is not None:
        total = 0
        for text in _commit_messages(git_dir, caps):
            total += len(text)
            if total > caps.max_bytes or should_stop():
                return
            yield git_dir, text
        return
    t0 = time.monotonic()
    files = total = 0
    for p in candidates(path, caps):
        if files >= caps.max_files or total >= caps.max_bytes or time.monotonic() - t0 > caps.max_seconds or should_stop():
            return
        try:
            st = p.lstat()  # a link is not followed: a tracked link's target is not the repository's text
            if not stat.S_ISREG(st.st_mode) or st.st_size > min(caps.max_file_bytes, caps.max_bytes - total):
                continue
            data = p.read_bytes()
        except OSError:
            continue
        if not data or looks_binary(data):
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        files += 1
        total += len(data)
        yield p, normalize_newlines(text)
