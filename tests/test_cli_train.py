"""`charcomplete train` and `charcomplete models`: a real tiny run, bad input as one line,
Ctrl+C -> resume file + exit 130, `--resume` continues; `--help` does not import torch."""

from __future__ import annotations

import json
import os
import shutil
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from charcomplete.cli import cli

REPO = Path(__file__).resolve().parents[1]
TEXT = "the cat sat on the mat and the dog sat on the log.\n" * 40
TINY = ["--batch-size", "4", "--seq-len", "16", "--embed", "8", "--hidden", "16", "--window", "4",
        "--device", "cpu", "--threads", "1", "--eval-every", "5"]


@pytest.fixture
def corpus_dir(tmp_path) -> Path:
    d = tmp_path / "notes"
    d.mkdir()
    (d / "a.txt").write_text(TEXT)
    (d / "b.md").write_text(TEXT.upper())
    return d


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=True)


def assert_one_line_error(result, match: str):
    """Non-zero exit, a single `Error: ...` line, no traceback and no stray exception."""
    out = result.output
    assert result.exit_code not in (0, None), out
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in out
    errors = [ln for ln in out.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1, out
    assert re.search(match, errors[0], re.I), errors[0]
    return errors[0]


def subprocess_env(data_dir: Path) -> dict:
    env = dict(os.environ, CHARCOMPLETE_DATA_DIR=str(data_dir), OMP_NUM_THREADS="1", COLUMNS="200")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def test_train_a_few_steps_then_models_lists_it(corpus_dir, isolated_data_dir):
    r = run("train", "--model", "lstm", "--corpus", str(corpus_dir), "--epochs", "0.5", "--name", "tiny-cli", *TINY)
    assert r.exit_code == 0, r.output
    assert "corpus: 2 files" in r.output
    saved = isolated_data_dir / "models" / "tiny-cli.safetensors"
    assert saved.exists()
    assert re.search(r"saved .*tiny-cli\.safetensors\s+\(val [0-9.]+ bpc", r.output)

    listing = run("models", "--json")
    assert listing.exit_code == 0, listing.output
    rows = {row["name"]: row for row in json.loads(listing.output)}
    row = rows["tiny-cli"]
    assert row["source"] == "user" and row["kind"] == "lstm" and row["error"] is None
    assert isinstance(row["val_bpc"], float) and row["parameters"] > 0
    assert Path(row["path"]) == saved

    table = run("models")
    assert table.exit_code == 0
    assert "tiny-cli" in table.output and "lstm" in table.output

    # the same name again needs --force; with it, the model is replaced
    again = run("train", "--model", "lstm", "--corpus", str(corpus_dir), "--epochs", "0.2", "--name", "tiny-cli", *TINY)
    assert_one_line_error(again, "exists.*--force")
    forced = run("train", "--model", "attention", "--corpus", str(corpus_dir), "--epochs", "0.2", "--name", "tiny-cli",
                 "--force", *TINY)
    assert forced.exit_code == 0, forced.output
    rows = {row["name"]: row for row in json.loads(run("models", "--json").output)}
    assert rows["tiny-cli"]["kind"] == "attention"


def test_the_progress_line_fits_an_80_column_terminal(corpus_dir, isolated_data_dir, monkeypatch):
    """Its bar, percentage, step, losses and ETA whole, nothing cut with an ellipsis (it was: the bar
    two cells wide, the time so far and the ETA cut to "0:0…")."""
    monkeypatch.setenv("COLUMNS", "80")
    r = run("train", "--model", "attention", "--from-scratch", "--corpus", str(corpus_dir), "--epochs", "0.5",
            "--name", "tiny-bar", *TINY)
    assert r.exit_code == 0, r.output
    line = next(ln for ln in r.output.splitlines() if ln.startswith("attention "))
    assert len(line) <= 80 and "…" not in line, line
    assert re.fullmatch(r"attention ━{12} 100% step \d+( · loss [0-9.]+)? · val [0-9.]+ bpc ETA 0:00:00", line), line


def test_out_path_and_init_fine_tuning(corpus_dir, tmp_path):
    out = tmp_path / "models" / "base"  # the suffix is added
    r = run("train", "--model", "lstm", "--corpus", str(corpus_dir), "--epochs", "0.3", "--out", str(out), *TINY)
    assert r.exit_code == 0, r.output
    base = out.with_name("base.safetensors")
    assert base.exists()
    new = tmp_path / "new.txt"
    new.write_text("a brand new text with new characters: XYZ!\n" * 30)
    tuned = tmp_path / "tuned.safetensors"
    r = run("train", "--corpus", str(new), "--epochs", "0.3", "--init", str(base), "--out", str(tuned), *TINY)
    assert r.exit_code == 0, r.output
    from charcomplete.checkpoint import load_checkpoint

    _, meta_base, vocab_base = load_checkpoint(base)
    _, meta_tuned, vocab_tuned = load_checkpoint(tuned)
    assert vocab_tuned == vocab_base  # the vocabulary is kept: new characters are <unk>
    assert meta_tuned.config == meta_base.config and meta_tuned.config["kind"] == "lstm"
    assert "new.txt" in meta_tuned.corpus["paths"]


def _bad_inputs(tmp_path: Path, corpus_dir: Path) -> dict[str, tuple[list[str], str]]:
    empty = tmp_path / "empty"
    empty.mkdir()
    binary = tmp_path / "binary"
    binary.mkdir()
    (binary / "x.bin").write_bytes(b"\x00\x01\x02\x03" * 100)
    (binary / "y.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" * 50)
    latin = tmp_path / "latin"
    latin.mkdir()
    (latin / "l.txt").write_bytes("caf\xe9\n".encode("latin-1") * 50)
    small = tmp_path / "small.txt"
    small.write_text("short")  # fewer than 2 characters per stream of --batch-size 4
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    c = str(corpus_dir)
    return {
        "missing path": (["--corpus", str(tmp_path / "nope")], "not found"),
        "glob matching nothing": (["--corpus", str(tmp_path / "*.nothing")], "no files match"),
        "no corpus": ([], "no corpus"),
        "empty corpus": (["--corpus", str(empty)], "no text files"),
        "only binary files": (["--corpus", str(binary)], r"no text files.*2 binary"),
        "only non-utf8 files": (["--corpus", str(latin)], r"no text files.*not UTF-8"),
        "text shorter than a batch": (["--corpus", str(small)], "shorter than one batch"),
        "epochs 0": (["--corpus", c, "--epochs", "0"], "epochs"),
        "epochs inf": (["--corpus", c, "--epochs", "inf"], "epochs"),
        "max-minutes negative": (["--corpus", c, "--max-minutes", "-1"], "max-minutes"),
        "lr 0": (["--corpus", c, "--lr", "0"], "lr"),
        "hidden 0": (["--corpus", c, "--hidden", "0"], "hidden"),
        "val-fraction 1": (["--corpus", c, "--val-fraction", "1"], "--val-fraction.*not in the range"),
        "unwritable --out": (["--corpus", c, "--out", str(a_file / "m.safetensors")], "cannot write"),
        "--name and --out": (["--corpus", c, "--name", "x", "--out", str(tmp_path / "x.safetensors")], "not both"),
        "bad --name": (["--corpus", c, "--name", "../escape"], "bad model name"),
        "unknown --init": (["--corpus", c, "--init", "no-such-model"], "unknown model"),
        "--init not a checkpoint": (["--corpus", c, "--init", str(small)], "not a|truncated"),
        "missing --resume": (["--corpus", c, "--resume", str(tmp_path / "gone.resume.safetensors")], "no resume file"),
        "--resume a finished model": (["--corpus", c, "--resume", str(small)], "no resume file .* --init "),
        "cuda on this machine": (["--corpus", c, "--device", "cuda"], "not available"),
    }


BAD = ["missing path", "glob matching nothing", "no corpus", "empty corpus", "only binary files", "only non-utf8 files",
       "text shorter than a batch", "epochs 0", "epochs inf", "max-minutes negative", "lr 0", "hidden 0",
       "val-fraction 1", "unwritable --out", "--name and --out", "bad --name", "unknown --init",
       "--init not a checkpoint", "missing --resume", "--resume a finished model", "cuda on this machine"]


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_one_line_and_a_non_zero_exit(case, tmp_path, corpus_dir, isolated_data_dir):
    if case == "cuda on this machine":
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
    args, match = _bad_inputs(tmp_path, corpus_dir)[case]
    r = run("train", "--model", "lstm", *TINY, *args)  # the case's options come last and win
    assert_one_line_error(r, match)
    assert not list(isolated_data_dir.rglob("*.safetensors"))  # nothing was written


@pytest.mark.parametrize("case", ["missing path", "max-minutes negative", "lr 0", "unwritable --out"])
def test_bad_input_to_a_default_fine_tune_is_the_only_line(case, tmp_path, corpus_dir, isolated_data_dir):
    """Without a model size, train fine-tunes the shipped model and says so, but only once the
    options and the corpus are good: it said "fine-tuning prose" before the error line."""
    args, match = _bad_inputs(tmp_path, corpus_dir)[case]
    r = run("train", *args)
    assert_one_line_error(r, match)
    assert r.output.strip().splitlines()[0].startswith("Error:"), r.output


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_out_folder(tmp_path, corpus_dir):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        assert_one_line_error(run("train", "--corpus", str(corpus_dir), "--out", str(ro / "m.safetensors"), *TINY), "cannot write")
    finally:
        ro.chmod(0o700)


def test_a_failed_run_leaves_no_out_folder_it_made(tmp_path, corpus_dir):
    """`--out new/dir/m.safetensors` made new/dir before training; a run that then failed (here:
    a corpus with no text) left the empty folders behind. One that saves keeps them."""
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "kept").mkdir()
    r = run("train", "--model", "lstm", "--corpus", str(empty), "--out", str(tmp_path / "kept" / "new" / "dir" / "m.safetensors"), *TINY)
    assert r.exit_code != 0 and "Traceback" not in r.output
    assert list((tmp_path / "kept").iterdir()) == []  # new/dir removed, the folder that was there stays
    out = tmp_path / "kept" / "new" / "dir" / "m.safetensors"
    r = run("train", "--model", "lstm", "--corpus", str(corpus_dir), "--out", str(out), "--epochs", "0.2", *TINY)
    assert r.exit_code == 0, r.output
    assert out.is_file()


BAD_OPTIONS = [["--device", "tpu"], ["--epochs", "many"], ["--threads", "-1"], ["--threads", "0"], ["--window", "-3"],
               ["--hidden", "0"], ["--batch-size", "0"], ["--name", ""], ["--seed", "100000000000000000000"], ["--seed", "-1"],
               ["--val-fraction", "0"], ["--val-fraction", "1"]]  # the last two: "val_fraction must be between 0 and 1"
TRAIN_ONLY = [["--model", "gru"], ["--dropout", "-1"], ["--dropout", "1"], ["--resume", ""], ["--init", ""], ["--out", ""]]


@pytest.mark.parametrize("command, args", [("train", a) for a in BAD_OPTIONS + TRAIN_ONLY] + [("compare", a) for a in BAD_OPTIONS])
def test_bad_option_values_are_usage_errors(command, args, corpus_dir):
    r = run(command, "--corpus", str(corpus_dir), *args)  # --threads -1 was a RuntimeError traceback from torch
    assert r.exit_code == 2
    assert_one_line_error(r, "invalid value")


@pytest.mark.parametrize("command", [["prepare", "-o", "prepared"], ["memory", "lstm", "--out", "m.safetensors", "--corpus"]])
def test_val_fraction_is_a_range_everywhere(command, corpus_dir, tmp_path):
    r = run(*command[:1], *[str(tmp_path / a) if a in ("prepared", "m.safetensors") else a for a in command[1:]], str(corpus_dir),
            "--val-fraction", "0")
    assert r.exit_code == 2
    assert_one_line_error(r, "'--val-fraction': 0.0 is not in the range 0<x<1")


def test_models_with_nothing_trained_and_with_an_unreadable_file(isolated_data_dir, monkeypatch, tmp_path):
    import charcomplete.registry as ck

    monkeypatch.setattr(ck, "shipped_dir", lambda: tmp_path / "no-shipped")
    r = run("models")
    assert r.exit_code == 0 and "No models yet" in r.output
    folder = isolated_data_dir / "models"
    folder.mkdir(parents=True)
    (folder / "broken.safetensors").write_bytes(b"garbage!" * 4)
    r = run("models", "--json")
    assert r.exit_code == 0
    (row,) = json.loads(r.output)
    assert row["name"] == "broken" and row["error"]
    r = run("models")
    assert r.exit_code == 0 and "broken" in r.output and "unreadable" in r.output


def test_models_keeps_one_line_per_model_in_a_narrow_terminal(corpus_dir, isolated_data_dir):
    name = "a-rather-long-model-name-for-my-notes"
    r = run("train", "--model", "lstm", "--corpus", str(corpus_dir), "--epochs", "0.2", "--name", name, *TINY)
    assert r.exit_code == 0, r.output
    for width in (80, 400):  # 400: room for the paths whatever pytest's temporary folder is called (200 was not, once)
        table = CliRunner().invoke(cli, ["models"], env={"COLUMNS": str(width)})
        assert table.exit_code == 0
        lines = [ln for ln in table.output.splitlines() if name in ln]
        assert len(lines) == 1 and "lstm" in lines[0] and "user" in lines[0], table.output
        assert max(len(ln) for ln in table.output.splitlines()) <= width
        assert (str(isolated_data_dir) in table.output) == (width == 400), table.output


@pytest.mark.parametrize("args", [["--help"], ["train", "--help"]])
def test_help_does_not_import_torch(tmp_path, args):
    p = subprocess.run([sys.executable, "-X", "importtime", "-m", "charcomplete", *args], capture_output=True, text=True,
                       env=subprocess_env(tmp_path), cwd=tmp_path, timeout=120)
    assert p.returncode == 0, p.stderr
    assert ("models" if args == ["--help"] else "--resume") in p.stdout
    imported = [ln.rsplit("|", 1)[-1].strip() for ln in p.stderr.splitlines() if ln.startswith("import time:")]
    assert "charcomplete.cli" in imported  # the check below looks at a real list
    heavy = [m for m in imported if m.split(".")[0] in ("torch", "numpy", "textual", "safetensors")]
    assert not heavy, heavy


def _read_until(stream, pattern: str, deadline: float, seen: list[str]) -> re.Match | None:
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            return None
        seen.append(line)
        m = re.search(pattern, line)
        if m:
            return m
    return None


def test_ctrl_c_writes_a_resume_file_exits_130_and_resume_continues(corpus_dir, tmp_path, isolated_data_dir):
    from charcomplete.corpus import load_corpus, steps_per_epoch

    args = ["train", "--model", "attention", "--corpus", str(corpus_dir), "--name", "sig", *TINY]
    proc = subprocess.Popen([sys.executable, "-m", "charcomplete", *args, "--epochs", "500"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=subprocess_env(isolated_data_dir), cwd=tmp_path)
    seen: list[str] = []
    try:
        # an eval line means the loop runs (and the Ctrl+C handler is installed)
        assert _read_until(proc.stderr, r"^step\s+\d+\s+epoch", time.monotonic() + 120, seen), "".join(seen)
        proc.send_signal(signal.SIGINT)
        rest_err = proc.stderr.read()
        out = proc.stdout.read()
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = "".join(seen) + rest_err
    assert rc == 130, err
    assert "Traceback" not in err + out
    lines = [ln for ln in err.splitlines() if ln.startswith("Interrupted")]
    assert len(lines) == 1, err
    m = re.search(r"Interrupted at step (\d+): resume with .*--resume (\S+)$", lines[0])
    assert m, lines[0]
    stopped, resume_file = int(m.group(1)), Path(m.group(2))
    assert resume_file == isolated_data_dir / "models" / "sig.resume.safetensors" and resume_file.exists()
    assert stopped >= 5

    # --resume with --out naming another existing file: kept unless --force (it was replaced silently)
    spe = steps_per_epoch(len(load_corpus([str(corpus_dir)]).train), 4, 16)
    epochs = (stopped + 7 - 0.5) / spe
    precious = tmp_path / "precious.safetensors"
    precious.write_bytes(b"someone's model")
    r = run("train", "--model", "attention", "--corpus", str(corpus_dir), *TINY, "--epochs", repr(epochs),
            "--resume", str(resume_file), "--out", str(precious))
    assert_one_line_error(r, "precious.safetensors exists; use --force")
    assert precious.read_bytes() == b"someone's model" and resume_file.exists()
    # another --batch-size cannot continue the run's streams: one line (a torch RuntimeError traceback)
    tiny_b3 = [*TINY[:1], "3", *TINY[2:]]
    r = run("train", "--model", "attention", "--corpus", str(corpus_dir), "--name", "sig", *tiny_b3, "--epochs", repr(epochs),
            "--resume", str(resume_file))
    assert_one_line_error(r, "--batch-size 3 differs from the run being resumed \\(4\\); resume with --batch-size 4")
    assert resume_file.exists()

    # --resume continues from the step it stopped at (here up to 7 steps further)
    r = run(*args, "--epochs", repr(epochs), "--resume", str(resume_file))
    assert r.exit_code == 0, r.output
    assert re.search(rf"saved .*sig\.safetensors .*\b{stopped + 7} steps", r.output), r.output
    assert not resume_file.exists()  # finished: a later --resume cannot restart the old state
    from charcomplete.checkpoint import load_checkpoint

    _, meta, _ = load_checkpoint(isolated_data_dir / "models" / "sig.safetensors")
    assert meta.metrics["steps"] <= stopped + 7 and meta.config["kind"] == "attention"


def test_ctrl_c_after_the_model_is_saved_says_so_and_what_was_left_undone(corpus_dir, tmp_path, isolated_data_dir, monkeypatch):
    """Ctrl+C while the corpus memory was built (minutes on a large corpus) ended in click's bare
    "Aborted!", exit 1, although the model was saved; one that came as the last step ended was
    ignored: the memory and the comparison ran on."""
    import charcomplete.jobs as jobs
    import charcomplete.trainer as trainer

    out = tmp_path / "m.safetensors"
    args = ["train", "--from-scratch", "--model", "lstm", "--corpus", str(corpus_dir), "--out", str(out), *TINY, "--epochs", "0.05"]

    def building(*a, **k):
        raise KeyboardInterrupt  # Ctrl+C while the memory is built

    with monkeypatch.context() as m:
        m.setattr(jobs, "give_memory", building)
        r = run(*args)
    assert r.exit_code == 130 and "Traceback" not in r.output and "Aborted" not in r.output, r.output
    assert f"Interrupted: the model is saved in {out} without its corpus memory; build it with  charcomplete memory {out} --corpus" in r.output
    from charcomplete.checkpoint import load_checkpoint

    assert load_checkpoint(out)  # whole

    real = trainer.train

    def last_step_then_ctrl_c(*a, **k):
        result = real(*a, **k)
        os.kill(os.getpid(), signal.SIGINT)  # the handler is still ours: it only asks to stop
        return result

    with monkeypatch.context() as m:
        m.setattr(trainer, "train", last_step_then_ctrl_c)
        r = run(*args, "--force")
    assert r.exit_code == 130 and f"Interrupted: the model is saved in {out} without its corpus memory" in r.output, r.output
    assert "held-out tail" not in r.output


def test_train_fine_tunes_the_shipped_model_by_default_and_compares_on_the_tail(corpus_dir, tmp_path, isolated_data_dir):
    from charcomplete.completion import load_completer
    from charcomplete.registry import model_for_file, resolve_model

    out = tmp_path / "tuned.safetensors"
    r = run("train", "--corpus", str(corpus_dir), "--batch-size", "4", "--seq-len", "16", "--epochs", "0.05", "--out", str(out),
            "--no-memory", "--device", "cpu")
    assert r.exit_code == 0, r.output
    base = model_for_file(str(corpus_dir))
    assert f"fine-tuning {base}" in r.output and "held-out tail:" in r.output
    assert r.output.count("precision") == 2  # the new model's and the one it started from
    shipped = load_completer(resolve_model(base), memory=False)
    tuned = load_completer(out, memory=False)
    assert tuned.vocab == shipped.vocab and tuned.model.cfg.hidden == shipped.model.cfg.hidden  # its sizes, not the defaults'
    assert_one_line_error(run("train", "--corpus", str(corpus_dir), "--init", base, "--from-scratch"), "not both")


def test_text_in_another_alphabet_trains_a_new_model_instead(tmp_path, isolated_data_dir):
    from charcomplete.completion import load_completer

    notes = tmp_path / "notes.txt"
    notes.write_text("съешь же ещё этих мягких французских булок, да выпей чаю.\n" * 60)
    out = tmp_path / "ru.safetensors"
    r = run("train", "--corpus", str(notes), "--batch-size", "4", "--seq-len", "16", "--epochs", "0.05", "--out", str(out),
            "--no-memory", "--device", "cpu")
    assert r.exit_code == 0, r.output
    assert "training a new model instead" in r.output
    assert "is outside prose's characters" in r.output  # the model's name, not its path
    assert "ъ" in load_completer(out, memory=False).vocab.chars


def test_sigterm_is_treated_like_ctrl_c_resume_file_and_exit_143(corpus_dir, tmp_path, isolated_data_dir):
    """Issue 15 item 3: batch schedulers, systemd and `timeout` stop with SIGTERM; it used to lose the run."""
    args = ["train", "--model", "lstm", "--corpus", str(corpus_dir), "--name", "term", *TINY, "--epochs", "500"]
    proc = subprocess.Popen([sys.executable, "-m", "charcomplete", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=subprocess_env(isolated_data_dir), cwd=tmp_path)
    seen: list[str] = []
    try:
        assert _read_until(proc.stderr, r"^step\s+\d+\s+epoch", time.monotonic() + 120, seen), "".join(seen)
        proc.send_signal(signal.SIGTERM)
        err = "".join(seen) + proc.stderr.read()
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rc == 143, err
    assert "Traceback" not in err and re.search(r"Interrupted at step \d+: resume with", err)
    assert (isolated_data_dir / "models" / "term.resume.safetensors").exists()


def test_a_model_named_like_a_shipped_one_is_compared_with_it_and_says_it_hides_it(corpus_dir, isolated_data_dir):
    """`train --name prose` once compared the new model with itself (the name resolved after saving)
    and built a tiny memory of the notes instead of keeping the shipped one's; now the model it
    starts from is taken by its path before training, and the shadowing is said, not silent."""
    from charcomplete.memory_pack import memory_file
    from charcomplete.registry import model_for_file, resolve_model, shipped_dir

    base = model_for_file(str(corpus_dir))
    shipped = shipped_dir() / f"{base}.safetensors"
    args = ["train", "--corpus", str(corpus_dir), "--batch-size", "4", "--seq-len", "16", "--epochs", "0.05", "--device", "cpu",
            "--name", base]
    r = run(*args)
    assert r.exit_code == 0, r.output
    tail = [ln for ln in r.output.splitlines() if ln.startswith("held-out tail:")]
    assert len(tail) == 1 and tail[0].endswith(")") and f"({base}: " in tail[0]
    new, old = tail[0].split(f"({base}: ")
    assert new.split("held-out tail: ")[1].strip() != old.rstrip(")")  # not the new model against itself
    assert "hides the shipped one" in r.output
    mine = resolve_model(base)
    assert mine != shipped and mine.is_file()
    assert memory_file(mine).stat().st_size == memory_file(shipped).stat().st_size  # the shipped model's memory, kept
    listed = {row["name"]: row for row in json.loads(run("models", "--json").output)}
    assert listed[base]["source"] == "user" and listed[base]["hides_shipped"] == str(shipped)
    assert f"Your {base} hides the shipped {base}" in run("models").output
    # again, in place: the model it starts from is scored before its file is replaced
    first = new.split("held-out tail: ")[1].strip()
    r = run(*args, "--init", base, "--force")
    assert r.exit_code == 0, r.output
    tail = [ln for ln in r.output.splitlines() if ln.startswith("held-out tail:")]
    assert tail[0].endswith(f"({base}: {first})")


def test_a_folder_of_python_fine_tunes_the_code_model(tmp_path, isolated_data_dir):
    """The default model to fine-tune was chosen by the first --corpus path's own suffix: a folder
    (no suffix) of Python got the prose model. It goes by the files' kinds now (by their bytes)."""
    from charcomplete.registry import model_for_corpus

    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "core.py").write_text("def add(a, b):\n    return a + b\n\n\n" * 40)
    (src / "README.md").write_text("A small package.\n")
    assert model_for_corpus([str(src)]) == "code"
    assert model_for_corpus([str(src / "README.md")]) == "prose"
    assert model_for_corpus([str(tmp_path / "nothere")]) == "prose"  # named wrongly: reading it says so
    r = run("train", "--corpus", str(src), "--batch-size", "4", "--seq-len", "16", "--epochs", "0.05",
            "--out", str(tmp_path / "tuned.safetensors"), "--no-memory", "--device", "cpu")
    assert r.exit_code == 0, r.output
    assert "fine-tuning code" in r.output


def test_the_data_dir_is_created_private(corpus_dir, tmp_path, monkeypatch):
    """It holds what you typed, recovery copies of your files and models trained on your text
    (their memories keep its n-grams): created 0755, other users of the machine could read them."""
    for i, args in enumerate([("forget",), ("train", "--model", "lstm", "--corpus", str(corpus_dir), "--epochs", "0.2",
                                            "--name", "mine", "--no-memory", *TINY)]):
        data = tmp_path / f"fresh-{i}" / "charcomplete"
        monkeypatch.setenv("CHARCOMPLETE_DATA_DIR", str(data))
        r = run(*args)
        assert r.exit_code == 0, r.output
        assert data.stat().st_mode & 0o777 == 0o700, oct(data.stat().st_mode)
    assert (data / "models" / "mine.safetensors").exists()


def test_a_model_name_with_control_characters_is_refused(corpus_dir, isolated_data_dir):
    """It would be drawn raw by `models` and the editor's palette (ESC starts an escape sequence)."""
    r = run("train", "--corpus", str(corpus_dir), "--name", "a\x1b[31mb", *TINY)
    assert_one_line_error(r, "bad model name")
    assert not (isolated_data_dir / "models").exists() or not any((isolated_data_dir / "models").iterdir())


def test_an_out_name_too_long_for_the_files_beside_it_is_refused_first(corpus_dir, tmp_path):
    """`--out` of 240 characters + .safetensors fits, its NAME.resume.safetensors and
    NAME.memory.safetensors do not: training ran, then ended in an OSError traceback."""
    out = tmp_path / ("n" * 240 + ".safetensors")
    r = run("train", "--model", "lstm", "--corpus", str(corpus_dir), "--out", str(out), "--epochs", "0.2", *TINY)
    assert_one_line_error(r, "name too long for the files beside it")
    assert "train lstm" not in r.output and not out.exists()  # refused before training


def test_a_memory_beside_a_checkpoint_with_a_long_name(corpus_dir, tmp_path, tiny_checkpoints):
    """A checkpoint name of 236 characters: NAME.memory.safetensors fits (255 bytes), the memory
    writer's temp file (".NAME.memory.safetensors.PID.tmp") did not: OSError traceback."""
    out = tmp_path / ("L" * 236 + ".safetensors")
    shutil.copy(tiny_checkpoints["lstm"], out)
    r = run("memory", str(out), "--corpus", str(corpus_dir))
    assert r.exit_code == 0, r.output
    assert (tmp_path / ("L" * 236 + ".memory.safetensors")).is_file()


def test_an_out_that_is_a_fifo_a_link_to_one_or_a_link_into_a_missing_folder_is_refused_first(corpus_dir, tmp_path):
    """`--out m.safetensors --force` where m is a link to a FIFO (or, as root, to /dev/zero): the
    FIFO (the device) was replaced by the checkpoint; a link into a missing folder failed only
    after training."""
    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)
    (tmp_path / "m.safetensors").symlink_to(fifo)
    (tmp_path / "d.safetensors").symlink_to(tmp_path / "missing" / "x.safetensors")
    bare = tmp_path / "pipe"  # no suffix: it became pipe.safetensors beside it, as /dev/null became /dev/null.safetensors
    os.mkfifo(bare)
    for out, said in [(fifo, "not a regular file"), (tmp_path / "m.safetensors", "not a regular file"), (bare, "not a regular file"),
                      (tmp_path / "d.safetensors", "symlink into a missing folder")]:
        r = run("train", "--model", "lstm", "--corpus", str(corpus_dir), "--out", str(out), "--force", "--epochs", "0.2", *TINY)
        assert_one_line_error(r, said)
        assert "train lstm" not in r.output  # refused before training
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and not (tmp_path / "missing").exists()
    assert not (tmp_path / "pipe.safetensors.safetensors").exists()


def test_the_writers_beside_the_editor_never_replace_a_fifo_or_device(tmp_path):
    """fileio.atomic_write (checkpoints, memories, the history, resume files) refuses a FIFO, also
    through a link; only the editor's save, once the user said so, replaces one."""
    from charcomplete.fileio import atomic_write

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    (tmp_path / "link").symlink_to(fifo)
    for path in (fifo, tmp_path / "link"):
        with pytest.raises(OSError, match="not a regular file"):
            atomic_write(path, b"data")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    atomic_write(tmp_path / "link", b"data", replace_special=True)
    assert fifo.read_bytes() == b"data"
