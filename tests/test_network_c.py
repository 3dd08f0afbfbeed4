"""The network's step in C (charcomplete/network.c through stepper.py): what numpy computes
multiplying as it does (int8 weights, the vectors rounded to int16), in each build this CPU
can run (and its product in a 64-bit ARM build, under qemu, where the cross compiler and qemu are
installed), and close to numpy with the float32 weights; a recompute equal to stepping; built with
this CPU's instructions, and numpy stepping where they are refused or lack vector instructions;
turned off alone by CHARCOMPLETE_NO_NATIVE=network."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

import charcomplete.native as native
from charcomplete.models import ModelConfig, build_model
from charcomplete.stepper import Stepper, _NativeNet

HAS_CC = shutil.which(shlex.split(os.environ.get("CC") or "cc")[0]) is not None
pytestmark = pytest.mark.skipif(not HAS_CC, reason="no C compiler")


@pytest.fixture(autouse=True)
def fresh_library(monkeypatch):
    """Each test looks for the libraries afresh (in its own data folder's cache)."""
    monkeypatch.setattr(native, "_loaded", {})
    monkeypatch.delenv("CHARCOMPLETE_NO_NATIVE", raising=False)


def c_step_or_skip() -> None:
    """Skip where network.c does not step (a CPU without AVX2, AVX-512 or NEON, or a compiler that
    refuses -march=native: numpy steps there, as the other tests check)."""
    lib = native.library("network")
    if lib is None or not lib.net_vectorised():
        pytest.skip("network.c does not step on this CPU")


def network(kind: str, hidden: int, layers: int, vocab: int = 37):
    torch.manual_seed(hidden + layers)
    cfg = ModelConfig(kind=kind, vocab_size=vocab, embed=8, hidden=hidden, layers=layers, window=6)
    return build_model(cfg).eval()


def run(stepper: Stepper, ids) -> list:
    """The states after each of ids[1:], stepped one at a time from the first."""
    st = stepper.recompute(np.array(ids[:1], np.int64))
    states = [st]
    for i in ids[1:]:
        st = stepper.step(st, int(i))
        states.append(st)
    return states


class Int8Matrix:
    """A weight matrix as network.c multiplies by it: int8, each column of W in x @ W times 127 /
    its largest |w|, rounded (net_quantize), the scale that largest |w| / 127; the vector x rounded to
    whole numbers in [-A, A] (int16) by its largest |x| / A (A 32,767, or as large as K sums of
    products with int8 weights allow in int32), the integer products summed exactly."""

    __array_ufunc__ = None  # numpy leaves `x @ this` to __rmatmul__

    def __init__(self, w: np.ndarray, transposed: bool = False):
        w = w.T if transposed else w  # (K, N) for x @ W; transposed: given as (N, K), used as W @ x
        top = np.abs(w).max(axis=0)  # (N,)
        inv = np.divide(np.float32(127), top, out=np.zeros_like(top), where=top > 0)
        self.q, self.scale = np.rint(w * inv), top / np.float32(127)  # (K, N) whole numbers, (N,)
        self.A = min(32767, (2**31 - 1) // (127 * len(w)))
        self.transposed = transposed

    def __rmatmul__(self, x: np.ndarray) -> np.ndarray:  # x (K,) @ W
        top = np.abs(x).max()
        inv = np.float32(self.A) / top if top > 0 else np.float32(0)
        qx = np.clip(np.rint(x * inv), -self.A, self.A)
        return (top / np.float32(self.A) * self.scale) * (qx.astype(np.float64) @ self.q).astype(np.float32)

    def __matmul__(self, x: np.ndarray) -> np.ndarray:  # W @ x, for a matrix given transposed
        assert self.transposed
        return self.__rmatmul__(x)


def int8_numpy(net) -> Stepper:
    """A numpy Stepper that multiplies as network.c does (Int8Matrix for each matrix it reads)."""
    ref = Stepper(net, native=False)
    ref._w_hh_ts = [Int8Matrix(w) for w in ref._w_hh_ts]
    ref._w_ih = [None] + [Int8Matrix(w, transposed=True) for w in ref._w_ih[1:]]
    ref._w_out = Int8Matrix(ref._w_out, transposed=True)
    if net.cfg.kind == "attention":
        ref._w_k = Int8Matrix(ref._w_k)
    return ref


def probs(st) -> np.ndarray:
    return torch.softmax(torch.from_numpy(st.logits.copy()), -1).numpy()


def cpu_flags() -> set[str]:
    try:
        text = open("/proc/cpuinfo").read()
    except OSError:
        return set()
    return set(next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), []))


# network.c's int8 code built for other CPUs than this one: -march=native replaced by these flags
# (name: flags, the CPU flags they need); plain C has NEON's layout and arithmetic
BUILDS = {"this CPU": None,
          "plain C (no vector instructions)": ("", {"sse2"}),  # x86 (on 64-bit ARM, no flag still builds NEON)
          "AVX2 without VNNI": ("-mavx2 -mfma", {"avx2", "fma"}),
          "AVX-VNNI (256-bit)": ("-mavx2 -mfma -mavxvnni", {"avx2", "fma", "avx_vnni"}),
          "AVX-512 without VNNI": ("-mavx512f -mavx512bw -mfma", {"avx512f", "avx512bw", "fma"}),
          "AVX-512 VNNI": ("-mavx512f -mavx512bw -mavx512vnni -mfma", {"avx512f", "avx512bw", "avx512_vnni", "fma"})}


def build_for(build: str, monkeypatch, tmp_path):
    """network.c as built for `build` (skipped where this CPU cannot run it)."""
    if BUILDS[build] is not None:
        flags, needs = BUILDS[build]
        if not needs <= cpu_flags():
            pytest.skip(f"this CPU cannot run a build for {build}")
        swap = f'for a in "$@"; do shift; if [ "$a" = -march=native ]; then set -- "$@" {flags}; else set -- "$@" "$a"; fi; done'
        monkeypatch.setenv("CC", _wrapper(tmp_path, swap))
        lib = native.library("network")
        if lib is None:
            pytest.skip(f"this compiler cannot build for {build}")
        assert (lib.net_build().decode() == "plain C, 16 columns") == (flags == "")
        return lib
    c_step_or_skip()
    return native.library("network")


@pytest.mark.parametrize("build", list(BUILDS))
@pytest.mark.parametrize("kind,hidden,layers", [("attention", 64, 1), ("attention", 40, 2), ("lstm", 48, 1), ("lstm", 18, 2)])
def test_the_c_step_computes_what_numpy_does_multiplying_as_it_does(kind, hidden, layers, build, monkeypatch, tmp_path):
    lib = build_for(build, monkeypatch, tmp_path)
    net = network(kind, hidden, layers)
    c, ref, exact = Stepper(net), int8_numpy(net), Stepper(net, native=False)
    assert c.native == bool(lib.net_vectorised()) and not ref.native
    if not c.native:
        c._c = _NativeNet(c, lib)  # plain C, which the Stepper leaves to numpy: by hand
    ids = np.random.default_rng(0).integers(0, 37, 300)  # past the window: the attention buffer slides
    worst = 0.0
    for a, b, e in zip(run(c, ids), run(ref, ids), run(exact, ids)):
        assert np.abs(probs(a) - probs(b)).max() < 1e-6
        # the states to 1e-5: numpy's and network.c's float32 differences of a few ulp flip an element's
        # rounding to int16 now and then (measured: up to 3e-6 over 300 steps)
        assert all(np.abs(x - y).max() < 1e-5 for x, y in zip(a.h + a.c, b.h + b.c))
        if kind == "attention":
            assert len(a.attn) == len(b.attn) and np.abs(a.attn - b.attn).max() < 1e-5
        worst = max(worst, np.abs(probs(a) - probs(e)).max())
    assert 0 < worst < 1e-3  # against float32: int8 differs, a little (the shipped networks: docs/benchmarks.md)


@pytest.mark.parametrize("kind,layers", [("attention", 1), ("attention", 2), ("lstm", 2)])
def test_a_recompute_in_c_equals_stepping_in_c(kind, layers):
    """After a jump the state is recomputed (net_layer); typing steps it (net_cell): the same cell,
    the same numbers, so a ghost does not change with how the state was reached."""
    c_step_or_skip()
    c = Stepper(network(kind, 32, layers))
    ids = np.random.default_rng(1).integers(0, 37, 50)
    stepped = run(c, ids)[-1]
    recomputed = c.recompute(ids)
    assert np.array_equal(stepped.logits, recomputed.logits)
    assert all(np.array_equal(x, y) for x, y in zip(stepped.h + stepped.c, recomputed.h + recomputed.c))


@pytest.mark.parametrize("kind", ["attention", "lstm"])
def test_a_one_layer_step_in_one_call_is_the_two_calls(kind):
    """net_step1 (the cell and the head in one call, for one-layer networks) gives the numbers of
    net_cell then net_head, past the attention window."""
    c_step_or_skip()
    c = Stepper(network(kind, 48, 1))
    assert c._c._step1 is not None
    ids = np.random.default_rng(2).integers(0, 37, 80)
    one = run(c, ids)
    c._c._step1 = None
    two = run(c, ids)
    for a, b in zip(one, two):
        assert np.array_equal(a.logits, b.logits) and all(np.array_equal(x, y) for x, y in zip(a.h + a.c, b.h + b.c))
        assert (a.attn is None) == (kind == "lstm") and (a.attn is None or np.array_equal(a.attn, b.attn))


def test_a_branch_stepped_from_a_kept_state_leaves_the_other_branches_alone():
    """A suggestion's branches fork the attention buffer; the C step writes only its own row."""
    c_step_or_skip()
    c = Stepper(network("attention", 32, 1))
    st = c.recompute(np.arange(20, dtype=np.int64) % 37)
    first = c.step(st, 3)
    want = first.logits.copy()
    c.step(c.fork(st), 4)
    again = c.step(st, 3)
    assert np.array_equal(again.logits, want) and np.array_equal(first.logits, want)


def _wrapper(tmp_path, body: str) -> str:
    """A $CC that runs `body` (sh) on its arguments before the real compiler."""
    wrapper = tmp_path / "cc"
    wrapper.write_text(f'#!/bin/sh\n{body}\nexec {os.environ.get("CC") or "cc"} "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


def test_a_compiler_that_refuses_this_cpus_instructions_leaves_numpy_stepping(monkeypatch, tmp_path):
    monkeypatch.setenv("CC", _wrapper(tmp_path, 'for a in "$@"; do [ "$a" = -march=native ] && exit 1; done'))
    assert native.library("network") is None and not Stepper(network("lstm", 16, 1)).native
    assert not native.library_path("network").exists()


def test_a_build_without_vector_instructions_leaves_numpy_stepping(monkeypatch, tmp_path):
    """Built without -march=native (as for an x86 CPU without AVX2 or AVX-512), network.c is plain C,
    slower than numpy (docs/benchmarks.md): the Stepper keeps numpy. (Its arithmetic: the test above.)"""
    if "sse2" not in cpu_flags():
        pytest.skip("not an x86 CPU (64-bit ARM builds NEON without any flag)")
    drop = 'for a in "$@"; do shift; [ "$a" = -march=native ] || set -- "$@" "$a"; done'  # the flag removed
    monkeypatch.setenv("CC", _wrapper(tmp_path, drop))
    lib = native.library("network")
    assert lib is not None and lib.net_vectorised() == 0 and not Stepper(network("attention", 40, 2)).native


# the driver's builds (name: compiler and flags, the program that runs it or None); ARM's where
# Debian's gcc-aarch64-linux-gnu and qemu-user are installed
DRIVER = Path(__file__).with_name("network_driver.c")
TOOLCHAINS = {"this CPU": ([os.environ.get("CC") or "cc", "-march=native"], None),
              "plain C": ([os.environ.get("CC") or "cc"], None),
              "64-bit ARM (NEON), under qemu": (["aarch64-linux-gnu-gcc", "-static"], "qemu-aarch64")}
SHAPES = [(1, 1), (3, 5), (16, 16), (37, 100), (256, 1024), (512, 112), (20_000, 3)]  # (K, N); K = 20,000: A = 845


@pytest.mark.parametrize("toolchain", list(TOOLCHAINS))
def test_each_build_multiplies_exactly_as_numpy_rounding_as_it_does(toolchain, tmp_path):
    """x @ W for matrices of every shape the step reads and odd ones (rows not a multiple of 4,
    columns not of a block, a column of zeros, a vector of zeros, a K so large that the vector is
    rounded to fewer than 16 bits) equals Int8Matrix's, float32 bit for bit."""
    cc, runner = TOOLCHAINS[toolchain]
    if shutil.which(shlex.split(cc[0])[0]) is None or (runner and shutil.which(runner) is None):
        pytest.skip(f"{cc[0]} or {runner} not installed")
    exe = tmp_path / "driver"
    try:
        subprocess.run([*shlex.split(cc[0]), *cc[1:], "-O3", "-I", str(Path(native.__file__).parent), "-o", str(exe), str(DRIVER),
                        "-lm"], check=True, capture_output=True, timeout=120)
    except subprocess.CalledProcessError:
        if "-march=native" not in cc:
            raise  # plain C and ARM's build must compile wherever their compiler is (the next test too)
        pytest.skip(f"{cc[0]} refuses -march=native here")
    rng = np.random.default_rng(3)
    cases = []
    for k, n in SHAPES:
        w = rng.standard_normal((k, n)).astype(np.float32) * rng.uniform(0.01, 3, n).astype(np.float32)
        w[:, n // 2] = 0  # a column of zeros: scale 0
        cases += [(w, rng.standard_normal(k).astype(np.float32) * 4), (w, np.zeros(k, np.float32))]
    data = b"".join(np.array(w.shape, np.int64).tobytes() + w.tobytes() + x.tobytes() for w, x in cases)
    out = subprocess.run(([runner] if runner else []) + [str(exe)], input=data, capture_output=True, timeout=300, check=True)
    got, at = [], 0
    for w, _ in cases:
        got.append(np.frombuffer(out.stdout[at : at + 4 * w.shape[1]], np.float32))
        at += 4 * w.shape[1]
    assert at == len(out.stdout)
    if runner:
        assert out.stderr.decode().strip() == "NEON, 16 columns"
    for (w, x), g in zip(cases, got):
        want = x @ Int8Matrix(w)
        assert np.array_equal(g, want), (w.shape, np.abs(g - want).max())
        assert g[w.shape[1] // 2] == 0 and (x.any() or not g.any())  # the column of zeros; the vector of zeros


def test_no_native_network_turns_off_the_network_alone(monkeypatch):
    c_step_or_skip()
    monkeypatch.setattr(native, "_loaded", {})  # as a new process would
    monkeypatch.setenv("CHARCOMPLETE_NO_NATIVE", "network")
    assert not Stepper(network("lstm", 16, 1)).native
    assert native.library("memory") is not None
    monkeypatch.setattr(native, "_loaded", {})
    monkeypatch.setenv("CHARCOMPLETE_NO_NATIVE", "memory")
    assert native.library("memory") is None and Stepper(network("lstm", 16, 1)).native
    monkeypatch.setattr(native, "_loaded", {})
    monkeypatch.setenv("CHARCOMPLETE_NO_NATIVE", "1")
    assert native.library("memory") is None and not Stepper(network("lstm", 16, 1)).native


def test_a_library_for_this_cpu_is_named_by_it(monkeypatch):
    """A cache folder shared by machines with different CPUs holds a -march=native build for each."""
    mine, plain, memory = (native.library_path("network"), native.library_path("network", ["-O3", "-shared", "-fPIC"]),
                           native.library_path("memory"))
    monkeypatch.setattr(native, "_cpu", lambda: "another cpu")
    assert native.library_path("network") != mine
    assert native.library_path("network", ["-O3", "-shared", "-fPIC"]) == plain  # a build for any CPU of the platform
    assert native.library_path("memory") == memory


def test_a_character_id_outside_the_vocabulary_is_refused_not_read():
    c_step_or_skip()
    c = Stepper(network("attention", 16, 1))
    st = c.recompute(np.array([1, 2, 3], np.int64))
    for bad in (37, -1, 10**9):
        with pytest.raises(IndexError):
            c.step(st, bad)


@pytest.mark.parametrize("name", ["network", "memory"])
def test_the_c_sources_compile_as_plain_c_wherever_there_is_a_compiler(name, tmp_path):
    """A broken source must fail here, not turn every C test into a skip (they skip where the
    library cannot be built, as a user's machine without a compiler does)."""
    source = native.SOURCES[name][0]
    out = subprocess.run([*shlex.split(os.environ.get("CC") or "cc"), "-O2", "-Wall", "-shared", "-fPIC", "-o",
                          str(tmp_path / f"{name}.so"), str(source)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def test_64_bit_arm_builds_without_march_native():
    """NEON is in every 64-bit ARM CPU, and some of Apple's compilers refuse -march=native."""
    for machine in ("arm64", "aarch64"):
        assert "-march=native" not in native.network_flags(machine) and "-O3" in native.network_flags(machine)
    assert "-march=native" in native.network_flags("x86_64")
