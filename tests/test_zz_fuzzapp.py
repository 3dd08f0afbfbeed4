"""Seeded Pilot fuzzer for the charcomplete editor (throwaway; master copy in /work/fuzz-app/).

SEEDS=1,2,3 python -m pytest -q -p no:cacheprovider tests/test_zz_fuzzapp.py
REPLAY=/work/fuzz-app/fail_seed3.json python -m pytest ... (replays a recorded step list; KEEP=0,1,5-9 keeps those steps only)
"""

from __future__ import annotations

import asyncio
import base64
import faulthandler
import json
import os
import random
import shutil
import sys
import time
import traceback
from pathlib import Path

import pytest
from textual import events
from textual._xterm_parser import XTermParser
from textual.pilot import OutOfBounds
from textual.widgets import Input

OUT = Path("/work/fuzz-app")
STEPS = int(os.environ.get("FUZZ_STEPS", "220"))
STEP_TIMEOUT = float(os.environ.get("FUZZ_STEP_TIMEOUT", "60"))
HANG_FILE = open(OUT / "hang.txt", "a")
TIMES: dict = {}

# --- what to type --------------------------------------------------------------------------

ASCII = "abcdefghijklmnopqrstuvwxyz ABCXYZ0123456789 .,;:!?'\"()[]{}<>/\\|-_=+*&^%$#@~`"
UNI = ["é", "ñ", "ü", "ß", "e\u0301", "中", "文", "字", "日本語", "🎉", "👍🏽", "👨\u200d👩\u200d👧", "\u200d", "\u200c",
       "\u00a0", "\u00ad", "\ufeff", "\u202e", "ﷺ", "𝕏", "\U0001f3f3\ufe0f\u200d\U0001f308", "א", "ع", "\u2028", "\u0300"]
CONTROLS = ["\t", "\x1b", "\x07", "\x9b", "\x7f", "\x00", "\x08", "\x0b", "\x0c", "\r", "\x85", "\x1b[31m", "\x1b]0;title\x07",
            "\x1bn", "\x1bp", "\x1b[A", "\x1b[1;5C", "\x1b[1;2D", "\x1b[H", "\x9b31m", "\x1a", "\x19", "\x01", "\x05"]
PASTES = ["hello world", "one\r\ntwo\r\n", "\tindented\n\t\tmore", "émoji 🎉 中文 👨\u200d👩\u200d👧", "x\n" * 200, "\r", "e\u0301",
          "\x1b[31mred\x1b[0m and \x1b]0;evil title\x07 bell\x07 \x9b2J csi \x7f del \x85 nel",
          "line1\rline2\rline3", "\u2028sep\u2029para", "a" * 12000, ("lorem ipsum dolor " * 8 + "\n") * 60,
          "[bold]markup[/bold] [/] [link=x]y[/link]", "\x00nul\x00", "tab\there\n\tand\tthere", "\ud7ff\ue000\uffff",
          "def f(x):\n    return x\n\n" * 30, "\n", "", " ", "\x1b", "\x1b[200~nested\x1b[201~"]
NAMED = ["enter", "backspace", "delete", "left", "right", "up", "down", "home", "end", "ctrl+home", "ctrl+end", "pageup",
         "pagedown", "shift+left", "shift+right", "shift+up", "shift+down", "shift+home", "shift+end", "ctrl+shift+home",
         "ctrl+shift+end", "tab", "shift+tab", "ctrl+right", "ctrl+left", "escape", "alt+n", "alt+p", "ctrl+z", "ctrl+y",
         "ctrl+x", "ctrl+c", "ctrl+v", "ctrl+a", "ctrl+e", "ctrl+w", "ctrl+u", "ctrl+k", "ctrl+d", "f2", "f3", "f4",
         "ctrl+f", "ctrl+r", "ctrl+g", "ctrl+s", "alt+a", "shift+enter", "ctrl+shift+right", "ctrl+shift+left", "f1",
         "alt+right_square_bracket", "alt+backspace", "alt+delete", "f6"]
GOTO_INPUTS = ["0", "-1", "99999", "abc", "", "1", "2:5", "3,0", " 4 : 999 ", "1:-3", "1e3", "٣", "１２", "9" * 40, "2:",
               ":3", "\x1b", "1:1:1", "+2"]
PALETTE_QUERIES = ["save as", "save", "toggle", "switch", "find", "replace", "go to", "keys", "theme", "train", "cancel",
                   "resume", "quit", "", "zzz", "sugg", "spark", "neigh", "\x1b[31m", "screenshot", "maxim"]
STARTS = [
    "", "hello\n", "a\r\nb\r\n" * 5, "one\rtwo\rthree\r", "mixed\r\nlines\nhere\rend", "\ufeffbom text\nline 2\n",
    "def f(x):\n    if x:\n        return 1\n    return 2\n" * 10, "\tTab\n\t\tindented\n" * 8, "no final newline",
    "x" * 11000 + "\nshort\n", "日本語のテキスト 🎉\némoji\n" * 20, "\x1b[31mred log\x1b[0m\n\x07bell\n\x9bcsi\n" * 5,
    ("the quick brown fox jumps over the lazy dog.\n" * 80), "   \n\n\n   \n", "\n" * 300, "a\u2028b\x85c\x0cd\n",
    "[bold]markup[/] in file\n" * 3, None,
]
NAMES = ["notes.txt", "code.py", "README.md", "data.json", "Makefile", ".hidden", "sp ace.txt", "[b]mark[link=x].txt",
         "名前.txt", "x" * 200 + ".txt", "a\x1b[31mb.txt", "tab\tname.txt", "new\nline.txt", "e\u0301.md"]


def odd_names(folder: Path, rng: random.Random) -> str:
    return rng.choice([
        "x" * rng.randint(200, 255), "y" * 250 + ".txt", "é" * 120, "日本" * 40 + ".txt", "a/b/c.txt", "sub/new.txt",
        "sub", str(folder), str(folder / "other.txt"), "other.txt", "", "   ", ".", "..", "/", "~", "~/", "~nouser/x",
        "new.txt", "\x1b[31mred.txt", "line\nbreak.txt", "/proc/version", "/dev/null",
        "/nonexistent/dir/x.txt", "./sub/../copy.txt", "copy.txt", "link.txt", "dangling.txt", "fifo", "ro.txt",
        "tab\tname", "[b]x[/b].txt", " spaced.txt ", "x" * 255, "🎉" * 60, "sub/" + "q" * 250,
    ])


def make_fixtures(folder: Path) -> None:
    (folder / "other.txt").write_text("other\n")
    (folder / "sub").mkdir(exist_ok=True)
    (folder / "sub" / "inside.txt").write_text("inside\n")
    try:
        os.symlink(folder / "other.txt", folder / "link.txt")
        os.symlink(folder / "missing-target", folder / "dangling.txt")
        os.mkfifo(folder / "fifo")
    except OSError:
        pass
    (folder / "ro.txt").write_text("read only\n")
    os.chmod(folder / "ro.txt", 0o444)


# --- generating steps (recorded as plain data, replayed exactly) ------------------------------


def gen_text(rng: random.Random) -> str:
    out = []
    for _ in range(rng.randint(1, 6)):
        r = rng.random()
        if r < 0.6:
            out.append(rng.choice(ASCII))
        elif r < 0.85:
            out.append(rng.choice(UNI))
        else:
            out.append(rng.choice(CONTROLS))
    return "".join(out)


def gen_step(rng: random.Random, app, folder: Path) -> list:
    from charcomplete.tui.dialogs import Choice, PathPrompt
    from textual.command import CommandPalette

    screen = app.screen
    focused = app.focused
    r = rng.random()
    if isinstance(screen, Choice):
        if r < 0.7:
            return ["key", rng.choice([o[2] for o in screen.options])]
        if r < 0.8:
            return ["key", "escape"]
        if r < 0.9:
            return ["key", rng.choice(["tab", "enter", "left", "right", "ctrl+q", "ctrl+p", "ctrl+s"])]
    if isinstance(screen, PathPrompt) and r < 0.6:
        return ["set_input", odd_names(folder, rng), rng.choice(["enter", "enter", "escape"])]
    if isinstance(screen, CommandPalette) and r < 0.5:
        return ["keys", rng.choice(["down", "up", "enter", "escape", "tab", "pagedown"])]
    if isinstance(focused, Input) and r < 0.5:
        if r < 0.25:
            return ["type", gen_text(rng)]
        return ["key", rng.choice(["enter", "escape", "shift+enter", "up", "down", "alt+a", "tab", "backspace",
                                   "ctrl+a", "home", "end", "ctrl+v"])]
    r = rng.random()
    if r < 0.36:
        return ["type", gen_text(rng)]
    if r < 0.62:
        return ["key", rng.choice(NAMED)]
    if r < 0.66:
        return ["paste", rng.choice(PASTES), rng.choice(["event", "bracketed"])]
    if r < 0.68:
        return ["goto", rng.choice(GOTO_INPUTS)]
    if r < 0.71:
        return ["find", rng.choice(["fox", "the", "x", "é", "\n", "a", "[", "zzz", "", "\x1b", "🎉"]),
                rng.choice(["enter", "escape", "shift+enter", "down", "up"])]
    if r < 0.73:
        return ["replace", rng.choice(["the", "x", "a", "o", "fox"]), rng.choice(["", "THE", "y\n", "\x1b[1m", "ab" * 20]),
                rng.choice(["enter", "alt+a", "escape", "enter"])]
    if r < 0.77:
        return ["palette", rng.choice(PALETTE_QUERIES), rng.randint(0, 3), rng.choice(["enter", "enter", "escape"])]
    if r < 0.79:
        return ["save_as", odd_names(folder, rng)]
    if r < 0.84:
        return ["key", "ctrl+s"]
    if r < 0.86:
        return ["key", "ctrl+q"]
    if r < 0.89:
        return ["resize", rng.randint(4, 200), rng.randint(3, 60)]
    if r < 0.93:
        return ["click", rng.randint(0, 220), rng.randint(0, 65), rng.choice([1, 1, 1, 2, 3])]
    if r < 0.94:
        return ["drag", rng.randint(0, 100), rng.randint(0, 30), rng.randint(0, 100), rng.randint(0, 30)]
    if r < 0.98:
        return ["disk", rng.choice(["rewrite", "delete", "touch", "same", "chmod-ro", "chmod-rw", "mkdir", "symlink",
                                    "rewrite-crlf", "rmdir-sub", "bigger"])]
    if r < 0.985:
        return ["train", rng.choice(["escape", "escape", "start-cancel"])]
    return ["key", rng.choice(["f2", "f3", "f4", "ctrl+p"])]


# --- running steps ---------------------------------------------------------------------------


async def feed(pilot, data: str) -> None:
    """Send `data` as a terminal would: through Textual's own input parser."""
    from textual._wait import wait_for_idle

    app = pilot.app
    parser = XTermParser()
    msgs = list(parser.feed(data))
    deadline = time.monotonic() + 1
    while parser._timeout_time is not None and time.monotonic() < deadline:
        await asyncio.sleep(0.11)
        msgs += list(parser.tick())
    for m in msgs:
        if not app.is_running or app._driver is None:
            return
        app._driver.process_message(m)
        await asyncio.sleep(0.002)
    await settle(pilot)


async def settle(pilot) -> None:
    """Let the app process what was sent (cheaper than Pilot.pause's wait for an idle CPU: the
    model and learner threads keep the CPU busy)."""
    app = pilot.app
    for _ in range(2):
        if not app.is_running:
            return
        await asyncio.sleep(0.01)
        try:
            await pilot._wait_for_screen(timeout=5)
        except Exception:
            return


async def press(pilot, key: str) -> None:
    """Pilot.press without its waits for an idle CPU (as Textual's App._press_keys builds the event)."""
    import unicodedata

    from textual.keys import REPLACED_KEYS, _character_to_key, _get_unicode_name_from_key

    app = pilot.app
    if not app.is_running or app._driver is None:
        return
    if len(key) == 1 and not key.isalnum():
        key = _character_to_key(key)
    original = REPLACED_KEYS.get(key, key)
    try:
        char = unicodedata.lookup(_get_unicode_name_from_key(original))
    except KeyError:
        char = key if len(key) == 1 else None
    event = events.Key(key, char)
    event.set_sender(app)
    app._driver.send_message(event)
    await settle(pilot)


def disk_change(path: Path, folder: Path, what: str) -> None:
    try:
        if what == "rewrite":
            path.write_bytes(b"another program's text\n")
        elif what == "rewrite-crlf":
            path.write_bytes(b"crlf\r\nfrom\r\nelsewhere\r\n")
        elif what == "bigger":
            path.write_bytes(b"grown " * 2000)
        elif what == "delete" and (path.exists() or path.is_symlink()):
            if path.is_dir() and not path.is_symlink():
                path.rmdir()
            else:
                path.unlink()
        elif what == "touch" and path.exists():
            os.utime(path, None)
        elif what == "same" and path.is_file():
            path.write_bytes(path.read_bytes())
        elif what == "chmod-ro" and path.exists():
            os.chmod(path, 0o444)
        elif what == "chmod-rw" and path.exists():
            os.chmod(path, 0o644)
        elif what == "mkdir":
            if path.is_file() or path.is_symlink():
                path.unlink()
            path.mkdir(exist_ok=True)
        elif what == "symlink":
            if path.is_file() or path.is_symlink():
                path.unlink()
            if not path.exists():
                os.symlink(folder / "other.txt", path)
        elif what == "rmdir-sub":
            shutil.rmtree(folder / "sub", ignore_errors=True)
            (folder / "sub").mkdir(exist_ok=True)
    except OSError:
        pass


async def run_step(pilot, step: list, folder: Path) -> None:
    from charcomplete.tui.dialogs import PathPrompt

    app = pilot.app
    kind = step[0]
    if app.size.width in (4, 6) and (kind == "palette" or step[-1] == "ctrl+p"):
        return  # known: Textual's command palette crashes at width 4 and 6 (rich chop_cells width 0)
    if kind == "type":
        await feed(pilot, step[1])
    elif kind in ("key", "keys"):
        await press(pilot, step[1])
    elif kind == "paste":
        if step[2] == "event":
            app.post_message(events.Paste(step[1]))
            await settle(pilot)
        else:
            await feed(pilot, "\x1b[200~" + step[1] + "\x1b[201~")
    elif kind == "goto":
        await press(pilot, "ctrl+g")
        await feed(pilot, step[1])
        await press(pilot, "enter")
    elif kind == "find":
        await press(pilot, "ctrl+f")
        if step[1]:
            await feed(pilot, step[1])
        await press(pilot, step[2])
    elif kind == "replace":
        await press(pilot, "ctrl+r")
        await feed(pilot, step[1])
        await press(pilot, "tab")
        if step[2]:
            await feed(pilot, step[2])
        await press(pilot, step[3])
    elif kind == "palette":
        await press(pilot, "ctrl+p")
        await pilot.pause(0.05)
        if step[1]:
            await feed(pilot, step[1])
        await pilot.pause(0.1)
        for _ in range(step[2]):
            await press(pilot, "down")
        await press(pilot, step[3])
        await pilot.pause(0.05)
    elif kind == "save_as":
        app.action_save_as()
        await settle(pilot)
        if isinstance(app.screen, PathPrompt):
            app.screen.query_one("#path-input", Input).value = step[1]
            await press(pilot, "enter")
            await pilot.pause(0.05)
    elif kind == "set_input":
        if isinstance(app.screen, PathPrompt):
            app.screen.query_one("#path-input", Input).value = step[1]
        await press(pilot, step[2])
        await pilot.pause(0.05)
    elif kind == "resize":
        await pilot.resize_terminal(step[1], step[2])
        await settle(pilot)
    elif kind == "click":
        try:
            await pilot.click(offset=(step[1], step[2]), times=step[3])
        except OutOfBounds:
            pass
    elif kind == "drag":
        try:
            await pilot.mouse_down(offset=(step[1], step[2]))
            await pilot.hover(offset=(step[3], step[4]))
            await pilot.mouse_up(offset=(step[3], step[4]))
        except OutOfBounds:
            pass
        await settle(pilot)
    elif kind == "disk":
        disk_change(app.document.path, folder, step[1])
    elif kind == "train":
        await press(pilot, "ctrl+t")
        await pilot.pause(0.1)
        if step[1] == "escape":
            await press(pilot, "escape")
        else:
            from charcomplete.tui.training import TrainDialog

            if isinstance(app.screen, TrainDialog):
                await press(pilot, "enter")
                await pilot.pause(0.5)
            app.action_cancel_training()
            for _ in range(200):
                if not app.training_running:
                    break
                await pilot.pause(0.05)
    else:
        raise AssertionError(f"unknown step {step}")


# --- oracles ---------------------------------------------------------------------------------

def drawn_text(app) -> str:
    update = app.screen._compositor.render_full_update()
    out = []
    for line in update.strips:
        for strip in line:
            for seg in strip:
                if not seg.control:
                    out.append(seg.text)
        out.append("\n")
    return "".join(out)


def check_drawn(app, log) -> None:
    text = drawn_text(app)
    bad = sorted({c for c in text if (ord(c) < 32 and c != "\n") or 0x7F <= ord(c) <= 0x9F})
    assert not bad, f"control characters drawn: {bad!r} on screen {type(app.screen).__name__}: " + repr(
        [ln for ln in text.split("\n") if any(c in ln for c in bad)][:5])


def check_kept_rows(app) -> None:
    """The editor's kept rows equal a fresh rendering (the row cache is out of the loop)."""
    ed = app.editor
    if not ed.is_mounted or not ed.display or app.screen is not ed.screen:
        return
    from textual.geometry import Region

    w, h = ed.size
    if w <= 0 or h <= 0:
        return
    crop = Region(0, 0, w, h)
    kept = [s.text for s in ed.render_lines(crop)]
    saved, ed._kept = ed._kept, None
    ed._line_cache.clear()
    try:
        fresh = [s.text for s in ed.render_lines(crop)]
    finally:
        ed._kept = saved
    assert kept == fresh, f"kept rows differ from fresh: {[(i, a, b) for i, (a, b) in enumerate(zip(kept, fresh)) if a != b][:3]}"


class SaveOracle:
    def __init__(self, app, original: bytes | None, notes: list):
        self.app = app
        self.originals = {id(app.document): (original, app.document.text)}
        self.failures: list[str] = []
        self.notes = notes
        real = app.notify

        def notify(message, **kw):
            self.notes.append((kw.get("severity", "information"), message))
            if message.startswith("Saved"):
                try:
                    self.check(message)
                except Exception as e:  # recorded, raised after the step
                    self.failures.append(f"{e}")
            return real(message, **kw)

        app.notify = notify

    def check(self, message: str) -> None:
        app, doc = self.app, self.app.document
        text = app.buffer_text()
        disk = Path(os.path.realpath(doc.path)).read_bytes()
        body = text.replace("\n", doc.newline).encode(doc.encoding)
        if doc.bom and doc.encoding == "utf-8":
            body = b"\xef\xbb\xbf" + body
        original, opened = self.originals.get(id(doc), (None, None))
        ok = disk == body or (original is not None and text == opened and disk == original)
        assert ok, (f"after {message!r}: disk {disk[:200]!r} ({len(disk)} bytes) != buffer {body[:200]!r} ({len(body)} bytes), "
                    f"newline {doc.newline!r}")
        assert not app.is_modified(), f"after {message!r} the buffer is still marked modified"


# --- the test --------------------------------------------------------------------------------


def cases():
    if os.environ.get("REPLAY"):
        return [("replay", os.environ["REPLAY"])]
    return [("seed", int(s)) for s in os.environ.get("SEEDS", "1").split(",") if s.strip()]


def keep_filter(n: int) -> set[int] | None:
    spec = os.environ.get("KEEP")
    if not spec:
        return None
    keep = set()
    for part in spec.split(","):
        if "-" in part:
            a, b = part.split("-")
            keep.update(range(int(a), int(b) + 1))
        elif part:
            keep.add(int(part))
    return keep


@pytest.mark.parametrize("case", cases(), ids=lambda c: f"{c[0]}{c[1]}" if c[0] == "seed" else "replay")
async def test_fuzz_app(case, make_editor, tmp_path, monkeypatch):
    from charcomplete.document import DocumentError

    folder = tmp_path / "work"
    folder.mkdir()
    make_fixtures(folder)
    monkeypatch.chdir(folder)
    monkeypatch.setenv("HOME", str(folder))
    if case[0] == "replay":
        rec = json.loads(Path(case[1]).read_text())
        start = base64.b64decode(rec["start"]) if rec["start"] is not None else None
        name, size, kind, seed = rec["name"], tuple(rec["size"]), rec["kind"], rec["seed"]
        steps_in = rec["steps"]
        keep = keep_filter(len(steps_in))
        if keep is not None:
            steps_in = [s for i, s in enumerate(steps_in) if i in keep]
        rng = None
    else:
        seed = case[1]
        rng = random.Random(seed)
        st = rng.choice(STARTS)
        start = st.encode() if st is not None else None
        name = rng.choice(NAMES)
        size = (rng.randint(20, 160), rng.randint(8, 50))
        kind = rng.choice(["attention", "lstm"])
        steps_in = None
    record = {"seed": seed, "start": base64.b64encode(start).decode() if start is not None else None, "name": name,
              "size": list(size), "kind": kind, "steps": []}
    path = folder / name
    if start is not None:
        path.write_bytes(start)
    log = record["steps"]
    total = len(steps_in) if steps_in is not None else STEPS
    i = 0
    failure = None
    opens = 0
    notes_all: list = []
    try:
        while i < total and opens < 6:
            opens += 1
            try:
                app = make_editor(path=path, kind=kind)
            except DocumentError:
                path = folder / f"reopen{opens}.txt"
                app = make_editor(path=path, kind=kind)
            original = path.read_bytes() if path.is_file() else None
            oracle = SaveOracle(app, original, notes_all)
            app.learn_neighbours = False
            async with app.run_test(size=size) as pilot:
                await pilot.pause()
                while i < total and app.is_running:
                    step = steps_in[i] if steps_in is not None else gen_step(rng, app, folder)
                    log.append(step)
                    faulthandler.dump_traceback_later(STEP_TIMEOUT * 2, exit=True, file=HANG_FILE)
                    t0 = time.monotonic()
                    try:
                        await asyncio.wait_for(run_step(pilot, step, folder), STEP_TIMEOUT)
                        dt = time.monotonic() - t0
                        TIMES.setdefault(step[0], []).append(dt)
                        if dt > 3:
                            with open(OUT / "slow.log", "a") as f:
                                f.write(f"seed{seed} step {i} {dt:.1f}s {step!r:.200} lines={app.editor.document.line_count} "
                                        f"size={app.size} wrap={app.editor.soft_wrap} screen={type(app.screen).__name__}\n")
                    except asyncio.TimeoutError:
                        raise AssertionError(f"step {i} {step!r} hung for {STEP_TIMEOUT}s")
                    finally:
                        faulthandler.cancel_dump_traceback_later()
                    i += 1
                    if oracle.failures:
                        raise AssertionError(f"step {i - 1} {step!r}: save oracle: {oracle.failures[0]}")
                    if getattr(app, "_exception", None) is not None:
                        raise AssertionError(f"step {i - 1} {step!r}: app exception") from app._exception
                    if not app.is_running:
                        assert app.return_code in (0, None), f"exit code {app.return_code}"
                        break
                    if i % 20 == 0:
                        check_drawn(app, log)
                        check_kept_rows(app)
                if app.is_running:
                    check_drawn(app, log)
                    if app.training_running:
                        app.action_cancel_training()
                        for _ in range(200):
                            if not app.training_running:
                                break
                            await pilot.pause(0.05)
            if getattr(app, "_exception", None) is not None:
                raise AssertionError("app exception") from app._exception
            assert app.return_code in (0, None), f"exit code {app.return_code}"
            p = app.document.path
            if p.exists() and not p.is_dir():
                path = p
    except BaseException as e:
        failure = e
        raise
    finally:
        tag = f"seed{seed}" if case[0] == "seed" else "replay"
        errs = [m for s, m in notes_all if s == "error"]
        with open(OUT / "runs.log", "a") as f:
            f.write("  times " + ", ".join(f"{k}:{len(v)}x{sum(v)/len(v):.2f}s max {max(v):.1f}" for k, v in TIMES.items()) + "\n")
            TIMES.clear()
            f.write(f"{tag} steps={i} opens={opens} {'FAIL ' + type(failure).__name__ + ': ' + str(failure)[:300] if failure else 'ok'}"
                    f" errors={[m[:120] for m in errs][:6]}\n")
        if failure is not None and case[0] == "seed":
            (OUT / f"fail_seed{seed}.json").write_text(json.dumps(record, indent=0))
