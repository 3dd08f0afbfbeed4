"""Under attack, third part (issue 15, items 13, 17, 18): checkpoints claiming sizes that overflow,
messages that were wrong or unclear, stale temp files of killed saves.

Everything is CPU-only and bounded by timeouts; the subprocesses are the real CLI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_cli_train import assert_one_line_error, subprocess_env
from test_faults import invoke

from charcomplete.checkpoint import load_checkpoint, read_safetensors, write_safetensors
from charcomplete.errors import CheckpointError

TEXT = "the cat sat on the mat and the dog sat on the log.\n" * 40


def _cli(data_dir: Path, *args, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "charcomplete", *map(str, args)], check=False, env=subprocess_env(data_dir),
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


# --- item 13: a config whose sizes overflow a tensor's storage ---------------------------------


@pytest.mark.parametrize("field, value", [("hidden", 10**9), ("hidden", 10**30), ("embed", 2**62)])
def test_a_checkpoint_claiming_an_overflowing_size_is_one_line(tmp_path, tiny_checkpoints, isolated_data_dir, field, value):
    """`hidden: 10**9` ended in `RuntimeError: Storage size calculation overflowed`, 10**30 and
    `embed: 2**62` in `OverflowError` (complete, edit, train --init): config.LIMITS refuses them
    before anything is built."""
    tensors, md = read_safetensors(tiny_checkpoints["lstm"])
    md["config"] = json.dumps(dict(json.loads(md["config"]), **{field: value}))
    p = tmp_path / f"{field}-{len(str(value))}.safetensors"
    write_safetensors(p, tensors, md)
    with pytest.raises(CheckpointError, match="largest supported"):
        load_checkpoint(p)

    line = assert_one_line_error(invoke("complete", "--model", p, "x"), "largest supported")
    assert p.name in line and str(value) in line
    corpus = tmp_path / "notes.txt"
    corpus.write_text(TEXT)
    out = tmp_path / "out.safetensors"
    r = invoke("train", "--init", p, "--corpus", corpus, "--out", out, "--device", "cpu", "--threads", "1")
    assert p.name in assert_one_line_error(r, "largest supported")
    assert not out.exists()

    doc = tmp_path / "doc.txt"
    doc.write_text(TEXT)
    r = _cli(isolated_data_dir, "edit", doc, "--model", p, "--device", "cpu")  # the header is checked before the UI starts
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert len(r.stderr.strip().splitlines()) == 1 and p.name in r.stderr and "largest supported" in r.stderr, r.stderr
    assert doc.read_text() == TEXT


# --- item 17: messages -------------------------------------------------------------------------


def test_a_file_one_byte_over_the_limit_is_refused_with_exact_numbers(tmp_path):
    """It said "is 8.0 MB; … opens files up to 8 MB" for 8 MiB + 1 byte."""
    from charcomplete.document import MAX_BYTES, Document
    from charcomplete.errors import DocumentError

    p = tmp_path / "big.txt"
    with open(p, "wb") as f:
        f.truncate(MAX_BYTES + 1)  # sparse: the size is checked before anything is read
    with pytest.raises(DocumentError) as e:
        Document.open(p)
    assert str(e.value) == f"{p} is 8,388,609 bytes; the editor opens files up to 8 MiB (8,388,608 bytes)"
    assert_one_line_error(invoke("edit", p, "--device", "cpu"), r"8,388,609 bytes; .* up to 8 MiB \(8,388,608 bytes\)")


@pytest.mark.skipif(not os.path.exists("/dev/urandom"), reason="no /dev/urandom")
def test_a_device_is_not_a_regular_file_not_missing(tmp_path, tiny_checkpoints):
    """`train --corpus /dev/urandom` and `eval /dev/urandom` said "not found"; it exists."""
    dev = "/dev/urandom"
    assert_one_line_error(invoke("edit", dev, "--device", "cpu"), "not a regular file")
    out = tmp_path / "m.safetensors"
    r = invoke("train", "--model", "lstm", "--corpus", dev, "--out", out, "--device", "cpu", "--threads", "1")
    line = assert_one_line_error(r, "not a regular file")
    assert dev in line and "not found" not in line
    line = assert_one_line_error(invoke("eval", dev, "--model", tiny_checkpoints["lstm"], "--device", "cpu"), "not a regular file")
    assert dev in line and "not found" not in line
    assert_one_line_error(invoke("eval", tmp_path / "nope.txt", "--model", tiny_checkpoints["lstm"]), "not found")


def test_a_symlink_loop_under_a_glob_or_folder_is_skipped_and_counted(tmp_path, isolated_data_dir):
    """One `ln -s loop loop` under a glob rejected the whole corpus ("corpus path not found"), and
    `prepare` crashed on it (RuntimeError from Path.resolve); named by itself it is one line."""
    from charcomplete.corpus import CorpusError, read_corpus

    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.txt").write_text(TEXT)
    os.symlink("loop", folder / "loop")
    (folder / "gone.txt").symlink_to(tmp_path / "missing.txt")
    for paths in ([str(folder)], [str(folder / "*")]):
        files = read_corpus(paths)
        assert [Path(d.path).name for d in files.documents] == ["a.txt"], paths
        assert files.skipped_unreadable == 2 and "(skipped: 2 unreadable)" in files.summary(), (paths, files.summary())
    with pytest.raises(CorpusError, match="symlink loop"):
        read_corpus([str(folder / "loop")])
    with pytest.raises(CorpusError, match="symlink to a missing file"):
        read_corpus([str(folder / "gone.txt")])

    r = invoke("prepare", folder / "*", "-o", tmp_path / "prepared")
    assert r.exit_code == 0 and "2 unreadable" in r.output, r.output
    r = invoke("train", "--model", "lstm", "--corpus", folder / "*", "--out", tmp_path / "m.safetensors", "--epochs", "0.1",
               "--batch-size", "4", "--seq-len", "16", "--embed", "8", "--hidden", "16", "--device", "cpu", "--threads", "1")
    assert r.exit_code == 0 and "corpus: 1 files" in r.output and "2 unreadable" in r.output, r.output


def test_a_link_it_may_not_follow_is_skipped_or_one_line(tmp_path, isolated_data_dir, monkeypatch):
    """A folder holding a link it may not follow (as /proc/1/cwd is to a container's root: lstat works,
    readlink and stat say EACCES) crashed every command reading it (PermissionError from realpath), and
    that link or a path under it named by itself crashed too or said "not found"."""
    from charcomplete.corpus import CorpusError, read_corpus

    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.txt").write_text(TEXT)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text(TEXT)
    (folder / "cwd").symlink_to(tmp_path / "other")
    link = str(folder / "cwd")

    def refuse(real):
        def fn(path, *a, **k):
            if os.fspath(path).startswith(link) and (real is not os.lstat or os.fspath(path) != link):
                raise PermissionError(13, "Permission denied", os.fspath(path))
            return real(path, *a, **k)
        return fn

    for name in ("stat", "lstat", "readlink"):
        monkeypatch.setattr(os, name, refuse(getattr(os, name)))
    files = read_corpus([str(folder)])
    assert [Path(d.path).name for d in files.documents] == ["a.txt"] and files.skipped_unreadable == 1, files.summary()
    for named in (link, link + "/x.txt"):
        with pytest.raises(CorpusError, match="permission denied") as e:
            read_corpus([named])
        assert str(e.value) == f"{named}: permission denied"
    r = invoke("prepare", folder, "-o", tmp_path / "prepared")
    assert r.exit_code == 0 and "1 unreadable" in r.output, r.output
    assert_one_line_error(invoke("prepare", link + "/x.txt", "-o", tmp_path / "p2"), "permission denied")


def test_the_history_warning_is_one_plain_line(tiny_checkpoints, isolated_data_dir):
    """It printed `…/history.py:69: RuntimeWarning: …` and then a line of our source code."""
    from charcomplete.history import history_path

    history_path().parent.mkdir(parents=True, exist_ok=True)
    history_path().write_text("{not json")
    r = _cli(isolated_data_dir, "complete", "--model", tiny_checkpoints["lstm"], "the q")
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("charcomplete: ignoring the unreadable adaptation history") and "history.json.corrupt" in lines[0]
    assert "RuntimeWarning" not in r.stderr and ".py:" not in r.stderr


# --- item 18: stale temp files of killed saves ---------------------------------------------------


def _temp(folder: Path, name: str, age_s: float, data: bytes = b"x" * 1000) -> Path:
    from charcomplete.fileio import TEMP_PREFIX

    p = folder / (TEMP_PREFIX + name)
    p.write_bytes(data)
    then = time.time() - age_s
    os.utime(p, (then, then))
    return p


def test_stale_temp_files_are_removed_on_open_and_save(tmp_path):
    """`.charcomplete-tmp-*` files of killed saves (2–4 MB each) were never removed. Ours, an hour
    old, go on the next open or save; a fresh one (another editor saving now), a symlink named like
    ours (and its target), a folder, someone else's file and other names stay."""
    from charcomplete.document import Document
    from charcomplete.fileio import TEMP_PREFIX

    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "notes.txt").write_text(TEXT)
    old = _temp(folder, "notes.txt.abc12345", 2 * 3600)
    fresh = _temp(folder, "notes.txt.fresh678", 60)
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    link = folder / (TEMP_PREFIX + "link")
    link.symlink_to(target)
    then = time.time() - 2 * 3600
    os.utime(link, (then, then), follow_symlinks=False)
    os.utime(target, (then, then))
    sub = folder / (TEMP_PREFIX + "folder")
    sub.mkdir()
    os.utime(sub, (then, then))
    other = folder / "old-notes.txt"
    other.write_text("mine")
    os.utime(other, (then, then))

    doc = Document.open(folder / "notes.txt")
    assert not old.exists()
    assert fresh.exists() and link.is_symlink() and target.read_text() == "keep me" and sub.is_dir() and other.exists()

    killed = _temp(folder, "notes.txt.killed99", 3 * 3600)  # a save killed in another editor since the open
    doc.save(TEXT + "more\n")
    assert not killed.exists()
    assert fresh.exists() and link.is_symlink() and target.exists() and sub.is_dir() and other.exists()
    assert (folder / "notes.txt").read_text() == TEXT + "more\n"
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX)) == sorted([fresh.name, link.name, sub.name])


def test_a_new_file_and_a_file_opened_through_a_symlink_clean_their_own_folder(tmp_path):
    from charcomplete.document import Document

    real = tmp_path / "real"
    real.mkdir()
    (real / "notes.txt").write_text(TEXT)
    (tmp_path / "notes.txt").symlink_to(real / "notes.txt")
    stale = _temp(real, "notes.txt.abc12345", 2 * 3600)
    Document.open(tmp_path / "notes.txt")
    assert not stale.exists()  # the temp files are written beside the link's target: cleaned there

    new = tmp_path / "new"
    new.mkdir()
    stale = _temp(new, "draft.txt.abc12345", 2 * 3600)
    Document.open(new / "draft.txt")
    assert not stale.exists()


def test_stale_temp_files_of_another_user_are_left(tmp_path, monkeypatch):
    from charcomplete import fileio

    stale = _temp(tmp_path, "notes.txt.abc12345", 2 * 3600)
    monkeypatch.setattr(fileio.os, "getuid", lambda: os.stat(stale).st_uid + 1)
    assert fileio.remove_stale_temps(tmp_path) == 0 and stale.exists()
    monkeypatch.undo()
    assert fileio.remove_stale_temps(tmp_path) == 1 and not stale.exists()
    assert fileio.remove_stale_temps(tmp_path / "missing") == 0  # best effort: never raises
