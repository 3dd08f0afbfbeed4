"""Opening at once: the editor paints the file first and loads the model in a thread worker
(`EditorApp(document, None, load=...)`, what `charcomplete edit` does)."""

from __future__ import annotations

import threading

from charcomplete.completion import load_completer
from charcomplete.document import Document
from charcomplete.tui.app import EditorApp

from test_editor_app import LINE, settle, type_at_end, type_text, until


def _app(path, load):
    path.write_text(LINE)
    return EditorApp(Document.open(path), None, load=load, loading="tiny")


async def test_the_file_paints_before_the_model_and_editing_works_while_it_loads(tiny_checkpoints, tmp_path):
    release = threading.Event()

    def load():
        assert release.wait(60)
        return load_completer(tiny_checkpoints["attention"], adapt=False)

    app = _app(tmp_path / "notes.txt", load)
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.editor.text == LINE  # painted, model not loaded yet
        assert app.model.completer is None
        assert app.status.activity == "loading model…" and app.status.model == "tiny"
        app.editor.move_cursor(app.editor.document.end)
        await type_text(pilot, "the qu", wait_for_model=False)  # typing works meanwhile, with no ghost
        await pilot.pause()
        assert app.editor.text == LINE + "the qu" and app.editor.suggestion == ""
        app.action_switch_model("lstm")  # refused politely until the first model is there
        await until(pilot, lambda: any("still loading" in n.message for n in app._notifications))
        release.set()
        await until(pilot, lambda: app.model.completer is not None)
        await settle(pilot)
        assert app.status.activity == "" and app.status.model == "attention"
        fresh = load_completer(tiny_checkpoints["attention"], adapt=False)
        assert app.editor.suggestion and app.editor.suggestion == fresh.suggest(app.editor.context()).text


async def test_a_model_that_fails_to_load_leaves_a_working_editor(tmp_path):
    def load():
        raise ValueError("corrupt weights")

    app = _app(tmp_path / "notes.txt", load)
    async with app.run_test() as pilot:
        await until(pilot, lambda: any("corrupt weights" in n.message for n in app._notifications))
        await settle(pilot)
        assert app.model.completer is None and app.status.activity == ""
        assert "not loaded" in app.status.model
        await type_at_end(pilot, "the qu")
        assert app.editor.text == LINE + "the qu" and app.editor.suggestion == ""
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert (tmp_path / "notes.txt").read_text() == LINE + "the qu"
