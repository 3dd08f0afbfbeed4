"""The editor as a process: the recovery file on SIGTERM/SIGHUP, and one end-to-end run in a real
terminal (tmux): type, see the ghost, Tab, Ctrl+S, and the file holds the accepted text."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import sys
from charcomplete.completion import load_completer
from charcomplete.document import Document
from charcomplete.tui.app import EditorApp

app = EditorApp(Document.open(sys.argv[1]), load_completer(sys.argv[2], adapt=False))

async def type_then_wait(pilot):
    app.editor.move_cursor(app.editor.document.end)
    await pilot.press(*"unsaved")
    print("READY", flush=True)  # the app keeps running after the auto-pilot returns

# the size given: without a terminal, Rich's console says 80 x 25 and the headless driver 80 x 24,
# and the two Resize events in the screen's queue at once bounced for good (Textual 8.2; the test hung)
app.run(headless=True, size=(80, 24), auto_pilot=type_then_wait)
sys.exit(app.return_code)
"""


def child_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def read_ready(proc: subprocess.Popen, timeout: float = 60.0) -> None:
    """Wait for the child's READY line; a child that never gets there fails the test within
    `timeout` seconds (killed, with its exit code and stderr), instead of hanging the suite."""
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not line or line[0].strip() != "READY":
        proc.kill()
        rc = proc.wait(timeout=10)
        raise AssertionError(f"the editor child never got READY (exit code {rc}): {proc.stderr.read()[-2000:]}")


def wait_until(condition, timeout: float, what: str):
    """Poll `condition` (an outside process we cannot await) until it is true or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_signal_writes_the_recovery_file(tmp_path, tiny_checkpoints, sig):
    f = tmp_path / "notes.txt"
    f.write_text("saved text\n")
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(f), str(tiny_checkpoints["attention"])],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())
    try:
        read_ready(proc)
        proc.send_signal(sig)
        rc = proc.wait(timeout=60)
    finally:
        proc.kill()
    assert rc == 128 + sig
    assert f.read_text() == "saved text\n"  # the file itself is untouched
    recovery = tmp_path / ".notes.txt.charcomplete-recovery"
    assert recovery.read_text() == "saved text\nunsaved"


def test_unhandled_exception_writes_the_recovery_file(make_editor, tmp_path):
    import asyncio

    app = make_editor("saved\n")

    async def run():
        async with app.run_test() as pilot:
            app.editor.move_cursor(app.editor.document.end)
            await pilot.press("x")
            app.call_later(lambda: 1 / 0)  # a bug in a handler
            await pilot.pause()

    with pytest.raises(ZeroDivisionError):
        asyncio.run(run())
    assert (tmp_path / ".notes.txt.charcomplete-recovery").read_text() == "saved\nx"


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (.ci/run installs it)")
def test_end_to_end_in_tmux(tmp_path, tiny_checkpoints):
    from charcomplete.completion import load_completer

    model = tiny_checkpoints["attention"]
    f = tmp_path / "notes.txt"  # does not exist yet: created on the first save
    typed = "the qu"
    ghost = load_completer(model, adapt=False).suggest(typed).text
    assert ghost, "the tiny model should complete 'the qu'"
    sock = str(tmp_path / "tmux.sock")
    env = " ".join(f"{k}={v}" for k, v in child_env().items() if k in ("PYTHONPATH", "CHARCOMPLETE_DATA_DIR", "OMP_NUM_THREADS"))
    cmd = f"env {env} {sys.executable} -m charcomplete edit {f} --model {model} --device cpu --no-adapt"

    def tmux(*args, check=True):
        return subprocess.run(["tmux", "-S", sock, *args], capture_output=True, text=True, check=check)

    def screen() -> str:
        return tmux("capture-pane", "-p", "-t", "e2e", check=False).stdout

    tmux("new-session", "-d", "-s", "e2e", "-x", "100", "-y", "30", cmd)
    try:
        wait_until(lambda: "notes.txt" in screen() and "Ln 1, Col 1" in screen(), 60, "the editor to start")
        tmux("send-keys", "-t", "e2e", "-l", typed)
        # capture-pane drops trailing spaces; the ghost shows right after the typed text
        wait_until(lambda: (typed + ghost).rstrip() in screen(), 30, f"the ghost {ghost!r} after {typed!r}")
        tmux("send-keys", "-t", "e2e", "Tab")
        wait_until(lambda: f"Col {len(typed + ghost) + 1}" in screen(), 30, "Tab to insert the ghost")
        tmux("send-keys", "-t", "e2e", "C-s")
        wait_until(lambda: f.exists() and f.read_text() == typed + ghost, 30, "the saved file")
        tmux("send-keys", "-t", "e2e", "C-q")
        wait_until(lambda: tmux("has-session", "-t", "e2e", check=False).returncode != 0, 30, "the editor to quit")
    finally:
        tmux("kill-server", check=False)
    assert f.read_text() == typed + ghost
