"""Under attack, second part (issue 15, items 4, 10, 16, 5, 1, 11): a full disk while training,
huge or degenerate files read before any check, tab indentation, typed format characters, the
terminal closed while the editor is busy, a line that grows past the soft-wrap limit.

Every test failed before its fix. Faults are simulated (ENOSPC from the checkpoint write, small
sparse files for huge ones); everything is CPU-only and bounded by timeouts.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from charcomplete import checkpoint
from test_cli_train import TINY, assert_one_line_error, run

REPO = Path(__file__).resolve().parents[1]
TEXT = "the cat sat on the mat and the dog sat on the log.\n" * 40


# --- item 4: training on a full disk -----------------------------------------------------------


def _full_disk_in(folder: Path, monkeypatch):
    """Every checkpoint or resume file written into `folder` fails with ENOSPC (the disk is full)."""
    real = checkpoint.atomic_write

    def atomic_write(path, data, *a, **k):
        if Path(os.path.abspath(path)).parent == folder:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(path, data, *a, **k)

    monkeypatch.setattr(checkpoint, "atomic_write", atomic_write)


def test_train_out_on_a_full_disk_is_one_line_and_keeps_the_run_in_the_data_dir(tmp_path, isolated_data_dir, monkeypatch):
    corpus = tmp_path / "notes.txt"
    corpus.write_text(TEXT)
    full = tmp_path / "full"
    full.mkdir()
    out = full / "m.safetensors"
    _full_disk_in(full, monkeypatch)
    r = run("train", "--model", "lstm", "--corpus", str(corpus), "--out", str(out), "--epochs", "0.5", *TINY)
    line = assert_one_line_error(r, r"cannot write the checkpoint .*m\.safetensors \(No space left on device\)")
    assert "--resume" in line, line
    kept = Path(line.split("--resume ", 1)[1].strip())
    assert kept.parent == isolated_data_dir / "rescued" and kept.exists()
    assert not out.exists()

    monkeypatch.undo()  # space again: the run continues from the kept state and writes its checkpoint
    r = run("train", "--model", "lstm", "--corpus", str(corpus), "--epochs", "0.5", "--resume", str(kept), *TINY)
    assert r.exit_code == 0, r.output
    assert out.exists() and not kept.exists()


def test_train_on_a_full_disk_everywhere_says_the_state_is_lost(tmp_path, isolated_data_dir, monkeypatch):
    corpus = tmp_path / "notes.txt"
    corpus.write_text(TEXT)
    out = tmp_path / "m.safetensors"

    def no_space(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(checkpoint, "atomic_write", no_space)
    r = run("train", "--model", "lstm", "--corpus", str(corpus), "--out", str(out), "--epochs", "0.5", *TINY)
    assert_one_line_error(r, r"No space left on device.*could not be saved either.*lost after \d+ steps")
