"""A packed corpus memory (memory_pack.py): the same memory in about half the bytes, unpacked
once into the cache and then read like any memory file; a damaged one is refused in one line."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from charcomplete import memory_pack
from charcomplete.cli import cli
from charcomplete.completion import load_completer
from charcomplete.memory import MemoryConfig, MemoryFileError, build_memory
from charcomplete.memory_pack import pack, packed_path_for, unpacked
from charcomplete.registry import memory_path_for

TEXT = "the lazy fox quirks a brazen quiz. the quick brown dog naps. " * 30
CFG = MemoryConfig(orders=(1, 2, 3, 4, 6, 8), min_count=(1, 1, 1, 1, 1, 1))


@pytest.fixture
def model_with_memory(tiny_checkpoints, tmp_path):
    path = tmp_path / "m.safetensors"
    shutil.copy(tiny_checkpoints["attention"], path)
    build_memory(TEXT, load_completer(path, memory=False).vocab, CFG).save(memory_path_for(path))
    return path


@pytest.fixture
def packed(model_with_memory, tmp_path):
    return pack(memory_path_for(model_with_memory), tmp_path / "m.memory.packed")


def test_unpacking_gives_back_the_file_byte_for_byte_and_is_cached(model_with_memory, packed, tmp_path):
    original = memory_path_for(model_with_memory).read_bytes()
    assert packed.stat().st_size < len(original)
    out = unpacked(packed, cache=tmp_path / "cache")
    assert out.read_bytes() == original
    inode = out.stat().st_ino
    assert unpacked(packed, cache=tmp_path / "cache") == out and out.stat().st_ino == inode  # not unpacked again (a write renames)
    out.write_bytes(original[:100])  # a cached file cut short is unpacked again
    assert unpacked(packed, cache=tmp_path / "cache").read_bytes() == original


def test_a_packed_memory_predicts_as_the_unpacked_one(model_with_memory, tmp_path):
    other = tmp_path / "p.safetensors"
    shutil.copy(model_with_memory, other)
    pack(memory_path_for(model_with_memory), packed_path_for(other))
    assert not memory_path_for(other).exists()
    a, b = load_completer(model_with_memory), load_completer(other)
    assert b.memory is not None
    for ctx in ("the lazy fox qu", "a brazen", "the quick brown d"):
        assert np.array_equal(a.probs(ctx), b.probs(ctx)) and a.suggest(ctx).text == b.suggest(ctx).text


@pytest.mark.parametrize("damage, says", [
    (lambda b: b"not-a-packed-memory 1 " + b[29:], "not a packed memory file"),
    (lambda b: b[: len(b) // 2], "truncated or damaged"),
    (lambda b: b[:200] + bytes([b[200] ^ 0xFF]) + b[201:], "damaged"),
    (lambda b: b.replace(b" 1 ", b" 1 0", 1), "not a packed memory file"),  # a hash of 65 digits
])
def test_a_damaged_packed_memory_is_refused_in_one_line(packed, tmp_path, damage, says):
    bad = tmp_path / "bad.memory.packed"
    bad.write_bytes(damage(packed.read_bytes()))
    with pytest.raises(MemoryFileError, match=says) as e:
        unpacked(bad, cache=tmp_path / "cache")
    assert "\n" not in str(e.value)


def test_a_stream_longer_than_its_header_says_is_refused(packed, tmp_path):
    head, body = packed.read_bytes().split(b"\n", 1)
    digest, size = head.split()[-2:]
    bad = tmp_path / "long.memory.packed"
    bad.write_bytes(b" ".join(head.split()[:-1]) + b" " + str(int(size) - 10).encode() + b"\n" + body)
    with pytest.raises(MemoryFileError, match="more than it says"):
        unpacked(bad, cache=tmp_path / "cache")
    bad.write_bytes(head.replace(digest, b"0" * 64) + b"\n" + body)
    with pytest.raises(MemoryFileError, match="does not match its hash"):
        unpacked(bad, cache=tmp_path / "cache")


def test_a_cache_that_cannot_be_written_unpacks_into_a_temporary_file(packed, model_with_memory, tmp_path, monkeypatch):
    def refuse(*a, **k):
        raise OSError("read-only file system")

    monkeypatch.setattr(memory_pack, "atomic_write", refuse)
    out = unpacked(packed, cache=tmp_path / "cache")
    try:
        assert out.read_bytes() == memory_path_for(model_with_memory).read_bytes()
        assert not (tmp_path / "cache" / "memories").exists() or not any((tmp_path / "cache" / "memories").iterdir())
    finally:
        out.unlink()


def test_memory_pack_models_and_fine_tuning_with_a_packed_memory(model_with_memory, tmp_path):
    size = memory_path_for(model_with_memory).stat().st_size
    r = CliRunner().invoke(cli, ["memory", str(model_with_memory), "--pack"])
    assert r.exit_code == 0 and "packed" in r.output, r.output
    packed = packed_path_for(model_with_memory)
    assert packed.is_file() and not memory_path_for(model_with_memory).exists() and packed.stat().st_size < size
    r = CliRunner().invoke(cli, ["memory", str(model_with_memory), "--pack"])  # nothing left to pack
    assert r.exit_code == 1 and "no unpacked memory" in r.output and "Traceback" not in r.output, r.output

    shutil.copy(model_with_memory, tmp_path / "user.safetensors")
    r = CliRunner().invoke(cli, ["models", "--json"])
    assert r.exit_code == 0

    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "n.txt").write_text(TEXT * 3)
    out = tmp_path / "tuned.safetensors"
    r = CliRunner().invoke(cli, ["train", "--init", str(model_with_memory), "--corpus", str(notes), "--epochs", "0.05",
                                 "--batch-size", "4", "--seq-len", "16", "--out", str(out), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert packed_path_for(out).read_bytes() == packed.read_bytes() and not memory_path_for(out).exists()  # still packed
    assert load_completer(out).memory is not None
    from charcomplete.jobs import save_memory  # a memory built for it later replaces the packed one
    from charcomplete.corpus import load_corpus

    save_memory(out, load_corpus([str(notes)], vocab=load_completer(out, memory=False).vocab))
    assert memory_path_for(out).is_file() and not packed_path_for(out).exists()


def test_models_lists_a_packed_memorys_size_on_disk(tiny_checkpoints, isolated_data_dir):
    from charcomplete.paths import models_dir

    models_dir().mkdir(parents=True, exist_ok=True)
    path = models_dir() / "mine.safetensors"
    shutil.copy(tiny_checkpoints["attention"], path)
    build_memory(TEXT, load_completer(path, memory=False).vocab, CFG).save(memory_path_for(path))
    pack(memory_path_for(path), packed_path_for(path))
    memory_path_for(path).unlink()
    r = CliRunner().invoke(cli, ["models", "--json"])
    row = next(x for x in json.loads(r.output) if x["name"] == "mine")
    assert row["memory_mb"] == round(packed_path_for(path).stat().st_size / 1e6, 1) and row["memory_mb"] is not None
    assert row["memory_packed"] is True
    shutil.copy(path, models_dir() / "plain.safetensors")
    shutil.copy(unpacked(packed_path_for(path)), memory_path_for(models_dir() / "plain.safetensors"))
    r = CliRunner().invoke(cli, ["models", "--json"])
    assert next(x for x in json.loads(r.output) if x["name"] == "plain")["memory_packed"] is False


def test_a_damaged_packed_memory_beside_a_model_is_one_line(model_with_memory):
    pack(memory_path_for(model_with_memory), packed_path_for(model_with_memory))
    memory_path_for(model_with_memory).unlink()
    data = packed_path_for(model_with_memory).read_bytes()
    packed_path_for(model_with_memory).write_bytes(data[: len(data) - 50])
    r = CliRunner().invoke(cli, ["complete", "--model", str(model_with_memory), "the qu"])
    assert r.exit_code == 1 and len(r.output.strip().splitlines()) == 1 and "Traceback" not in r.output, r.output
    assert "memory.packed" in r.output


def test_a_packed_file_with_a_hostile_header_is_refused_in_one_line(tmp_path):
    import hashlib
    import zlib

    header = json.dumps({"keys.0": {"dtype": "U32", "shape": [2], "data_offsets": [0, 8, 9]}}).encode()
    body = len(header).to_bytes(8, "little") + header + bytes(8)
    bad = tmp_path / "hostile.memory.packed"
    bad.write_bytes(memory_pack.MAGIC + f"{hashlib.sha256(body).hexdigest()} {len(body)}\n".encode() + zlib.compress(body))
    with pytest.raises(MemoryFileError, match="bad tensor entry"):
        unpacked(bad, cache=tmp_path / "cache")


def test_the_cache_drops_memories_unused_for_a_month(packed, tmp_path):
    import os
    import time

    folder = tmp_path / "cache" / "memories"
    folder.mkdir(parents=True)
    old, recent = folder / ("a" * 32 + ".memory.safetensors"), folder / ("b" * 32 + ".memory.safetensors")
    old.write_bytes(b"x")
    recent.write_bytes(b"y")
    os.utime(old, (time.time() - 40 * 86400,) * 2)
    os.utime(recent, (time.time() - 10 * 86400,) * 2)
    out = unpacked(packed, cache=tmp_path / "cache")
    assert out.is_file() and recent.exists() and not old.exists()
    os.utime(out, (time.time() - 40 * 86400,) * 2)
    assert unpacked(packed, cache=tmp_path / "cache") == out and time.time() - out.stat().st_mtime < 60  # used: kept fresh


def test_a_memory_that_cannot_be_unpacked_anywhere_is_one_line(packed, tmp_path, monkeypatch):
    import tempfile

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(memory_pack, "atomic_write", full)
    monkeypatch.setattr(tempfile, "mkstemp", full)
    with pytest.raises(MemoryFileError, match="No space left on device") as e:
        unpacked(packed, cache=tmp_path / "cache")
    assert "\n" not in str(e.value)


def test_packing_on_a_full_disk_is_one_line_and_keeps_the_memory(model_with_memory, monkeypatch):
    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(memory_pack, "atomic_write", full)
    before = memory_path_for(model_with_memory).read_bytes()
    r = CliRunner().invoke(cli, ["memory", str(model_with_memory), "--pack"])
    assert r.exit_code == 1 and "No space left on device" in r.output and "Traceback" not in r.output, r.output
    assert memory_path_for(model_with_memory).read_bytes() == before and not packed_path_for(model_with_memory).exists()
