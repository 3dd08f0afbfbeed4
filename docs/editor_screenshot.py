"""Make docs/editor.svg: the editor on a few lines of meeting notes, typing, a ghost showing.

    python docs/editor_screenshot.py [--model prose] [--out docs/editor.svg]

As `charcomplete edit notes.md` opens it for a new user: the prose model, adapting to the
document (no saved history), the files beside it learned (none here).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TEXT = ("# Meeting notes, Tuesday\n\n"
        "- The budget review moved to Thursday; Anna will send the spreadsheet.\n"
        "- The search page still times out on long queries. Ravi is looking into the index.\n"
        "- Onboarding guide: a first draft by Friday.\n\n"
        "## Next steps\n\n")
TYPED = "- Remind Anna about the spread"


async def shoot(model: str, out: str, typed: str) -> str:
    from charcomplete.adapt import AdaptiveModel
    from charcomplete.completion import load_completer
    from charcomplete.document import Document
    from charcomplete.tui.app import EditorApp

    path = Path(tempfile.mkdtemp()) / "notes.md"
    path.write_text(TEXT)
    app = EditorApp(Document.open(path), load_completer(model, adapt=AdaptiveModel()))
    async with app.run_test(size=(100, 24)) as pilot:
        app.editor.cursor_blink = False
        app.editor.move_cursor(app.editor.document.end)
        done = 0
        while done < len(typed):  # as a user types: Tab takes a ghost that is what comes next
            await settle(app, pilot)
            ghost = app.editor.suggestion
            if ghost and typed.startswith(ghost, done) and done + len(ghost) < len(typed):
                await pilot.press("tab")
                done += len(ghost)
            else:
                await pilot.press(typed[done])
                done += 1
        await settle(app, pilot)
        app.save_screenshot(out)
        return app.editor.suggestion


async def settle(app, pilot) -> None:
    """Until the ghost for the last key is on screen, and the status bar and sparkline after it."""
    await pilot.pause()
    while not app.model.idle:
        await pilot.pause()
    await pilot.pause()
    await pilot.pause()
    while app._figures is not None:  # drawn 20 ms after the ghost (app.FIGURES_AFTER)
        await pilot.pause()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="prose")
    ap.add_argument("--out", default=str(Path(__file__).with_name("editor.svg")))
    ap.add_argument("--typed", default=TYPED)
    args = ap.parse_args()
    ghost = asyncio.run(shoot(args.model, args.out, args.typed))
    print(f"wrote {args.out} (ghost: {ghost!r})")


if __name__ == "__main__":
    main()
