"""Under attack (issue 15): the second, independent attack on the editor and the trainer. Each test
failed before its fix; docs/reliability.md lists them. Real files, the real CLI and a Pilot-driven
editor; anything that could block (a FIFO) runs under a watchdog.
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from charcomplete import document
from charcomplete.document import Document
from charcomplete.tui.dialogs import Choice
from pilot_helpers import until
from test_editor_app import type_at_end
from test_faults import _release_fifo, finishes

LINE = "the quick brown fox jumps over the lazy dog.\n"


def recovery_of(path: Path) -> Path:
    return path.parent / f".{path.name}.charcomplete-recovery"


# --- item 7: the recovery file is ours, 0600, and a planted symlink is never followed -------------


def test_a_planted_recovery_symlink_is_never_written_through(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("someone else's file\n")
    f = tmp_path / "notes.txt"
    f.write_text(LINE)
    recovery_of(f).symlink_to(victim)
    doc = Document.open(f)
    written = doc.write_recovery(LINE + "draft\n")
    assert victim.read_text() == "someone else's file\n"  # not overwritten through the link
    st = os.lstat(recovery_of(f))
    assert written == recovery_of(f) and stat.S_ISREG(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600 and recovery_of(f).read_text() == LINE + "draft\n"


def test_a_planted_world_writable_recovery_file_becomes_0600(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text(LINE)
    rec = recovery_of(f)
    rec.write_text("planted")
    os.chmod(rec, 0o666)
    Document.open(f).write_recovery(LINE + "draft\n")
    assert stat.S_IMODE(os.lstat(rec).st_mode) == 0o600 and rec.read_text() == LINE + "draft\n"


def test_the_fallback_recovery_file_is_0600_too(tmp_path, monkeypatch):
    f = tmp_path / "notes.txt"
    f.write_text(LINE)
    doc = Document.open(f)
    real = document._write_private
    monkeypatch.setattr(document, "_write_private",
                        lambda p, d: (_ for _ in ()).throw(PermissionError(13, "denied")) if p.parent == tmp_path else real(p, d))
    written = doc.write_recovery("draft")
    assert written.parent != tmp_path and stat.S_IMODE(os.lstat(written).st_mode) == 0o600


async def test_a_planted_recovery_symlink_is_never_read(make_editor, tmp_path):
    secret = tmp_path / "id_rsa"
    secret.write_text("-----BEGIN PRIVATE KEY-----\n")
    f = tmp_path / "notes.txt"
    f.write_text(LINE)
    recovery_of(f).symlink_to(secret)
    doc = Document.open(f)
    assert doc.read_recovery() is None and "symlink" in doc.recovery_refused
    app = make_editor(path=f)
    async with app.run_test() as pilot:
        await pilot.pause()
        assert not isinstance(app.screen, Choice)  # nothing is offered as "recovered"
        assert "PRIVATE KEY" not in app.editor.text
        assert any("symlink" in n.message for n in app._notifications)


def test_a_recovery_file_owned_by_someone_else_is_not_read(tmp_path, monkeypatch):
    f = tmp_path / "notes.txt"
    f.write_text(LINE)
    recovery_of(f).write_text(LINE + "planted by another user\n")
    monkeypatch.setattr(document.os, "getuid", lambda: os.lstat(f).st_uid + 1)
    doc = Document.open(f)
    assert doc.read_recovery() is None and "another user" in doc.recovery_refused


# --- item 8: a FIFO or a device at the recovery path never hangs the editor -----------------------


@pytest.mark.parametrize("what", ["fifo", "/dev/zero"])
def test_a_fifo_or_device_at_the_recovery_path_is_not_read(tmp_path, what):
    f = tmp_path / "notes.txt"
    f.write_text(LINE)
    rec = recovery_of(f)
    os.mkfifo(rec) if what == "fifo" else rec.symlink_to(what)
    doc = Document.open(f)
    assert finishes(doc.read_recovery, rec, timeout=20) is None
    assert doc.recovery_refused


def test_a_huge_recovery_file_is_not_read(tmp_path, monkeypatch):
    f = tmp_path / "notes.txt"
    f.write_text(LINE)
    rec = recovery_of(f)
    with open(rec, "wb") as out:
        out.truncate(document.MAX_RECOVERY_BYTES + 1)  # sparse: no disk used
    reads = []
    monkeypatch.setattr(document.os, "read", lambda *a: reads.append(a) or b"")
    doc = Document.open(f)
    assert doc.read_recovery() is None and "larger" in doc.recovery_refused and not reads


async def test_a_fifo_at_the_recovery_path_does_not_hang_the_editor(make_editor, tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text(LINE)
    rec = recovery_of(f)
    os.mkfifo(rec)
    app = make_editor(path=f)
    fired = []
    watchdog = threading.Timer(30, lambda: fired.append(_release_fifo(rec)))
    watchdog.start()
    try:
        async with app.run_test() as pilot:
            await pilot.pause()
            assert app.editor.text == LINE and not isinstance(app.screen, Choice)
            await type_at_end(pilot, "more")
            await pilot.press("ctrl+s")
            await pilot.pause()
    finally:
        watchdog.cancel()
    assert not fired, "the editor blocked opening the FIFO"
    assert f.read_text() == LINE + "more"


# --- item 2: "Later" keeps the recovery file through a save --------------------------------------


async def test_later_then_save_keeps_the_recovery_file(make_editor, tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text(LINE)
    recovery_of(f).write_text(LINE + "recovered work\n")
    app = make_editor(path=f)
    async with app.run_test() as pilot:
        await pilot.pause()
        assert isinstance(app.screen, Choice) and "recovered" in app.screen.message
        await pilot.press("l")
        await pilot.pause()
        await type_at_end(pilot, "new")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert f.read_text() == LINE + "new"
    assert recovery_of(f).read_text() == LINE + "recovered work\n"  # still there to restore
    again = make_editor(path=f)
    async with again.run_test() as pilot:
        await pilot.pause()
        assert isinstance(again.screen, Choice)  # offered again
        await pilot.press("r")
        await pilot.pause()
        assert again.editor.text == LINE + "recovered work\n"
        await pilot.press("ctrl+s")
        await pilot.pause()
    assert not recovery_of(f).exists()  # restored and saved: now it goes


async def test_later_then_a_crash_keeps_both_recovered_versions(make_editor, tmp_path):
    """"Later", new unsaved edits, then a crash (or a failed save): the recovery written now goes
    beside the kept one, never over it; each is offered in turn (newest first), Discard deletes
    only the one offered."""
    f = tmp_path / "notes.txt"
    f.write_text(LINE)
    recovery_of(f).write_text(LINE + "recovered work\n")
    os.utime(recovery_of(f), (1_000_000_000, 1_000_000_000))  # written long ago
    app = make_editor(path=f)
    async with app.run_test() as pilot:
        await pilot.pause()
        assert isinstance(app.screen, Choice)
        await pilot.press("l")
        await pilot.pause()
        await type_at_end(pilot, "new")
        written = app.write_recovery()  # what SIGHUP, SIGTERM and a crash do first
        assert written is not None and written != recovery_of(f)
        app.write_recovery()  # a second write replaces this session's own, adds no third
    texts = sorted(p.read_text() for p in tmp_path.glob(".notes.txt.charcomplete-recovery*"))
    assert texts == [LINE + "new", LINE + "recovered work\n"]
    again = make_editor(path=f)
    async with again.run_test() as pilot:
        await pilot.pause()
        assert isinstance(again.screen, Choice) and "1 more" in again.screen.message
        await pilot.press("d")  # the newest (this session's "new") is offered first; discard it
        await pilot.pause()
        assert isinstance(again.screen, Choice) and "more" not in again.screen.message  # the next, at once
        await pilot.press("l")
        await pilot.pause()
        assert again.editor.text == LINE
    assert [p.read_text() for p in tmp_path.glob(".notes.txt.charcomplete-recovery*")] == [LINE + "recovered work\n"]
    last = make_editor(path=f)
    async with last.run_test() as pilot:
        await pilot.pause()
        assert isinstance(last.screen, Choice) and "more" not in last.screen.message
        await pilot.press("r")
        await pilot.pause()
        assert last.editor.text == LINE + "recovered work\n"
        await pilot.press("ctrl+s")
        await pilot.pause()
    assert not list(tmp_path.glob(".notes.txt.charcomplete-recovery*"))


def test_two_editors_on_one_file_keep_a_recovery_file_each(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text(LINE)
    first, second = Document.open(f), Document.open(f)  # two terminals, both killed with unsaved text
    a = first.write_recovery(LINE + "first\n")
    b = second.write_recovery(LINE + "second\n")
    assert a != b and a.read_text() == LINE + "first\n" and b.read_text() == LINE + "second\n"
    assert first.write_recovery(LINE + "first, more\n") == a  # each rewrites its own
    later = Document.open(f)
    assert later.read_recovery() == LINE + "first, more\n" and later.recovery_others == 1  # the newest first


def test_a_recovery_file_no_different_from_the_file_is_removed_when_read(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text(LINE)
    recovery_of(f).write_text(LINE)  # nothing in it that the file does not hold
    doc = Document.open(f)
    assert doc.read_recovery() is None and not recovery_of(f).exists()


# --- item 6: a file that became a symlink (dangling or not) is reported and confirmed -------------


@pytest.mark.parametrize("dangling", [True, False])
async def test_a_file_swapped_for_a_symlink_is_reported_and_its_target_never_written(make_editor, tmp_path, dangling):
    app = make_editor(LINE, name="c.txt")
    path = app.document.path
    (tmp_path / "secret").mkdir()
    target = tmp_path / "secret" / "authorized_keys"
    if not dangling:
        target.write_text("ssh-ed25519 AAAA mine\n")
    async with app.run_test() as pilot:
        await type_at_end(pilot, "mine")
        path.unlink()
        path.symlink_to(target)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, Choice) and "symlink" in app.screen.message and "deleted" not in app.screen.message
        await pilot.press("c")  # cancel: nothing written anywhere
        await pilot.pause()
        assert path.is_symlink() and app.is_modified()
        assert target.exists() == (not dangling)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, Choice)
        await pilot.press("o")  # confirmed: the link is replaced by the file, its target untouched
        await pilot.pause()
        assert not app.is_modified()
    assert not path.is_symlink() and path.read_text() == LINE + "mine"
    if dangling:
        assert not target.exists()
    else:
        assert target.read_text() == "ssh-ed25519 AAAA mine\n"


def test_a_symlink_planted_where_a_new_file_goes_is_reported(tmp_path):
    doc = Document.open(tmp_path / "new.txt")
    (tmp_path / "new.txt").symlink_to(tmp_path / "elsewhere")
    assert "symlink" in doc.changed_on_disk()
    doc.save("text\n")
    assert not (tmp_path / "elsewhere").exists() and (tmp_path / "new.txt").read_text() == "text\n"


def test_a_file_opened_through_a_symlink_still_saves_through_it(tmp_path):
    real = tmp_path / "real.txt"
    real.write_text(LINE)
    (tmp_path / "link.txt").symlink_to(real)
    doc = Document.open(tmp_path / "link.txt")
    assert doc.changed_on_disk() is None
    doc.save(LINE + "more")
    assert (tmp_path / "link.txt").is_symlink() and real.read_text() == LINE + "more"


# --- item 12: deeply nested JSON in a checkpoint is one line, and `models` lists it ----------------

DEEP = "[" * 100_000 + "]" * 100_000


def _deep_checkpoints(folder: Path, good: Path) -> dict[str, Path]:
    import json
    import struct

    from safetensors.torch import save as st_save

    from charcomplete.checkpoint import read_safetensors

    tensors, md = read_safetensors(good)
    out = {f: st_save(tensors, metadata={**md, f: DEEP}) for f in ("config", "vocab", "corpus")}
    out["moderately deep corpus"] = st_save(tensors, metadata={**md, "corpus": "[" * 900 + "]" * 900})
    data = good.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    raw = ('{"deep": ' + DEEP + ", " + json.dumps(header)[1:]).encode()
    raw += b" " * (-len(raw) % 8)
    out["header"] = struct.pack("<Q", len(raw)) + raw + data[8 + n :]
    paths = {}
    for name, payload in out.items():
        p = folder / f"deep-{name.replace(' ', '-')}.safetensors"
        p.write_bytes(payload)
        paths[name] = p
    return paths


def test_deeply_nested_json_in_a_checkpoint_is_one_line(tmp_path, tiny_checkpoints):
    from charcomplete.checkpoint import load_checkpoint
    from charcomplete.errors import CheckpointError
    from test_cli_train import assert_one_line_error
    from test_faults import invoke

    doc = tmp_path / "doc.txt"
    doc.write_text(LINE * 3)
    for name, p in _deep_checkpoints(tmp_path, tiny_checkpoints["lstm"]).items():
        with pytest.raises(CheckpointError):
            load_checkpoint(p)
        assert_one_line_error(invoke("complete", "--model", p, "the qu"), p.name)
        assert_one_line_error(invoke("eval", doc, "--model", p), p.name)


def test_edit_with_a_deeply_nested_checkpoint_is_one_line(tmp_path, tiny_checkpoints, isolated_data_dir):
    import subprocess
    import sys

    from test_cli_train import subprocess_env

    doc = tmp_path / "doc.txt"
    doc.write_text(LINE)
    for name, p in _deep_checkpoints(tmp_path, tiny_checkpoints["lstm"]).items():
        r = subprocess.run([sys.executable, "-m", "charcomplete", "edit", str(doc), "--model", str(p), "--device", "cpu"],
                           env=subprocess_env(isolated_data_dir), capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert r.returncode != 0 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, (name, r.stderr[-2000:])
        assert p.name in r.stderr


def test_models_lists_a_deeply_nested_checkpoint_with_its_error(tiny_checkpoints):
    import json

    from charcomplete.paths import models_dir
    from test_faults import invoke

    models_dir().mkdir(parents=True, exist_ok=True)
    (models_dir() / "fine.safetensors").write_bytes(tiny_checkpoints["lstm"].read_bytes())
    paths = _deep_checkpoints(models_dir(), tiny_checkpoints["lstm"])
    r = invoke("models", "--json")
    assert r.exit_code == 0, r.output
    rows = {row["name"]: row for row in json.loads(r.output)}
    assert rows["fine"]["error"] is None
    for p in paths.values():
        error = rows[p.name[: -len(".safetensors")]]["error"]
        assert error and "\n" not in error and ("nested" in error or "header" in error), error
    r = invoke("models")
    assert r.exit_code == 0 and "Traceback" not in r.output, r.output


# --- item 14: `forget` on a read-only data dir, or with a folder as history.json ------------------


def test_forget_with_a_folder_as_the_history_file_is_one_line():
    from charcomplete.history import history_path
    from test_cli_train import assert_one_line_error
    from test_faults import invoke

    history_path().mkdir(parents=True)
    (history_path() / "keep.txt").write_text("not ours")
    assert_one_line_error(invoke("forget"), "folder")
    assert (history_path() / "keep.txt").exists()


@pytest.mark.parametrize("what", ["the history file", "the marker"])
def test_forget_on_a_read_only_data_dir_is_one_line(monkeypatch, what):
    import errno

    from charcomplete.history import history_path
    from test_cli_train import assert_one_line_error
    from test_faults import invoke

    history_path().parent.mkdir(parents=True, exist_ok=True)
    history_path().write_text("{}")

    def refuse(self, *a, **k):  # root ignores chmod 0555: the refusal a read-only data dir gives
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))

    monkeypatch.setattr(Path, "unlink" if what == "the history file" else "write_text", refuse)
    assert_one_line_error(invoke("forget"), "cannot forget.*read-only")


# --- item 15: user-supplied strings are never read as Rich markup --------------------------------


async def test_a_path_with_markup_in_train_on_a_folder_does_not_crash(make_editor, tmp_path):
    from test_editor_app import settle

    app = make_editor(LINE)
    raw = str(tmp_path / "notes[/bold]x")
    async with app.run_test() as pilot:
        app.action_train_folder()
        await pilot.pause()
        app.screen.query_one("#train-corpus").value = raw
        await pilot.click("#train-start")
        await settle(pilot)
        await pilot.pause()
        assert app.is_running and app.return_code is None
        assert any(raw in n.message for n in app._notifications), [n.message for n in app._notifications]


async def test_a_file_name_with_markup_shows_as_it_is_when_saved(make_editor):
    app = make_editor(LINE, name="a[red]b.txt")
    async with app.run_test() as pilot:
        await type_at_end(pilot, "x")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: any(n.message.startswith("Saved") for n in app._notifications), timeout=30)  # (on a slow machine: look while its 2 s toast shows)
        from textual.widgets._toast import Toast

        saved = [n for n in app._notifications if n.message.startswith("Saved")]
        shown = [str(Toast(n).render()) for n in saved]  # what the toast draws (markup read or not)
        assert shown and all("Saved a[red]b.txt" in t for t in shown), shown
