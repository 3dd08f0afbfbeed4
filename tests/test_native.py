"""The corpus memory's C code (charcomplete/memory.c, native.py): the same answers as the Python
code, bit for bit; built once and reused; without a compiler, or turned off, Python answers."""

from __future__ import annotations

import os
import random
import shlex
import shutil
from dataclasses import replace

import numpy as np
import pytest

import charcomplete.native as native
from charcomplete.memory import MemoryConfig, build_memory
from charcomplete.vocab import Vocab

TEXT = ("the quick brown fox jumps over the lazy dog. " * 3 + "a stitch in time saves nine. "
        "to be or not to be, that is the question. " * 2 + "def main():\n    return 0\n"
        + "".join(f"{w} {x}{y}. " for w in ("then", "there", "these") for x in "abcdefghijkl" for y in "mnop"))  # contexts with many next characters
VOCAB = Vocab.build(TEXT + "Z")
HAS_CC = shutil.which(shlex.split(os.environ.get("CC") or "cc")[0]) is not None


@pytest.fixture(autouse=True)
def fresh_library(monkeypatch):
    """Each test looks for the library afresh (in its own data folder's cache)."""
    monkeypatch.setattr(native, "_loaded", {})
    monkeypatch.delenv("CHARCOMPLETE_NO_NATIVE", raising=False)


def memory(cfg: MemoryConfig | None = None):
    return build_memory(TEXT, VOCAB, cfg or MemoryConfig(orders=(1, 2, 3, 4, 6, 8, 12, 24), min_count=(1, 1, 1, 1, 1, 2, 2, 2)))


def contexts(n: int = 3000) -> list[list[int]]:
    """Tails of the text, of unseen text and of unknown ids (0), 0 to 30 ids long."""
    rng = random.Random(0)
    ids = VOCAB.encode(TEXT + "zqx Zebra the qu" + "then an").tolist()
    out = [[], [0], [0] * 30]
    for _ in range(n):
        end = rng.randrange(len(ids) + 1)
        tail = ids[max(0, end - rng.randrange(31)) : end]
        if rng.random() < 0.1:
            tail = [rng.randrange(len(VOCAB)) for _ in tail]
        out.append(tail)
    return out


@pytest.mark.skipif(not HAS_CC, reason="no C compiler: the Python code answers (test_without_a_compiler_python_answers)")
@pytest.mark.parametrize("cutoff", [0.02, 0.0])
def test_the_c_code_gives_the_python_codes_answers_bit_for_bit(cutoff):
    mem = memory(MemoryConfig(orders=(1, 2, 3, 4, 6, 8, 12, 24), min_count=(1, 1, 1, 1, 1, 2, 2, 2), cutoff=cutoff))
    assert native.library() is not None and native.NativeMemory.create(mem) is not None
    many = sum(1 for t in mem.tables for i in range(len(t.keys)) if t.starts[i + 1] - t.starts[i] > 8)
    assert many > 0  # the dense path (a context with more than 8 next characters) is taken too
    for tail in contexts():
        p, info = mem.predict(tail)
        q, want = mem.predict_python(tail)
        assert np.array_equal(p, q) and info == want, (tail, info, want)
    assert mem._native is not None  # it was the C code that answered


@pytest.mark.skipif(not HAS_CC, reason="no C compiler")
def test_the_library_is_built_once_in_the_cache_and_reused(monkeypatch):
    path = native.library_path()
    assert not path.exists()
    assert native.library() is not None and path.exists()
    monkeypatch.setattr(native, "_loaded", {})  # another process: the file is there, nothing is compiled

    def no_compiler(out):
        raise AssertionError("compiled again")

    monkeypatch.setattr(native, "_compile", no_compiler)
    assert native.library() is not None
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left


def test_without_a_compiler_python_answers(monkeypatch, tmp_path):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    mem = memory()
    assert native.library() is None and native.NativeMemory.create(mem) is None
    for tail in contexts(200):
        p, info = mem.predict(tail)
        q, want = mem.predict_python(tail)
        assert np.array_equal(p, q) and info == want
    assert mem._native is None and not native.library_path().exists()


def test_a_compiler_that_fails_leaves_python_answering_and_no_file(monkeypatch, tmp_path):
    broken = tmp_path / "cc"
    broken.write_text("#!/bin/sh\necho 'error: broken' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv("CC", str(broken))
    mem = memory()
    p, _ = mem.predict(VOCAB.encode("the qu").tolist())
    assert mem._native is None and abs(p.sum() - 1) < 1e-12
    assert not list(native.library_path().parent.iterdir())  # the failed build's temp file is gone


def test_charcomplete_no_native_turns_it_off(monkeypatch):
    monkeypatch.setenv("CHARCOMPLETE_NO_NATIVE", "1")
    mem = memory()
    mem.predict(VOCAB.encode("the qu").tolist())
    assert mem._native is None and not native.library_path().exists()


def test_a_memory_the_c_code_cannot_read_is_answered_in_python():
    mem = memory()
    wide = mem.tables[2]
    mem.tables[2] = replace(wide, syms=wide.syms.astype(np.uint16), starts=wide.starts)  # next characters of a vocabulary over 256
    assert native.NativeMemory.create(mem) is None
    p, info = mem.predict(VOCAB.encode("the qu").tolist())
    q, want = mem.predict_python(VOCAB.encode("the qu").tolist())
    assert np.array_equal(p, q) and info == want and mem._native is None


@pytest.mark.skipif(not HAS_CC or not hasattr(os, "getuid"), reason="no C compiler, or no file owners")
def test_a_library_others_may_write_to_is_not_loaded(monkeypatch):
    path = native.library_path()
    assert native.library() is not None
    path.chmod(0o777)  # as if another user could have replaced it
    monkeypatch.setattr(native, "_loaded", {})
    assert native.library() is None
    assert memory().predict(VOCAB.encode("the qu").tolist())[0].sum() > 0.99  # Python answers


@pytest.mark.skipif(not HAS_CC, reason="no C compiler")
def test_cc_may_hold_a_wrapper_and_flags(monkeypatch, tmp_path):
    wrapper = tmp_path / "wrap"
    wrapper.write_text(f"#!/bin/sh\necho called > {tmp_path / 'called'}\nexec \"$@\"\n")
    wrapper.chmod(0o755)
    monkeypatch.setenv("CC", f"{wrapper} {os.environ.get('CC') or 'cc'} -Wall")
    assert native.library() is not None and (tmp_path / "called").exists()
