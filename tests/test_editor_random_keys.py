"""Seeded random keys, pastes and clicks into the real editor (tiny adapting model, the whole
buffer learned): it never crashes, what Ctrl+S writes is what the buffer holds, and the
document cache stays true to the buffer. (Random keys found Ctrl+X on the last line crashing
the editor: tests/test_whole_buffer.py has that case on its own.)"""

from __future__ import annotations

import random

import pytest
from textual import events
from textual.pilot import OutOfBounds

from charcomplete.adapt import AdaptConfig, AdaptiveModel
from charcomplete.completion import load_completer
from charcomplete.ngram import CharCounts

from conftest import TINY_TEXT

TYPED = ["t", "h", "e", "space", "space", "o", "x", "full_stop", "comma", "quotation_mark", "enter", "tab"]
EDITING = ["tab", "ctrl+right", "escape", "alt+n", "alt+p", "backspace", "delete", "enter", "left", "right", "up", "down",
           "home", "end", "ctrl+home", "ctrl+end", "shift+left", "shift+right", "shift+up", "shift+down", "ctrl+z", "ctrl+y",
           "ctrl+x", "ctrl+c", "ctrl+v", "f2", "f3", "f4", "ctrl+s", "pageup", "pagedown", "shift+tab", "ctrl+a", "ctrl+e",
           "ctrl+w", "ctrl+u", "ctrl+k", "ctrl+shift+k", "ctrl+d", "ctrl+left", "ctrl+shift+right", "shift+home",
           "shift+end", "f6", "alt+delete", "alt+backspace", "ctrl+shift+home", "ctrl+shift+end"]
PASTES = ["hello world", "one\r\ntwo\r\n", "\tindented\n\t\tmore", "émoji 🎉 中文", "x\n" * 30, "\r", "e\u0301"]
FILES = {"notes.md": TINY_TEXT[:1500], "code.py": "def f(x):\n    return x\n" * 20, "crlf.txt": "one\r\ntwo\r\n" * 20, "new.txt": None}


@pytest.mark.parametrize("seed,name", list(enumerate(FILES)))
async def test_random_keys_never_crash_and_ctrl_s_writes_the_buffer(seed, name, tiny_checkpoints, tmp_path):
    from charcomplete.document import Document
    from charcomplete.tui.app import EditorApp

    rng = random.Random(seed)
    path = tmp_path / name
    if FILES[name] is not None:
        path.write_bytes(FILES[name].encode())
    completer = load_completer(tiny_checkpoints["lstm"], adapt=AdaptiveModel(AdaptConfig(), None))
    app = EditorApp(Document.open(path), completer)
    app.learn_neighbours = False
    async with app.run_test(size=(60, 16)) as pilot:
        for i in range(150):
            r = rng.random()
            if r < 0.03:
                app.post_message(events.Paste(rng.choice(PASTES)))  # as the terminal's driver sends it
            elif r < 0.05:
                w, h = app.editor.size  # in the text (the footer's and the status bar's clicks are keys of their own)
                try:
                    await pilot.click("#editor", offset=(rng.randrange(max(1, w)), rng.randrange(max(1, h))))
                except OutOfBounds:
                    pass
            else:
                await pilot.press(rng.choice(TYPED if r < 0.6 else EDITING))
            if i % 25 == 0:
                await pilot.pause()
        app.editor.focus()
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.is_running and app.return_code is None
        text = app.buffer_text()
        saved = path.read_bytes().decode()
        assert saved.replace("\r\n", "\n") == text
        if name == "crlf.txt" and "\n" in text:
            assert saved.count("\r\n") == text.count("\n")  # its line ends kept
        learner = app.editor.learner
        for _ in range(200):
            if not learner.busy:
                break
            await pilot.pause(0.02)
        full = CharCounts(2, 6)
        full.add(text, 0)
        assert learner.doc.table == full.table  # the document cache counts exactly the buffer
