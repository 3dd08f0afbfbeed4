"""Make docs/editor.svg: the editor on a few lines of Hamlet, typing, a ghost showing.

    python docs/editor_screenshot.py [--model attention] [--out docs/editor.svg]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TEXT = ("To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n"
        "The slings and arrows of outrageous fortune,\nOr to take arms against a sea of troubles\n"
        "And by opposing end them. To die, to sleep,\nNo more; and by a sleep to say we end\n")
TYPED = "The heart-ache and the thou"


async def shoot(model: str, out: str, typed: str) -> str:
    from charcomplete.completion import load_completer
    from charcomplete.document import Document
    from charcomplete.tui.app import EditorApp

    path = Path(tempfile.mkdtemp()) / "hamlet.txt"
    path.write_text(TEXT)
    app = EditorApp(Document.open(path), load_completer(model, adapt=False))
    async with app.run_test(size=(100, 24)) as pilot:
        app.editor.cursor_blink = False
        app.editor.move_cursor(app.editor.document.end)
        await pilot.press(*typed)
        while not app.model.idle:
            await pilot.pause()
        await pilot.pause()
        await pilot.pause()
        app.save_screenshot(out)
        return app.editor.suggestion


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="attention")
    ap.add_argument("--out", default=str(Path(__file__).with_name("editor.svg")))
    ap.add_argument("--typed", default=TYPED)
    args = ap.parse_args()
    ghost = asyncio.run(shoot(args.model, args.out, args.typed))
    print(f"wrote {args.out} (ghost: {ghost!r})")


if __name__ == "__main__":
    main()
