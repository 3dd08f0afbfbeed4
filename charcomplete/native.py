"""Hot loops in C, compiled on first use: the corpus memory's lookups, the network's step and the
per-key work of the models that learn the document.

A suggestion asks the corpus memory about every character it grows, and at a word's first letter
most of those questions are new: in Python each answer takes 20-55 µs, a fifth to a third of the
slowest keys' time (bench/slow_keys.py). charcomplete/memory.c does the same lookups and the same
arithmetic in the same order (the same doubles: tests/test_native.py), in 2-17 µs (warm or cold
caches). charcomplete/network.c steps the network (stepper.py) with its weights in int8 where the
CPU has AVX2 or AVX-512 (x86) or NEON (64-bit ARM): a step's time is the time to read its weights.
charcomplete/adapt.c does the per-key work of the models that learn the document (the document
cache's mixture over its Python dicts, read through Python's C API, the partial words' blend, the
match model's keys, the output layer's step and the mixer): an extension module, built with this
Python's headers.

The first time a process needs one, the C file shipped in the package is compiled with the
machine's C compiler (`$CC`, which may hold a wrapper such as ccache and flags, else `cc`) into
the cache folder, named by the source's SHA-256, its flags and the platform (and the CPU, for a
build with -march=native; for adapt.c, the Python), and loaded (ctypes; adapt.c as an extension
module); later processes load that file. Without a
compiler, or if anything fails, Python and numpy answer as before (nothing else changes).
CHARCOMPLETE_NO_NATIVE=1 turns all three off (=memory, =network or =adapt, or a comma list, some). Nothing is
downloaded: the libraries are built from the package's own source, on this machine.
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
import sysconfig
import tempfile
import threading
from pathlib import Path

import numpy as np

from charcomplete.fileio import TEMP_PREFIX, remove_stale_temps
from charcomplete.paths import cache_dir, make_folder

SOURCE = Path(__file__).with_name("memory.c")
MAX_ORDERS = 16  # memory.c's MAX_ORDERS
FLAGS = ["-O2", "-ffp-contract=off", "-shared", "-fPIC"]  # no fused multiply-adds: the same rounding as numpy's


def network_flags(machine: str) -> list[str]:
    """network.c's flags: on x86 this CPU's vector instructions (AVX2 or AVX-512; without them it is
    plain C, which stepper.py leaves to numpy); on 64-bit ARM none, NEON being in every such CPU
    (and some of Apple's compilers refusing -march=native)."""
    arm = machine.lower() in ("arm64", "aarch64")
    return ["-O3"] + ([] if arm else ["-march=native"]) + ["-shared", "-fPIC"]


def extension_flags() -> list[str]:
    """adapt.c's flags: memory.c's, with this Python's headers (and on macOS its symbols left to
    the interpreter that loads it)."""
    include = sysconfig.get_paths().get("include") or ""
    return FLAGS + [f"-I{include}"] + (["-undefined", "dynamic_lookup"] if sys.platform == "darwin" else [])


NETWORK_FLAGS = network_flags(platform.machine())
SOURCES = {"memory": (SOURCE, FLAGS), "network": (SOURCE.with_name("network.c"), NETWORK_FLAGS),
           "adapt": (SOURCE.with_name("adapt.c"), extension_flags())}  # each library's source and flags
EXTENSIONS = {"adapt": "_adapt"}  # the Python extension modules among them, and their module names
COMPILE_TIMEOUT_S = 60
_loaded: dict[str, ctypes.PyDLL | None] = {}  # per library: loaded, or None (unavailable); absent: not tried yet in this process
_building = threading.Lock()
_P, _I = ctypes.c_void_p, ctypes.c_int64
SIGNATURES = {  # each library's functions: (argument types, result type)
    "memory": {"memory_predict": ([_P, _P, _I, _P, _P, _P, _P], None)},
    "network": {"net_build": ([], ctypes.c_char_p), "net_vectorised": ([], ctypes.c_int), "net_matrix_bytes": ([_I, _I], _I), "net_quantize": ([_I, _I, _P, _P], None),
                "net_cell": ([_I] + [_P] * 9, None),
                "net_layer": ([_I, _I, _P, _I] + [_P] * 7, None),
                "net_head": ([_I, _I, _I, _P, _P, _P, ctypes.c_float, _P, _P, _P, _P, _P], None),
                "net_step1": ([_P, _I, _P, _P, _P, _P, _I], None)},
}


class Step1(ctypes.Structure):
    """network.c's Step1: a one-layer network's constants for net_step1."""

    _fields_ = [("H", ctypes.c_int64), ("Vp", ctypes.c_int64), ("x_table", ctypes.c_void_p), ("w_hh", ctypes.c_void_p),
                ("w_k", ctypes.c_void_p), ("w_out", ctypes.c_void_p), ("b_out", ctypes.c_void_p),
                ("cell_scratch", ctypes.c_void_p), ("head_scratch", ctypes.c_void_p), ("inv_sqrt_h", ctypes.c_float)]


class _Memory(ctypes.Structure):
    """memory.c's Memory."""

    _fields_ = [("n_orders", ctypes.c_int64), ("vocab", ctypes.c_int64), ("orders", ctypes.c_int64 * MAX_ORDERS),
                ("keys", ctypes.c_void_p * MAX_ORDERS), ("n_keys", ctypes.c_int64 * MAX_ORDERS),
                ("starts", ctypes.c_void_p * MAX_ORDERS), ("syms", ctypes.c_void_p * MAX_ORDERS),
                ("cnts", ctypes.c_void_p * MAX_ORDERS), ("p0", ctypes.c_void_p),
                ("discount", ctypes.c_double), ("strength", ctypes.c_double), ("cutoff", ctypes.c_double)]


def _cpu() -> str:
    """This CPU's model and features, for a library built with -march=native (a cache folder that
    machines with other CPUs share then holds one library each)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            lines = [line for line in f.read(1 << 20).splitlines()[:64] if line.split(":")[0].strip() in
                     ("vendor_id", "model name", "flags", "Features", "CPU implementer", "CPU part")]
    except OSError:
        lines = []
    return "\n".join(lines) or f"{platform.processor()} {platform.machine()}"


def library_path(name: str = "memory", flags: list[str] | None = None) -> Path:
    """Where a library is kept: the cache folder, named by its source, its flags and the platform
    (and this CPU, when compiled for it)."""
    source, default = SOURCES[name]
    flags = default if flags is None else flags
    key = source.read_bytes() + " ".join(flags).encode() + (_cpu().encode() if "-march=native" in flags else b"")
    if name in EXTENSIONS:  # built for this Python (its version and build) only
        key += f"{sys.implementation.cache_tag} {sysconfig.get_config_var('EXT_SUFFIX')} {sys.version}".encode()
    return cache_dir() / "native" / f"{name}-{hashlib.sha256(key).hexdigest()[:16]}-{sys.platform}-{platform.machine()}.so"


def _compile(out: Path, source: Path = SOURCE, flags: list[str] = FLAGS) -> None:
    """Compile `source` into `out` (a temp file beside it, then a rename: another process may be
    doing the same). Raises OSError or subprocess errors."""
    make_folder(out.parent, private=True)
    remove_stale_temps(out.parent)  # a build killed midway left its temp file
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".so", dir=out.parent)
    os.close(fd)
    try:
        subprocess.run([*shlex.split(os.environ.get("CC") or "cc"), *flags, "-o", tmp, str(source)], check=True,
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


def turned_off(name: str) -> bool:
    """CHARCOMPLETE_NO_NATIVE: 1 turns every library off; "memory", "network", "adapt" or a comma
    list of them only those."""
    value = os.environ.get("CHARCOMPLETE_NO_NATIVE", "").strip()
    names = {part.strip() for part in value.split(",")}
    return value not in ("", "0") and (name in names or not names <= set(SOURCES))


def _load(name: str):
    """Load a library (a ctypes.PyDLL) or an extension module, built the first time."""
    source, flags = SOURCES[name]
    path = library_path(name)
    if not path.exists():
        if name in EXTENSIONS and not (Path(sysconfig.get_paths().get("include") or "") / "Python.h").is_file():
            raise OSError("no Python headers to build against (a distribution's python3-dev)")  # not a compile per start
        _compile(path, source, flags)
    _check_owner(path)
    if name in EXTENSIONS:
        from importlib.machinery import ExtensionFileLoader
        from importlib.util import module_from_spec, spec_from_file_location

        module_name = f"charcomplete.{EXTENSIONS[name]}"
        loader = ExtensionFileLoader(module_name, str(path))
        module = module_from_spec(spec_from_file_location(module_name, str(path), loader=loader))
        loader.exec_module(module)
        return module
    lib = ctypes.PyDLL(str(path))  # PyDLL: the GIL is kept (callers' scratch arrays are shared; 2 µs a call)
    for fn, (argtypes, restype) in SIGNATURES[name].items():
        getattr(lib, fn).argtypes, getattr(lib, fn).restype = argtypes, restype
    return lib


def library(name: str = "memory"):
    """A compiled library, memory.c or network.c (a ctypes.PyDLL), or adapt.c (an extension module),
    built the first time; or None: turned off, no compiler (or Python headers), or it failed."""
    if name in _loaded:  # (asked on every key: no lock once known)
        return _loaded[name]
    with _building:  # a thread that asks while another builds waits for that build, not numpy for good
        if name not in _loaded:
            lib = None  # (set once known: the check above, without the lock, never sees a build under way)
            if not turned_off(name):
                try:
                    lib = _load(name)
                except (OSError, ValueError, subprocess.SubprocessError, AttributeError, ImportError):  # ValueError: an unparsable $CC
                    pass
            _loaded[name] = lib
        return _loaded[name]


class NativeMemory:
    """CorpusMemory.predict through memory.c, for a memory whose tables it can read (uint32 keys,
    uint8 next characters and counts, at most MAX_ORDERS orders); `create` says None otherwise."""

    @classmethod
    def create(cls, memory) -> NativeMemory | None:
        ok = len(memory.orders) <= MAX_ORDERS and all(
            t.keys.dtype == np.uint32 and t.starts.dtype == np.int64 and t.syms.dtype == np.uint8 and t.cnts.dtype == np.uint8
            and all(a.flags.c_contiguous for a in (t.keys, t.starts, t.syms, t.cnts)) for t in memory.tables)
        lib = library("memory") if ok else None
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
