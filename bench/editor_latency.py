"""Editor latency: the time from a key press until the ghost text for it is on screen.

Runs the real editor app headless, types a paragraph one key at a time and records, for every
key that gets a ghost, the time from the editor receiving the key to the first screen refresh
after the model's suggestion was applied (TextArea edit + worker + model + message + render).
For comparison: the same for the typed character itself (Textual repaints at most 60 times a
second, so any change waits up to one frame, 16.7 ms), and the model call alone.
Target: p99 <= 16 ms.

    python bench/editor_latency.py                       # the default shipped model
    python bench/editor_latency.py --model my-notes --device cpu
    python bench/editor_latency.py --buffer-kb 1024      # typing at the end of a 1 MB file while it is learned

With --buffer-kb N the file opened already holds N KB of text (the paragraph, numbered, over and
over) and the keys are typed at its end, from the moment the editor takes keys, while the
model thread is still counting the whole buffer (adapt.BufferLearner): compare it with the
same run without --buffer-kb.

With --size 200x60 the (headless) terminal is that large: more rows to paint per frame.

With --neighbours DIR the text files of DIR (not its subfolders) are copied beside the file
opened, so the editor learns them (their counts and the match model's index) while the keys are
typed: `python bench/editor_latency.py --model prose --neighbours $(python -c "import click,
os; print(os.path.dirname(click.__file__))")`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TEXTUAL_FPS", "480")  # as `charcomplete edit` sets it (before Textual is imported)

PARAGRAPH = (
    "The quick brown fox jumps over the lazy dog while the farmer watches from the porch. "
    "It is a fine morning, and the fields are still wet with dew. Later in the day the wind "
    "will come up from the south, and the clouds that gather over the hills will bring rain "
    "before the evening. For now, though, there is nothing to do but sit in the sun, drink a "
    "cup of coffee, and listen to the birds that sing in the old oak tree beside the barn. "
    "The children will be home from school at four, and then the house will be loud again."
)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))]


async def run(args) -> dict:
    from textual import events
    from textual.keys import _character_to_key
    from textual.screen import Screen

    from charcomplete.completion import load_completer
    from charcomplete.document import Document
    from charcomplete.tui.app import EditorApp

    from charcomplete.tui.editor import GhostEditor

    # as `charcomplete edit` runs (adaptation on), without writing history
    completer = load_completer(args.model, device=args.device, adapt=not args.no_adapt)
    text = Path(args.text).read_text()[: args.chars] if args.text else (PARAGRAPH * 4)[: args.chars]

    frames: list[float] = []  # when each screen update that painted something finished
    update = Screen._on_timer_update

    def timed_update(screen) -> None:
        painted = bool(screen._dirty_widgets or screen._repaint_required or screen._layout_required)
        update(screen)
        if painted:
            frames.append(time.perf_counter())

    Screen._on_timer_update = timed_update  # measuring only: the app itself is unchanged
    events_seen: list[tuple[str, float, float]] = []  # (edit|ghost, key time, when applied)
    model_ms: list[float] = []  # Completer.suggest's time of each answer the editor got
    key_time: list[float | None] = [None]  # when the editor got the last key
    on_key, update_suggestion, on_ready = GhostEditor._on_key, GhostEditor.update_suggestion, GhostEditor.on_suggestion_ready

    async def timed_key(self, event) -> None:
        key_time[0] = time.perf_counter()
        await on_key(self, event)

    def timed_update_suggestion(self) -> None:  # after every edit: the key's character is in the buffer
        if key_time[0] is not None:
            events_seen.append(("edit", key_time[0], time.perf_counter()))
        update_suggestion(self)

    def timed_ready(self, message) -> None:
        model_ms.append(message.suggestion.latency_ms)  # every answer's own time (the status bar draws it 20 ms later)
        on_ready(self, message)
        if key_time[0] is not None and self.suggestion:
            events_seen.append(("ghost", key_time[0], time.perf_counter()))
            key_time[0] = None

    GhostEditor._on_key, GhostEditor.update_suggestion, GhostEditor.on_suggestion_ready = timed_key, timed_update_suggestion, timed_ready
    path = Path(tempfile.mkdtemp()) / "bench.txt"
    for f in sorted(Path(args.neighbours).iterdir()) if args.neighbours else ():
        if f.is_file():
            (path.parent / f.name).write_bytes(f.read_bytes())
    lines = [f"{i}. {PARAGRAPH}\n" for i in range(args.buffer_kb * 1024 // len(PARAGRAPH) + 1)] if args.buffer_kb else []
    before = "".join(lines)[: args.buffer_kb * 1024]
    if before:
        before = before[: before.rfind("\n") + 1]
        path.write_text(before)
    app = EditorApp(Document.open(path), completer)
    async with app.run_test(size=args.size) as pilot:
        ed = app.editor
        while not app.model.idle:
            await pilot.pause()
        ed.move_cursor(ed.document.end)
        learning = ed.learner.busy and completer.adapt is not None if before or args.neighbours else None  # still counting when typing starts
        key_time[0] = None
        for ch in text:
            key = "enter" if ch == "\n" else ch if ch.isalnum() else _character_to_key(ch)
            app.post_message(events.Key(key, ch))
            # wait with plain sleeps, not pilot.pause(): that one sleeps in 20 ms steps and then
            # forces a screen update itself, which would time the test harness, not the app
            typed = time.perf_counter()
            await asyncio.sleep(0.001)
            while not app.model.idle and time.perf_counter() - typed < 1.0:
                await asyncio.sleep(0.001)
            await asyncio.sleep(max(0.0, args.gap / 1000 - (time.perf_counter() - typed)))  # a typist's gap between keys
        assert ed.text == before + text, "the typed text did not arrive intact"
        learned, still = app.status.learned, ed.learner.busy  # what was learned by the last key
    Screen._on_timer_update = update
    GhostEditor._on_key, GhostEditor.update_suggestion, GhostEditor.on_suggestion_ready = on_key, update_suggestion, on_ready

    def on_screen(kind: str) -> list[float]:
        out = []
        for k, key_time, applied in events_seen:
            if k == kind:
                shown = next((f for f in frames if f >= applied), None)
                if shown is not None:
                    out.append((shown - key_time) * 1000)
        return out

    ghost = on_screen("ghost")
    return {"model": f"{completer.name} ({completer.kind})", "device": completer.device, "keys": len(text),
            "ghosts": len(ghost), "ghost_ms": ghost, "key_ms": on_screen("edit"), "model_ms": model_ms,
            "buffer": len(before), "learning": learning, "learned": learned, "still": still}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="attention", help="model name or path (default: attention, as the figures that give no --model were measured)")
    ap.add_argument("--device", default="cpu", help="auto, cpu, cuda, mps (default cpu)")
    ap.add_argument("--chars", type=int, default=600, help="characters to type (default 600)")
    ap.add_argument("--text", default=None, help="type this file's text instead of the built-in paragraph")
    ap.add_argument("--no-adapt", action="store_true", help="as `edit --no-adapt`")
    ap.add_argument("--buffer-kb", type=int, default=0, help="type at the end of a file of this many KB (default 0: an empty one)")
    ap.add_argument("--gap", type=float, default=50.0, help="milliseconds between keys (default 50: a fast typist)")
    ap.add_argument("--neighbours", default=None, help="copy this folder's files beside the file typed in (learned while typing)")
    ap.add_argument("--size", default="100x30", type=lambda v: tuple(int(n) for n in v.split("x")),
                    help="the terminal's columns x rows (default 100x30)")
    args = ap.parse_args()
    try:
        r = asyncio.run(run(args))
    except Exception as e:  # e.g. the default model not shipped yet
        sys.exit(f"editor_latency: {e} (try --model PATH)")
    cmd = "python bench/editor_latency.py " + " ".join(sys.argv[1:])
    print(f"`{cmd.strip()}`: {r['model']} on {r['device']}, {r['keys']} keys typed, {r['ghosts']} ghosts shown; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
          + (f"; typed at the end of a {r['buffer']:,}-character file, its counting "
             + ("still under way" if r["learning"] else "not running") + " when typing began" if r["buffer"] else "")
          + (f"; the neighbouring files learned while typing: \"{r['learned']}\" by the last key"
             + (", more to learn" if r["still"] else ", all of them") if args.neighbours else "") + "\n")
    print("| measure | p50 ms | p99 ms | max ms | samples |")
    print("| --- | ---: | ---: | ---: | ---: |")
    rows = (("key press -> its character on screen", r["key_ms"]), ("key press -> its ghost on screen", r["ghost_ms"]),
            ("model call (Completer.suggest)", r["model_ms"]))
    for label, values in rows:
        if values:
            print(f"| {label} | {statistics.median(values):.2f} | {pct(values, 99):.2f} | {max(values):.2f} | {len(values)} |")


if __name__ == "__main__":
    main()
