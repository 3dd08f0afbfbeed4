"""Start-up and big files: how soon `charcomplete edit` shows the file and the first ghost.

Every figure is a fresh process (median of --runs):
- `charcomplete --help` wall time;
- `charcomplete edit FILE` start -> first paint and start -> first ghost (the first frame after the
  model's first answer, whose ghost may be empty when nothing is confident), for an empty file and a
  2 MB Markdown file (bench/data repeated under Markdown headings), with the cursor moved to the
  end of the file at the first paint (where one types);
- the editor's RSS after the first ghost, and whether torch was imported.

The editor runs through the real command (`charcomplete.cli`), with Textual's headless driver
(all rendering happens, nothing is written to a terminal). The hooks live here, not in the
product: a child process patches, as the modules are imported, `EditorApp.run` (headless),
`Screen._compositor_refresh` (a frame was rendered: the first one with the editor in it is the
first paint; the first with a ghost in the editor is the first ghost) and exits after the ghost.

    python bench/startup.py                 # 5 runs each
    python bench/startup.py --runs 3 --json out.json
    PYTHONPATH=/path/to/other/checkout python bench/startup.py   # the same bench on another version
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


# --- the child: the real command, with hooks -----------------------------------------------


def child(path: str, t0: float, out: str, extra: list[str]) -> None:
    import importlib.abc
    import importlib.util

    marks: dict = {}

    def now() -> float:
        return time.time() - t0

    def patch_app(mod) -> None:
        App = mod.EditorApp
        run = App.run

        def headless_run(self, *a, **kw):
            kw.update(headless=True, size=(120, 40))
            return run(self, *a, **kw)

        App.run = headless_run

    def patch_screen(mod) -> None:
        Screen = mod.Screen
        refresh = Screen._compositor_refresh

        def hooked(self):
            refresh(self)
            app = self.app
            ed = getattr(app, "_editor", None)
            if ed is None or not ed.is_mounted or self is not app.screen:
                return
            if "paint" not in marks:
                marks["paint"] = now()
                ed.move_cursor(ed.document.end)  # where one types
                if app.model.completer is not None:  # a version that loaded the model before the UI
                    ed.update_suggestion()
            elif "answer" in marks and "ghost" not in marks:
                marks["ghost"] = now()
                marks["ghost_text"] = ed.suggestion
                rss = [ln for ln in Path("/proc/self/status").read_text().splitlines() if ln.startswith("VmRSS")]
                marks["rss_mb"] = int(rss[0].split()[1]) / 1024 if rss else None
                marks["torch"] = "torch" in sys.modules
                app.exit()

        Screen._compositor_refresh = hooked

    def patch_editor(mod) -> None:
        Ghost = mod.GhostEditor
        ready = Ghost.on_suggestion_ready

        def hooked(self, message):
            ready(self, message)
            marks.setdefault("answer", now())  # the model's first answer (its ghost, maybe empty, shows next frame)

        Ghost.on_suggestion_ready = hooked

    def patch_edit(mod) -> None:
        mod.has_terminal = lambda: True  # headless: nothing is written to a terminal, and this child has none

    hooks = {"charcomplete.tui.app": patch_app, "textual.screen": patch_screen, "charcomplete.tui.editor": patch_editor,
             "charcomplete.cli.edit": patch_edit}

    class Finder(importlib.abc.MetaPathFinder):
        def find_spec(self, name, p, target=None):
            if name not in hooks:
                return None
            sys.meta_path.remove(self)
            try:
                spec = importlib.util.find_spec(name)
            finally:
                sys.meta_path.insert(0, self)
            loader = spec.loader
            exec_module = loader.exec_module

            def exec_and_patch(module):
                exec_module(module)
                hooks[name](module)

            loader.exec_module = exec_and_patch
            return spec

    sys.meta_path.insert(0, Finder())
    from charcomplete.cli import cli

    try:
        cli(["edit", path, *extra], prog_name="charcomplete", standalone_mode=False)
    finally:
        Path(out).write_text(json.dumps(marks))


# --- the parent: fresh processes, medians ---------------------------------------------------


def run_edit(path: Path, extra: list[str], timeout: float = 120) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    t0 = time.time()
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(path), str(t0), out, *extra]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    marks = json.loads(Path(out).read_text() or "{}")
    os.unlink(out)
    if r.returncode != 0 or "ghost" not in marks:
        raise SystemExit(f"edit run failed (rc {r.returncode}): {marks} {r.stderr[-2000:]}")
    return marks


def time_help() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "charcomplete", "--help"], check=True, capture_output=True)
    return time.perf_counter() - t0


def big_markdown(path: Path, size: int = 2 * 2**20) -> Path:
    prose = (HERE / "data" / "modern-prose.txt").read_text()
    parts, n, i = [], 0, 0
    while n < size:
        i += 1
        block = f"## Section {i}\n\n{prose}\n- item {i}: *emphasis* and `code`\n\n"
        parts.append(block)
        n += len(block.encode())
    path.write_text("".join(parts)[:size])
    return path


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], float(sys.argv[3]), sys.argv[4], sys.argv[5:])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", default=None, help="also write the figures here")
    ap.add_argument("--device", default="auto", help="--device for the editor (default auto, as a user runs it)")
    args = ap.parse_args()
    extra = ["--device", args.device, "--no-adapt"]  # --no-adapt: the user's history never touched
    results: dict = {}
    helps = [time_help() for _ in range(args.runs)]
    results["help_s"] = statistics.median(helps)
    print(f"charcomplete --help: {results['help_s']:.3f} s (median of {args.runs})")
    with tempfile.TemporaryDirectory() as d:
        empty = Path(d, "empty.md")
        empty.write_text("")
        big = big_markdown(Path(d, "big.md"))
        for label, path in (("empty file", empty), (f"{big.stat().st_size / 2**20:.1f} MB Markdown", big)):
            runs = [run_edit(path, extra) for _ in range(args.runs)]
            med = {k: statistics.median(r[k] for r in runs) for k in ("paint", "ghost", "rss_mb")}
            torch_seen = any(r["torch"] for r in runs)
            results[label] = {**med, "torch_imported": torch_seen, "ghost_text": runs[0]["ghost_text"]}
            print(f"edit, {label}: start -> first paint {med['paint']:.2f} s, -> first ghost {med['ghost']:.2f} s, "
                  f"RSS {med['rss_mb']:.0f} MB, torch imported: {'yes' if torch_seen else 'no'} "
                  f"(median of {args.runs}; ghost {runs[0]['ghost_text']!r})")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
