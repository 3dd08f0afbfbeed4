"""The corpus memory's lookups in C, compiled on first use: the same answers, three to eight times faster.

A suggestion asks the corpus memory about every character it grows, and at a word's first letter
most of those questions are new: in Python each answer takes 20-55 µs, a fifth to a third of the
slowest keys' time (bench/slow_keys.py). charcomplete/memory.c does the same lookups and the same
arithmetic in the same order (the same doubles: tests/test_native.py), in 2-17 µs (warm or cold
caches).

The first time a process needs it, the C file shipped in the package is compiled with the
machine's C compiler (`$CC`, which may hold a wrapper such as ccache and flags, else `cc`) into
the cache folder, named by the source's SHA-256 and the platform, and loaded with ctypes; later
processes load that file. Without a compiler, or if anything fails, the memory answers in
Python as before (nothing else changes).
CHARCOMPLETE_NO_NATIVE=1 turns it off. Nothing is downloaded: the library is built from the
package's own source, on this machine.
"""

from __future__ import annotations

import array
import ctypes
import hashlib
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

from charcomplete.fileio import TEMP_PREFIX, remove_stale_temps
from charcomplete.paths import cache_dir, make_folder

SOURCE = Path(__file__).with_name("memory.c")
MAX_ORDERS = 16  # memory.c's MAX_ORDERS
FLAGS = ["-O2", "-ffp-contract=off", "-shared", "-fPIC"]  # no fused multiply-adds: the same rounding as numpy's
COMPILE_TIMEOUT_S = 60
_library: ctypes.PyDLL | None | bool = False  # False: not tried yet in this process; None: unavailable


class _Memory(ctypes.Structure):
    """memory.c's Memory."""

    _fields_ = [("n_orders", ctypes.c_int64), ("vocab", ctypes.c_int64), ("orders", ctypes.c_int64 * MAX_ORDERS),
                ("keys", ctypes.c_void_p * MAX_ORDERS), ("n_keys", ctypes.c_int64 * MAX_ORDERS),
                ("starts", ctypes.c_void_p * MAX_ORDERS), ("syms", ctypes.c_void_p * MAX_ORDERS),
                ("cnts", ctypes.c_void_p * MAX_ORDERS), ("p0", ctypes.c_void_p),
                ("discount", ctypes.c_double), ("strength", ctypes.c_double), ("cutoff", ctypes.c_double)]


def library_path() -> Path:
    """Where the compiled library is kept: the cache folder, named by the source and the platform."""
    digest = hashlib.sha256(SOURCE.read_bytes() + " ".join(FLAGS).encode()).hexdigest()[:16]
    return cache_dir() / "native" / f"memory-{digest}-{sys.platform}-{platform.machine()}.so"


def _compile(out: Path) -> None:
    """Compile SOURCE into `out` (a temp file beside it, then a rename: another process may be
    doing the same). Raises OSError or subprocess errors."""
    make_folder(out.parent, private=True)
    remove_stale_temps(out.parent)  # a build killed midway left its temp file
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".so", dir=out.parent)
    os.close(fd)
    try:
        subprocess.run([*shlex.split(os.environ.get("CC") or "cc"), *FLAGS, "-o", tmp, str(SOURCE)], check=True,
                       capture_output=True, timeout=COMPILE_TIMEOUT_S)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _check_owner(path: Path) -> None:
    """Load only a library this user built: theirs, and no one else may write to it (OSError if not)."""
    st = path.stat()
    if hasattr(os, "getuid") and (st.st_uid != os.getuid() or st.st_mode & 0o022):
        raise OSError(f"{path}: not this user's own file")


def library() -> ctypes.PyDLL | None:
    """The compiled memory.c (built the first time), or None: turned off, no compiler, or it failed."""
    global _library
    if _library is False:
        _library = None
        if os.environ.get("CHARCOMPLETE_NO_NATIVE", "") in ("", "0"):
            try:
                path = library_path()
                if not path.exists():
                    _compile(path)
                _check_owner(path)
                lib = ctypes.PyDLL(str(path))  # PyDLL: the GIL is kept (the scratch arrays are shared; 2 µs a call)
                lib.memory_predict.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64] + [ctypes.c_void_p] * 4
                lib.memory_predict.restype = None
                _library = lib
            except (OSError, ValueError, subprocess.SubprocessError, AttributeError):  # ValueError: an unparsable $CC
                _library = None
    return _library


class NativeMemory:
    """CorpusMemory.predict through memory.c, for a memory whose tables it can read (uint32 keys,
    uint8 next characters and counts, at most MAX_ORDERS orders); `create` says None otherwise."""

    @classmethod
    def create(cls, memory) -> NativeMemory | None:
        ok = len(memory.orders) <= MAX_ORDERS and all(
            t.keys.dtype == np.uint32 and t.starts.dtype == np.int64 and t.syms.dtype == np.uint8 and t.cnts.dtype == np.uint8
            and all(a.flags.c_contiguous for a in (t.keys, t.starts, t.syms, t.cnts)) for t in memory.tables)
        lib = library() if ok else None
        return cls(memory, lib) if lib is not None else None

    def __init__(self, memory, lib: ctypes.PyDLL):
        cfg = memory.cfg
        self._arrays = [memory.p0] + [a for t in memory.tables for a in (t.keys, t.starts, t.syms, t.cnts)]  # kept alive
        m = self._struct = _Memory()
        m.n_orders, m.vocab = len(memory.orders), memory.V
        for j, (order, t) in enumerate(zip(memory.orders, memory.tables)):
            m.orders[j], m.n_keys[j] = order, len(t.keys)
            m.keys[j], m.starts[j], m.syms[j], m.cnts[j] = (a.ctypes.data for a in (t.keys, t.starts, t.syms, t.cnts))
        m.p0 = memory.p0.ctypes.data
        m.discount, m.strength, m.cutoff = cfg.discount, cfg.strength, cfg.cutoff
        self.max_order = memory.max_order
        self._out = np.empty(memory.V)  # (V,) scratch: each answer is a copy
        self._info = np.zeros(3, np.int64)
        self._few = np.empty(memory.V)
        self._mark = np.empty(memory.V, np.uint8)
        self._call = lib.memory_predict
        self._lock = threading.Lock()  # the scratch arrays are this memory's: one answer at a time
        self._pointers = (ctypes.addressof(m), self._out.ctypes.data, self._info.ctypes.data,
                          self._few.ctypes.data, self._mark.ctypes.data)

    def predict(self, ids_tail) -> tuple[np.ndarray, dict]:
        """CorpusMemory.predict's (probs, info) for the ids before the cursor."""
        ids = array.array("i", ids_tail[-self.max_order :])
        m, out, info, few, mark = self._pointers
        with self._lock:
            self._call(m, ids.buffer_info()[0], len(ids), out, info, few, mark)
            order, level, count = self._info.tolist()
            return self._out.copy(), {"order": order, "level": level, "count": count}
