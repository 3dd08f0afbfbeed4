"""The user's file is sacred: opening, byte-identical saves, atomic failures, disk changes, recovery,
and the one-line refusals of `charcomplete edit` before the UI starts."""

from __future__ import annotations

import errno
import os

import pytest
from click.testing import CliRunner

from charcomplete.cli import cli
from charcomplete.document import Document, DocumentError, recovery_path_for


@pytest.mark.parametrize(
    "data",
    [
        b"plain\nlines\n",
        b"no final newline",
        b"windows\r\nline endings\r\n",
        b"mixed\r\nline\nendings\rhere",
        b"\xef\xbb\xbfwith a BOM\n",
        b"",
        "unicode: caf\u00e9 \u2014 \u00fc\n".encode(),
    ],
)
def test_unedited_file_saves_byte_identical(tmp_path, data):
    p = tmp_path / "f.txt"
    p.write_bytes(data)
    doc = Document.open(p)
    doc.save(doc.text)
    assert p.read_bytes() == data


def test_edited_file_keeps_line_endings_bom_and_mode(tmp_path):
    p = tmp_path / "f.txt"
    p.write_bytes(b"\xef\xbb\xbfone\r\ntwo\r\n")
    p.chmod(0o640)
    doc = Document.open(p)
    assert doc.text == "one\ntwo\n" and doc.newline == "\r\n" and doc.bom
    doc.save(doc.text + "three\n")
    assert p.read_bytes() == b"\xef\xbb\xbfone\r\ntwo\r\nthree\r\n"
    assert p.stat().st_mode & 0o777 == 0o640


def test_latin1_round_trip_and_unencodable_text(tmp_path):
    p = tmp_path / "old.txt"
    p.write_bytes(b"caf\xe9\n")
    with pytest.raises(DocumentError, match="--encoding"):
        Document.open(p)
    doc = Document.open(p, encoding="latin-1")
    assert doc.text == "caf\u00e9\n"
    doc.save(doc.text + "na\u00efve\n")
    assert p.read_bytes() == b"caf\xe9\nna\xefve\n"
    with pytest.raises(DocumentError, match="cannot be written in"):
        doc.save("snow \u2603\n")
    assert p.read_bytes() == b"caf\xe9\nna\xefve\n"


def test_refusals(tmp_path):
    (tmp_path / "bin").write_bytes(b"abc\x00def")
    with pytest.raises(DocumentError, match="binary"):
        Document.open(tmp_path / "bin")
    with pytest.raises(DocumentError, match="directory"):
        Document.open(tmp_path)
    with pytest.raises(DocumentError, match="does not exist"):
        Document.open(tmp_path / "missing" / "f.txt")
    with pytest.raises(DocumentError, match="unknown encoding"):
        Document.open(tmp_path / "new.txt", encoding="no-such-codec")


def test_new_file_is_created_on_first_save(tmp_path):
    p = tmp_path / "new.txt"
    doc = Document.open(p)
    assert not doc.exists and doc.text == "" and not p.exists()
    doc.save("hello\n")
    assert p.read_bytes() == b"hello\n"
    assert doc.changed_on_disk() is None


def test_read_only_file_is_detected(tmp_path):
    p = tmp_path / "ro.txt"
    p.write_text("keep\n")
    p.chmod(0o444)
    assert Document.open(p).read_only
    p.chmod(0o644)
    assert not Document.open(p).read_only


@pytest.mark.parametrize("fail_in", ["fsync", "replace"])
def test_failed_save_leaves_the_original_intact(tmp_path, monkeypatch, fail_in):
    p = tmp_path / "f.txt"
    p.write_bytes(b"original\n")
    doc = Document.open(p)

    def disk_full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, fail_in, disk_full)
    with pytest.raises(DocumentError, match="No space left on device.*unchanged"):
        doc.save("changed\n")
    monkeypatch.undo()
    assert p.read_bytes() == b"original\n"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["f.txt"]  # no temp file left behind
    assert doc.is_modified("changed\n")


@pytest.mark.skipif(not os.path.isfile("/proc/version"), reason="needs Linux's /proc")
def test_save_as_onto_a_file_in_proc_says_why(tmp_path):
    """Save as /proc/version said "No such file or directory" of a file that exists: the temporary
    file a save writes first cannot be made in /proc."""
    p = tmp_path / "f.txt"
    p.write_text("mine\n")
    before = open("/proc/version").read()
    with pytest.raises(DocumentError, match=r"could not save version: .*unchanged") as e:
        Document.open(p).save_as_target("/proc/version").save("mine\n")
    if os.geteuid() == 0:  # as any other user it is "Permission denied", which says enough
        assert "/proc takes no new files" in str(e.value)
    assert open("/proc/version").read() == before


def test_symlink_stays_a_symlink(tmp_path):
    target = tmp_path / "real.txt"
    target.write_text("a\n")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    doc = Document.open(link)
    doc.save("b\n")
    assert link.is_symlink() and target.read_text() == "b\n"


def test_changes_on_disk_are_detected(tmp_path):
    p = tmp_path / "f.txt"
    p.write_text("one\n")
    doc = Document.open(p)
    assert doc.changed_on_disk() is None
    os.utime(p, ns=(1, 1))  # touched, same bytes: nothing to ask about
    assert doc.changed_on_disk() is None
    p.write_text("two\n")
    assert "changed" in doc.changed_on_disk()
    p.unlink()
    assert "deleted" in doc.changed_on_disk()


def test_recovery_file(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("saved\n")
    doc = Document.open(p)
    assert doc.read_recovery() is None
    written = doc.write_recovery("saved\nunsaved \u00e9\n")
    assert written == recovery_path_for(p) == tmp_path / ".notes.txt.charcomplete-recovery"
    assert Document.open(p).read_recovery() == "saved\nunsaved \u00e9\n"
    doc.remove_recovery()
    assert not written.exists()


# --- the command line: one line and a non-zero exit before any UI ------------------------


def _edit(*args):
    return CliRunner().invoke(cli, ["edit", *map(str, args)])


def test_edit_refuses_non_utf8_naming_encoding(tmp_path):
    p = tmp_path / "old.txt"
    p.write_bytes(b"caf\xe9\n")
    r = _edit(p)
    assert r.exit_code != 0
    assert "--encoding" in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1
    assert p.read_bytes() == b"caf\xe9\n"


def test_edit_without_a_terminal_is_one_line_not_a_screen_of_escape_codes(tmp_path, tiny_checkpoints):
    """Piped or redirected (a script, `> out.txt`), the editor drew its screen into the pipe forever."""
    p = tmp_path / "notes.txt"
    p.write_text("hi\n")
    r = _edit(p, "--model", tiny_checkpoints["lstm"], "--device", "cpu")  # CliRunner: neither input nor output is a TTY
    assert r.exit_code == 1 and "needs a terminal" in r.output and "\x1b" not in r.output
    assert len(r.output.strip().splitlines()) == 1
    assert p.read_text() == "hi\n" and not any(tmp_path.glob(".*recovery*"))


@pytest.mark.parametrize("case", ["binary", "directory", "model", "device"])
def test_edit_errors_are_one_line(tmp_path, tiny_checkpoints, case):
    p = tmp_path / "notes.txt"
    p.write_text("hi\n")
    args = {
        "binary": [tmp_path / "b.bin"],
        "directory": [tmp_path],
        "model": [p, "--model", tmp_path / "missing.safetensors"],
        "device": [p, "--model", tiny_checkpoints["lstm"], "--device", "mps"],
    }[case]
    (tmp_path / "b.bin").write_bytes(b"\x00\x01")
    if case == "device":
        import torch

        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            pytest.skip("this machine has mps")
    r = _edit(*args)
    assert r.exit_code != 0
    assert r.output.startswith("Error: ") and len(r.output.strip().splitlines()) == 1, r.output


def test_edit_large_opens_the_wider_network_of_the_files_kind(tmp_path, tiny_checkpoints, monkeypatch):
    """`edit --large`: prose-large for notes, code-large for source, the usual model where no wider
    one is installed; with --model it is one line of error."""
    import shutil

    import charcomplete.cli.edit as edit_cli
    import charcomplete.registry as reg
    from charcomplete.tui.app import EditorApp

    shipped = tmp_path / "shipped"
    shipped.mkdir()
    monkeypatch.setattr(reg, "shipped_dir", lambda: shipped)
    for name in ("prose", "code", "code-large"):
        shutil.copy(tiny_checkpoints["lstm"], shipped / f"{name}.safetensors")
    opened = []
    monkeypatch.setattr(edit_cli, "has_terminal", lambda: True)
    monkeypatch.setattr(EditorApp, "run", lambda self: opened.append(self._loading))
    for args in (["a.py", "--large"], ["a.py"], ["n.md", "--large"], ["n.md"]):
        r = _edit(tmp_path / args[0], *args[1:], "--device", "cpu")
        assert r.exit_code == 0, r.output
    assert opened == ["code-large", "code", "prose", "prose"]  # no prose-large installed: prose
    r = _edit(tmp_path / "a.py", "--large", "--model", "code")
    assert r.exit_code == 1 and r.output.strip().splitlines() == ["Error: --model and --large both name a model: give one of them"]
    assert not list(tmp_path.glob("*.py")) and not list(tmp_path.glob("*.md"))  # nothing written


def test_edit_unusable_model_file(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    r = _edit(tmp_path / "notes.txt", "--model", bad)
    assert r.exit_code != 0 and r.output.startswith("Error: ") and "Traceback" not in r.output


@pytest.mark.parametrize("name", ["n" * 250 + ".txt", "😀" * 62 + ".md"])
def test_a_file_with_a_name_near_the_limit_saves_and_recovers(tmp_path, name, isolated_data_dir):
    """A file name of 250+ bytes: the save's temp file took the whole name after its prefix (too
    long: the file could not be saved at all), and no recovery file fitted either, beside it or in
    the data dir (a crash lost the unsaved text)."""
    p = tmp_path / name
    p.write_text("hello\n")
    doc = Document.open(p)
    doc.save("hello world\n")
    assert p.read_text() == "hello world\n"
    assert doc.write_recovery("unsaved text\n").is_file()
    assert Document.open(p).read_recovery() == "unsaved text\n"
    assert sorted(os.listdir(tmp_path)) == [name]  # no temp file left beside it
