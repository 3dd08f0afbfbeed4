"""Atomic file writes: a temp file in the same folder, write, fsync, keep the mode, rename.

Used for checkpoints and for the editor's saves. If anything fails the original file is
untouched and the temp file is removed. A symlink stays a symlink: its target is written.
`write_in_place` is for the few files a rename would harm (see document.Document.save).
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
import time
from pathlib import Path

TEMP_PREFIX = ".charcomplete-tmp-"  # temp files we write start with this; stale ones are ignored, then removed
SNIFF_BYTES = 8192  # a NUL in this many leading bytes marks a file as binary


def looks_binary(data: bytes) -> bool:
    """A NUL byte in the head of `data`: a binary file, not text (UTF-8 and its kin never hold one)."""
    return b"\x00" in data[:SNIFF_BYTES]


def name_cut(name: str, limit: int = 100) -> str:
    """`name`'s first `limit` bytes (in the file system's encoding), for a temp or recovery file
    named after it: a name near the file system's 255 bytes would not fit with a prefix added."""
    return os.fsdecode(os.fsencode(name)[:limit])


def atomic_write(path: str | os.PathLike, data: bytes, mode: int | None = None, follow_symlinks: bool = True,
                 replace_special: bool = False) -> Path:
    """Replace the file at `path` (or the target of the symlink at `path`) with `data`.

    `mode`: permission bits for a new file (default 0o644 less the umask); an existing
    file keeps its own. Returns the path that was written (the symlink's target).
    `follow_symlinks=False`: a symlink at `path` is itself replaced by the file (its target,
    which may not exist, is never created or written).
    A FIFO, device or socket there (or at the link's target) is refused with OSError unless
    `replace_special` (the editor's save, once the user said so): a checkpoint written through a
    link to /dev/zero replaced the device, as root.
    """
    target = Path(os.path.realpath(path)) if follow_symlinks else Path(os.path.abspath(path))
    try:
        st = target.stat() if follow_symlinks else os.lstat(target)
        if follow_symlinks and not replace_special and not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode):
            raise OSError(errno.EEXIST, f"{target} is not a regular file")
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
    return replace_file(target, data, keep_mode, owner=None if st is None else (st.st_uid, st.st_gid))


def replace_file(path: Path, data: bytes, mode: int, owner: tuple[int, int] | None = None) -> Path:
    """Write `data` to a fresh temp file in `path`'s folder (O_EXCL, our TEMP_PREFIX), give it
    `mode` (and `owner` where allowed), fsync, and rename it over whatever entry is at `path`:
    rename replaces a symlink or FIFO itself, it never writes through it. On any failure the
    entry at `path` is untouched and the temp file is removed."""
    folder = path.parent
    # created 0600: private while written
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX + name_cut(path.name) + ".", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        if owner is not None:
            try:
                os.chown(tmp, *owner)
            except OSError:
                pass  # not ours to change: the file keeps our uid, as any editor's save would
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(folder)
    return path


def write_in_place(path: Path, data: bytes) -> Path:
    """Overwrite the regular file at `path` in place, keeping its inode: its other hard links,
    its owner and its folder stay as they are (a rename needs a writable folder and puts a new
    file under the name). Not atomic: the space for `data` is reserved first, so a full disk
    fails before a byte changes, but a failure after that can leave the file part-written, so the
    caller keeps a copy of `data` elsewhere first."""
    fd = os.open(path, os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        if data and hasattr(os, "posix_fallocate"):
            try:
                os.posix_fallocate(fd, 0, len(data))
            except OSError as e:
                if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL):  # a file system without it: write anyway
                    raise
        view, done = memoryview(data), 0
        while done < len(data):
            done += os.pwrite(fd, view[done:], done)
        os.ftruncate(fd, len(data))
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


STALE_TEMP_S = 3600  # a temp file of ours this old is left from a killed save: a live write is never this slow


def remove_stale_temps(folder: str | os.PathLike, older_than_s: float = STALE_TEMP_S) -> int:
    """Remove our temp files (TEMP_PREFIX) left in `folder` by killed saves; how many went.

    Only regular files owned by this user and not modified for `older_than_s` (a fresh one may be
    another editor's save in progress); nothing is followed (a symlink named like ours stays).
    Best effort: never raises."""
    now, removed = time.time(), 0
    try:
        with os.scandir(folder) as entries:
            for e in entries:
                if not e.name.startswith(TEMP_PREFIX):
                    continue
                try:
                    st = e.stat(follow_symlinks=False)
                    if not stat.S_ISREG(st.st_mode) or now - st.st_mtime < older_than_s:
                        continue
                    if hasattr(os, "getuid") and st.st_uid != os.getuid():
                        continue
                    os.unlink(e.path)  # unlink never follows a link, should one be swapped in meanwhile
                    removed += 1
                except OSError:
                    pass
    except OSError:
        pass
    return removed


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
