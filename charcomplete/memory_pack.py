"""A corpus memory packed for shipping: about half the bytes on disk.

A memory file (memory_file.py) is mostly sorted 32-bit context keys and small counts. Packed, its
keys are stored as the differences between neighbours (small numbers, byte by byte: the low
bytes of all, then the next) and the whole file is deflated (zlib): the prose memory's 81.0 MB
become 37.5 MB, so a shipped model keeps a larger memory within its 40 MB. The first time a
packed memory is used it is unpacked into the user's cache folder (`paths.cache_dir()/memories`,
named by the unpacked file's SHA-256, so models that share a memory share the file), checked
against that hash, and from then on read like any memory file: validated, memory-mapped.
Standard library and numpy only.

    pack(Path("prose.memory.safetensors"), Path("prose.memory.packed"))
    memory_source(Path("prose.safetensors"))  # the memory file to read: beside it, or the unpacked cache

The packed file: one line `charcomplete-memory-packed 1 SHA256 SIZE` (of the unpacked file),
then the zlib stream of the unpacked file with every `keys.*` array transformed as above.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

from charcomplete.fileio import atomic_write, remove_stale_temps
from charcomplete.memory_file import MAX_FILE, MemoryFileError, _header, read_memory
from charcomplete.paths import make_folder

MAGIC = b"charcomplete-memory-packed 1 "
PACKED_SUFFIX = ".memory.packed"  # beside a checkpoint, like registry.MEMORY_SUFFIX
CHUNK = 1 << 20
STALE_DAYS = 30  # an unpacked memory no model has used for this long is removed from the cache


def _key_views(data: bytearray) -> list[np.ndarray]:
    """Writable uint32 views of the `keys.*` arrays of a memory file's bytes."""
    header, begin = _header(data, len(data))
    views = []
    for name, entry in header.items():
        if name.startswith("keys.") and isinstance(entry, dict) and entry.get("dtype") == "U32":
            span = entry.get("data_offsets")
            lo, hi = span if isinstance(span, list) and len(span) == 2 else (None, None)
            if not (type(lo) is int and type(hi) is int and 0 <= lo <= hi <= len(data) - begin and (hi - lo) % 4 == 0):
                raise MemoryFileError(f"bad tensor entry {name[:40]!r}")
            views.append(np.frombuffer(data, dtype="<u4", count=(hi - lo) // 4, offset=begin + lo))
    return views


def pack(src: Path, dst: Path) -> Path:
    """Write the memory file `src` packed to `dst` (atomically); `src` is checked first."""
    read_memory(src)  # never pack a file that would not load
    data = bytearray(Path(src).read_bytes())
    digest = hashlib.sha256(data).hexdigest()
    for keys in _key_views(data):
        if len(keys) > 1:
            keys[1:] = np.diff(keys)  # sorted: small differences (uint32 arithmetic wraps back on unpacking)
        b = keys.view(np.uint8)
        b[:] = b.reshape(-1, 4).T.ravel()  # their low bytes together, then the next (zlib finds the zeros)
    head = MAGIC + f"{digest} {len(data)}\n".encode()
    atomic_write(dst, head + zlib.compress(bytes(data), 9))
    return Path(dst)


def _read_head(packed: Path) -> tuple[str, int, int]:
    """(SHA-256, size of the unpacked file, where the zlib stream begins) of a packed file."""
    with open(packed, "rb") as f:
        line = f.readline(200)
    parts = line[len(MAGIC) :].split() if line.startswith(MAGIC) and line.endswith(b"\n") else []
    try:
        digest, size = parts[0].decode("ascii"), int(parts[1])
        ok = len(parts) == 2 and len(digest) == 64 and set(digest) <= set("0123456789abcdef") and 0 < size <= MAX_FILE
    except (IndexError, ValueError, UnicodeDecodeError):
        ok = False
    if not ok:
        raise MemoryFileError(f"{packed}: not a packed memory file")
    return digest, size, len(line)


def _unpack_bytes(packed: Path, size: int, offset: int) -> bytearray:
    """The unpacked file's bytes (at most `size`: a stream inflating further is refused)."""
    out, z = bytearray(), zlib.decompressobj()
    try:
        with open(packed, "rb") as f:
            f.seek(offset)
            while chunk := f.read(CHUNK):
                out += z.decompress(chunk, size + 1 - len(out))
                if len(out) > size or z.unconsumed_tail:
                    raise MemoryFileError(f"{packed}: unpacks to more than it says")
        out += z.flush()
    except zlib.error:
        raise MemoryFileError(f"{packed}: damaged (cannot inflate)") from None
    if len(out) != size or not z.eof:
        raise MemoryFileError(f"{packed}: truncated or damaged")
    for keys in _key_views(out):
        b = keys.view(np.uint8)
        b[:] = b.reshape(4, -1).T.ravel()
        np.cumsum(keys, dtype=np.uint32, out=keys)
    return out


def unpacked(packed: Path, cache: Path | None = None) -> Path:
    """The unpacked memory file of `packed`: in the cache when there, else unpacked into it (or,
    when the cache cannot be written, into a temporary file). MemoryFileError (one line) for a
    packed file that is damaged or cannot be read or unpacked anywhere."""
    from charcomplete.paths import cache_dir

    try:
        digest, size, offset = _read_head(packed)
        folder = (cache or cache_dir()) / "memories"
        target = folder / f"{digest[:32]}.memory.safetensors"
        if target.is_file() and target.stat().st_size == size:
            with contextlib.suppress(OSError):
                os.utime(target)  # in use: not pruned
            return target
        data = _unpack_bytes(packed, size, offset)
    except OSError as e:
        raise MemoryFileError(f"{packed}: cannot read ({e.strerror or e})") from None
    if hashlib.sha256(data).hexdigest() != digest:
        raise MemoryFileError(f"{packed}: damaged (its content does not match its hash)")
    try:
        make_folder(folder)
        atomic_write(target, bytes(data))
    except OSError:  # a read-only or full cache: this process unpacks into a temporary file of its own
        return _temporary(packed, data)
    _prune(folder, keep=target)
    return target


def _temporary(packed: Path, data: bytearray) -> Path:
    name = None
    try:
        fd, name = tempfile.mkstemp(suffix=".memory.safetensors")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    except OSError as e:
        if name is not None:
            _remove(name)
        raise MemoryFileError(f"{packed}: cannot unpack it anywhere ({e.strerror or e})") from None
    atexit.register(_remove, name)  # (a map of it stays readable until the process ends)
    return Path(name)


def _remove(name: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(name)


def _prune(folder: Path, keep: Path) -> None:
    """Remove the unpacked memories no model has used for STALE_DAYS (an older release's) and
    leftover temp files of interrupted writes."""
    remove_stale_temps(folder)
    limit = time.time() - STALE_DAYS * 86400
    for f in folder.glob("*.memory.safetensors"):
        with contextlib.suppress(OSError):
            if f != keep and f.stat().st_mtime < limit:
                f.unlink()


def packed_path_for(checkpoint: Path) -> Path:
    from charcomplete.registry import model_name

    return Path(checkpoint).with_name(model_name(Path(checkpoint)) + PACKED_SUFFIX)


def memory_file(checkpoint: Path) -> Path | None:
    """The memory file beside `checkpoint` as it is on disk: NAME.memory.safetensors, else
    NAME.memory.packed, else (a shipped model sharing another's, registry.SHARED_MEMORY) that
    one's, else None."""
    from charcomplete.registry import memory_path_for, shared_memory_of

    found = next((p for p in (memory_path_for(checkpoint), packed_path_for(checkpoint)) if p.is_file()), None)
    other = shared_memory_of(checkpoint) if found is None else None
    return memory_file(other) if other is not None else found


def is_packed(path: Path) -> bool:
    return path.name.endswith(PACKED_SUFFIX)


def memory_source(checkpoint: Path) -> Path | None:
    """The memory file to read for `checkpoint`: `memory_file`'s, a packed one unpacked (the first
    time: seconds), or None."""
    path = memory_file(checkpoint)
    return unpacked(path) if path is not None and is_packed(path) else path
