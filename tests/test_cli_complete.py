"""`charcomplete complete` and `charcomplete eval` through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from charcomplete.cli import cli


def run(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input)


def one_line_error(r):
    assert r.exit_code != 0
    assert "Traceback" not in r.output
    lines = [ln for ln in r.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:"), r.output


def test_complete_text_and_stdin(tiny_checkpoints):
    m = str(tiny_checkpoints["attention"])
    r = run("complete", "--model", m, "the quick br")
    assert r.exit_code == 0, r.output
    assert r.output.startswith("own")
    r2 = run("complete", "--model", m, "-", input="the quick br")
    assert r2.output == r.output
    r3 = run("complete", "--model", m, "-", input="\ufeffthe quick br".encode("utf-8"))  # a byte order mark: dropped
    assert r3.output == r.output


@pytest.mark.skipif(sys.platform == "win32", reason="a pseudo-terminal is POSIX")
def test_complete_without_text_at_a_terminal_says_what_to_give(tiny_checkpoints):
    """No TEXT and nothing piped in (stdin a terminal): a one-line error, not a wait for Ctrl+D."""
    import pty

    master, terminal = pty.openpty()
    try:
        r = subprocess.run([sys.executable, "-m", "charcomplete", "complete", "--model", str(tiny_checkpoints["attention"])],
                           stdin=terminal, capture_output=True, text=True, timeout=120)
    finally:
        os.close(master)
        os.close(terminal)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.strip().splitlines() == [r.stderr.strip()] and r.stderr.startswith("Error: give the text to complete")


def test_complete_stdin_that_is_not_utf8_is_a_one_line_error(tiny_checkpoints):
    r = run("complete", "--model", str(tiny_checkpoints["attention"]), "-", input=b"caf\xe9 au lait")
    assert r.exit_code == 1
    lines = [ln for ln in r.output.strip().splitlines() if ln.strip()]
    assert lines == ["Error: standard input is not UTF-8 text (byte 0xe9 at offset 3)"], r.output


def test_complete_json_and_alternatives(tiny_checkpoints):
    r = run("complete", "--model", str(tiny_checkpoints["lstm"]), "--json", "-k", "3", "the ")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["kind"] == "lstm" and 1 <= len(data["suggestions"]) <= 3


def test_complete_and_models_start_without_torch(tiny_checkpoints):
    """`complete` on the CPU and `models` never import torch (0.8 s of start-up): the real CLI in
    a fresh process, which then checks sys.modules."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from charcomplete.cli import cli\n"
        "r = CliRunner().invoke(cli, ['complete', '--model', sys.argv[1], 'the quick br'])\n"
        "assert r.exit_code == 0 and r.output.startswith('own'), r.output\n"
        "r = CliRunner().invoke(cli, ['models', '--json'])\n"
        "assert r.exit_code == 0 and '\"name\": \"prose\"' in r.output, r.output\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tiny_checkpoints["attention"])], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_complete_unknown_model():
    one_line_error(run("complete", "--model", "no-such-model", "abc"))


def test_eval_table_and_json(tiny_checkpoints, tmp_path):
    f = tmp_path / "held-out.txt"
    f.write_text("the lazy dog sleeps while the quick brown fox runs.\n" * 5)
    args = ["eval", "--model", str(tiny_checkpoints["lstm"]), "--model", str(tiny_checkpoints["attention"]), str(f)]
    r = run(*args)
    assert r.exit_code == 0, r.output
    assert "keystroke savings" in r.output and "lstm" in r.output and "attention" in r.output
    r = run(*args, "--json", "--limit", "100")
    data = json.loads(r.output)
    assert [x["kind"] for x in data["results"]] == ["lstm", "attention"]
    assert data["results"][0]["chars"] == 100
    for x in data["results"]:
        assert 0 <= x["ksr"] <= 1 and x["bpc"] > 0 and x["latency_p50_ms"] > 0


def test_eval_bad_input(tiny_checkpoints, tmp_path):
    m = str(tiny_checkpoints["lstm"])
    one_line_error(run("eval", "--model", m, str(tmp_path / "missing.txt")))
    binary = tmp_path / "blob.bin"
    binary.write_bytes(b"abc\x00def" * 10)
    one_line_error(run("eval", "--model", m, str(binary)))
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\xe9".encode("latin-1"))
    one_line_error(run("eval", "--model", m, str(latin)))
    good = tmp_path / "good.txt"
    good.write_text("hello")
    one_line_error(run("eval", "--model", "no-such-model", str(good)))


def test_eval_on_a_folder_skips_what_is_not_text_and_says_so(tiny_checkpoints, tmp_path):
    """Files named are checked (test_eval_bad_input); files found in a folder are skipped and
    counted, as `train` does with its corpus: an image among the notes is no error."""
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.txt").write_text("the lazy dog sleeps while the quick brown fox runs.\n" * 3)
    (folder / "photo.png").write_bytes(b"\x89PNG\x00\x00" * 50)
    (folder / "old.txt").write_bytes("caf\xe9".encode("latin-1"))
    r = run("eval", "--model", str(tiny_checkpoints["lstm"]), str(folder), "--json")
    assert r.exit_code == 0, r.output
    assert r.stderr.strip() == "skipped: 1 binary, 1 not UTF-8"
    assert json.loads(r.stdout)["files"] == [str(folder / "a.txt")]
    (folder / "a.txt").unlink()
    r = run("eval", "--model", str(tiny_checkpoints["lstm"]), str(folder))
    one_line_error(r)
    assert f"nothing to evaluate: no text in {folder} (skipped: 1 binary, 1 not UTF-8)" in r.output
    (folder / "one.txt").write_text("a")  # nothing is predicted in one character: it reported bpc 0.0
    r = run("eval", "--model", str(tiny_checkpoints["lstm"]), str(folder / "one.txt"))
    one_line_error(r)
    assert "holds one character per text" in r.output


def test_eval_reports_precision_and_bpc_as_the_editor_runs(tiny_checkpoints, tmp_path):
    f = tmp_path / "held-out.txt"
    f.write_text("we met zorblax quint today. then zorblax quint left. zorblax quint said hi.\n" * 3)
    args = ["eval", "--model", str(tiny_checkpoints["attention"]), str(f), "--json"]
    on, off = json.loads(run(*args).output)["results"][0], json.loads(run(*args, "--no-adapt").output)["results"][0]
    assert on["adapting"] and not off["adapting"]
    assert on["precision"] == on["accepted"] / on["shown"] and 0 <= off["precision"] <= 1
    assert off["editor_bpc"] == pytest.approx(off["bpc"], abs=0.05)  # the network alone, stepped or batched
    assert on["editor_bpc"] < off["editor_bpc"]  # the repeated names are learned as the text is typed
    assert "precision" in run(*args[:-1]).output


def test_eval_defaults_to_the_model_edit_picks(tmp_path):
    """Without --model, eval measures what the editor would open the files with: the shipped
    prose model for notes, the code model for source files, both (each over every file) for a mix."""
    notes = tmp_path / "notes.txt"
    notes.write_text("The meeting moved to Thursday, and the notes of the meeting are below.\n")
    script = tmp_path / "tool.py"
    script.write_text("def main():\n    return 0\n")
    picked = lambda *paths: [x["model"] for x in json.loads(run("eval", *map(str, paths), "--json", "--limit", "200").output)["results"]]  # noqa: E731
    assert picked(notes) == ["prose"]
    assert picked(script) == ["code"]
    assert picked(notes, script) == ["prose", "code"]


def test_complete_alternatives_are_one_a_line(tiny_checkpoints, monkeypatch):
    """An alternative holding a line break (Python after a colon: "\\n    ") broke `-k`'s one
    alternative a line: escaped there, as it is in --json."""
    from charcomplete.completion import Completer, Suggestion

    alts = [Suggestion("\n    return", 0.5), Suggestion("\tx\\y", 0.25), Suggestion("pass", 0.125)]
    monkeypatch.setattr(Completer, "alternatives", lambda self, text, k=3, max_chars=None: alts[:k])
    r = run("complete", "--model", str(tiny_checkpoints["attention"]), "-k", "3", "def f():")
    assert r.exit_code == 0, r.output
    assert r.output.splitlines() == ["0.500\t\\n    return", "0.250\t\\tx\\\\y", "0.125\tpass"]
    r = run("complete", "--model", str(tiny_checkpoints["attention"]), "-k", "3", "--json", "def f():")
    assert [s["text"] for s in json.loads(r.output)["suggestions"]] == [a.text for a in alts]


def test_a_suggestion_holding_escape_codes_never_reaches_the_terminal(tiny_checkpoints, monkeypatch):
    """A model trained on a coloured log suggests `ESC[31m`: `complete` printed it raw (the terminal
    turned red; `ESC]0;…` retitles it), `-k` escaped only \\n, \\t and \\\\, `--json` left C1 codes raw."""
    from charcomplete.completion import Completer, Suggestion

    ghost = Suggestion("\x1b[31mALERT\x07\x9b", 0.5)
    monkeypatch.setattr(Completer, "suggest", lambda self, text, max_chars=None: ghost)
    monkeypatch.setattr(Completer, "alternatives", lambda self, text, k=3, max_chars=None: [ghost])
    m = str(tiny_checkpoints["attention"])
    assert run("complete", "--model", m, "red ").output == "\\x1b[31mALERT\\x07\\x9b\n"
    assert run("complete", "--model", m, "-k", "2", "red ").output == "0.500\t\\x1b[31mALERT\\x07\\x9b\n"
    out = run("complete", "--model", m, "--json", "-k", "2", "red \x9b").output
    assert not any(ord(ch) < 32 and ch != "\n" or 0x7F <= ord(ch) <= 0x9F for ch in out)
    assert json.loads(out)["suggestions"][0]["text"] == ghost.text
