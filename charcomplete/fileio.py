"""Atomic file writes: a temp file in the same folder, write, fsync, keep the mode, rename.

Used for checkpoints and for the editor's saves. If anything fails the original file is
untouched and the temp file is removed. A symlink stays a symlink: its target is written.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

TEMP_PREFIX = ".charcomplete-tmp-"  # temp files we write start with this; stale ones are ignored
SNIFF_BYTES = 8192  # a NUL in this many leading bytes marks a file as binary


def looks_binary(data: bytes) -> bool:
    """A NUL byte in the head of `data`: a binary file, not text (UTF-8 and its kin never hold one)."""
    return b"\x00" in data[:SNIFF_BYTES]


def atomic_write(path: str | os.PathLike, data: bytes, mode: int | None = None, follow_symlinks: bool = True) -> Path:
    """Replace the file at `path` (or the target of the symlink at `path`) with `data`.

    `mode`: permission bits for a new file (default 0o644 less the umask); an existing
    file keeps its own. Returns the path that was written (the symlink's target).
    `follow_symlinks=False`: a symlink at `path` is itself replaced by the file (its target,
    which may not exist, is never created or written).
    """
    target = Path(os.path.realpath(path)) if follow_symlinks else Path(os.path.abspath(path))
    folder = target.parent
    try:
        st = target.stat() if follow_symlinks else os.lstat(target)
        if not stat.S_ISREG(st.st_mode) and not follow_symlinks:
            raise FileNotFoundError  # a symlink (or FIFO) to replace: a new file's mode
        keep_mode = stat.S_IMODE(st.st_mode)
    except FileNotFoundError:
        st = None
        if mode is None:
            umask = os.umask(0)
            os.umask(umask)
            keep_mode = 0o666 & ~umask
        else:
            keep_mode = mode
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX + target.name + ".", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, keep_mode)
        if st is not None:
            try:
                os.chown(tmp, st.st_uid, st.st_gid)
            except OSError:
                pass  # not ours to change: the file keeps our uid, as any editor's save would
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(folder)
    return target


def probe_folder(folder: Path) -> None:
    """Create and remove a temp file in `folder`: OSError if nothing can be written there."""
    fd, tmp = tempfile.mkstemp(prefix=".charcomplete-probe-", dir=folder)
    os.close(fd)
    os.unlink(tmp)


def fsync_dir(folder: Path) -> None:
    """Make a rename durable (best effort: not every platform can open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
