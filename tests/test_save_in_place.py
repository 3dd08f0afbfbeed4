"""Saves that must not rename (document.in_place_reason): a file with other hard links, a
writable file in a folder that cannot take a temp file, another user's file. The file is written
in place after a safety copy of the buffer; a failure keeps the copy, which the next open offers.

Hard links are real; a folder we cannot write and another user's file cannot be made as root
(the tests run as root on CI), so those take `document._folder_writable` / `os.geteuid` patched.
"""

from __future__ import annotations

import errno
import os
import re
import shutil

import pytest

from charcomplete import document, fileio
from charcomplete.document import Document, DocumentError, in_place_reason
from test_editor_app import type_at_end
from test_faults import folder_names


def _safety_copies(data_dir) -> list[str]:
    folder = data_dir / "recovery"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


async def test_a_hard_linked_file_is_saved_in_place_and_its_other_name_sees_it(make_editor, tmp_path, isolated_data_dir):
    app = make_editor("first line\n")
    path = app.document.path
    other = tmp_path / "other-name.txt"
    os.link(path, other)
    inode = path.stat().st_ino
    async with app.run_test() as pilot:
        await type_at_end(pilot, "more")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not app.is_modified()
    assert path.read_text() == "first line\nmore" == other.read_text()  # a rename left the other name the old text
    assert path.stat().st_ino == inode and path.stat().st_nlink == 2
    assert folder_names(tmp_path) == ["notes.txt", "other-name.txt"]  # no temp file, no recovery file
    assert _safety_copies(isolated_data_dir) == []


def test_a_writable_file_in_a_folder_we_cannot_write_opens_writable_and_saves(tmp_path, monkeypatch, isolated_data_dir):
    path = tmp_path / "notes.txt"
    path.write_text("old text that is longer than the new\n")
    path.chmod(0o640)
    monkeypatch.setattr(document, "_folder_writable", lambda folder: folder != tmp_path)
    doc = Document.open(path)
    assert not doc.read_only  # it opened read-only: "its folder is not writable"
    assert in_place_reason(path) == "its folder is not writable"
    monkeypatch.setattr(fileio.tempfile, "mkstemp", _no_temp_files_in(tmp_path))  # what the folder would say
    doc.save("new\n")
    assert path.read_text() == "new\n" and (path.stat().st_mode & 0o777) == 0o640
    assert folder_names(tmp_path) == ["notes.txt"] and _safety_copies(isolated_data_dir) == []
    assert doc.changed_on_disk() is None


def test_another_users_file_is_written_in_place(tmp_path, monkeypatch):
    path = tmp_path / "shared.txt"
    path.write_text("a\n")
    assert in_place_reason(path) is None  # ours: the atomic rename
    monkeypatch.setattr(document.os, "geteuid", lambda: path.stat().st_uid + 1)
    assert in_place_reason(path) == "it is another user's file"


def test_a_full_disk_fails_an_in_place_save_before_a_byte_changes(tmp_path, monkeypatch, isolated_data_dir):
    path = tmp_path / "notes.txt"
    path.write_text("the original\n")
    os.link(path, tmp_path / "link.txt")
    doc = Document.open(path)

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(fileio.os, "posix_fallocate", full)
        with pytest.raises(DocumentError, match="No space left on device; your text is kept in"):
            doc.save("the original\nand a long new paragraph\n")
    assert path.read_text() == "the original\n"
    doc.save("the original\nand a long new paragraph\n")  # room again: the same buffer saves
    assert (tmp_path / "link.txt").read_text() == "the original\nand a long new paragraph\n"
    assert _safety_copies(isolated_data_dir) == []


@pytest.mark.parametrize("old_size", [100, 1000])  # shorter than the buffer: the reserved space is NULs
def test_a_write_cut_short_leaves_the_safety_copy_which_the_next_open_offers(tmp_path, monkeypatch, isolated_data_dir, old_size):
    path = tmp_path / "notes.txt"
    path.write_text("x" * old_size)
    os.link(path, tmp_path / "link.txt")
    doc = Document.open(path)
    buffer = "the whole new buffer, none of it on disk yet\n" * 3
    safety = document.saving_path_for(doc.path)

    def cut_short(fd, data, offset):
        os.write(fd, bytes(data[:10]))
        raise OSError(errno.EIO, "Input/output error")

    with monkeypatch.context() as m:
        m.setattr(fileio.os, "pwrite", cut_short)
        with pytest.raises(DocumentError, match=f"Input/output error; your text is kept in {re.escape(str(safety))}"):
            doc.save(buffer)
    assert _safety_copies(isolated_data_dir) == [safety.name]
    if old_size < len(buffer):  # NULs after the first 10 bytes: the next `edit` refuses a binary file, and says where the text is
        with pytest.raises(DocumentError, match=f"a save cut short left your text in {re.escape(str(safety))}: copy it over notes.txt"):
            Document.open(path)
        shutil.copyfile(safety, path)  # doing what it says
        assert Document.open(path).text == buffer
        return
    again = Document.open(path)  # the next `edit`: the file is part-written, the buffer is offered
    assert again.text.startswith(buffer[:10] + "x") and again.read_recovery() == buffer
    again.save(buffer)
    again.remove_recovery()  # what the editor does after a save
    assert _safety_copies(isolated_data_dir) == [] and path.read_text() == buffer


def test_no_room_for_the_safety_copy_means_no_in_place_write(tmp_path, monkeypatch):
    path = tmp_path / "notes.txt"
    path.write_text("keep me\n")
    os.link(path, tmp_path / "link.txt")
    doc = Document.open(path)
    monkeypatch.setattr(document, "_write_private", _raise(errno.ENOSPC))
    with pytest.raises(DocumentError, match="no room for a safety copy .* the file on disk is unchanged"):
        doc.save("new\n")
    assert path.read_text() == "keep me\n"


def _raise(code):
    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    return fail


def _no_temp_files_in(folder):
    real = fileio.tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and os.path.realpath(dir) == os.path.realpath(folder):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real(*args, dir=dir, **kwargs)

    return mkstemp


def test_the_safety_copy_of_a_failed_save_goes_with_the_next_good_save(tmp_path, monkeypatch, isolated_data_dir):
    """A save in place cut short keeps the buffer in its safety copy; when the next save goes
    through as a plain atomic save (the other hard link gone meanwhile), that copy is this
    session's text, saved now: it goes too, and is not offered as recovered text at the next open."""
    path = tmp_path / "notes.txt"
    path.write_text("x" * 1000)
    os.link(path, tmp_path / "link.txt")
    doc = Document.open(path)
    buffer = "the whole new buffer\n" * 3

    def cut_short(fd, data, offset):
        os.write(fd, bytes(data[:10]))
        raise OSError(errno.EIO, "Input/output error")

    with monkeypatch.context() as m:
        m.setattr(fileio.os, "pwrite", cut_short)
        with pytest.raises(DocumentError) as failed:
            doc.save(buffer)
    assert failed.value.kept.exists()
    (tmp_path / "link.txt").unlink()  # one name left: the next save renames a new file into place
    assert in_place_reason(path) is None
    doc.save(buffer)
    doc.remove_recovery()  # what the editor does after a save
    assert _safety_copies(isolated_data_dir) == [] and Document.open(path).read_recovery() is None
