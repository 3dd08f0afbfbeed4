"""Under attack, third part (issue 15, items 13, 17, 18): checkpoints claiming sizes that overflow,
messages that were wrong or unclear, stale temp files of killed saves.

Everything is CPU-only and bounded by timeouts; the subprocesses are the real CLI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_cli_train import assert_one_line_error, subprocess_env
from test_faults import invoke

from charcomplete.checkpoint import load_checkpoint, read_safetensors, write_safetensors
from charcomplete.errors import CheckpointError

TEXT = "the cat sat on the mat and the dog sat on the log.\n" * 40


def _cli(data_dir: Path, *args, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "charcomplete", *map(str, args)], check=False, env=subprocess_env(data_dir),
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


# --- item 13: a config whose sizes overflow a tensor's storage ---------------------------------


@pytest.mark.parametrize("field, value", [("hidden", 10**9), ("hidden", 10**30), ("embed", 2**62)])
def test_a_checkpoint_claiming_an_overflowing_size_is_one_line(tmp_path, tiny_checkpoints, isolated_data_dir, field, value):
    """`hidden: 10**9` ended in `RuntimeError: Storage size calculation overflowed`, 10**30 and
    `embed: 2**62` in `OverflowError` (complete, edit, train --init): config.LIMITS refuses them
    before anything is built."""
    tensors, md = read_safetensors(tiny_checkpoints["lstm"])
    md["config"] = json.dumps(dict(json.loads(md["config"]), **{field: value}))
    p = tmp_path / f"{field}-{len(str(value))}.safetensors"
    write_safetensors(p, tensors, md)
    with pytest.raises(CheckpointError, match="largest supported"):
        load_checkpoint(p)

    line = assert_one_line_error(invoke("complete", "--model", p, "x"), "largest supported")
    assert p.name in line and str(value) in line
    corpus = tmp_path / "notes.txt"
    corpus.write_text(TEXT)
    out = tmp_path / "out.safetensors"
    r = invoke("train", "--init", p, "--corpus", corpus, "--out", out, "--device", "cpu", "--threads", "1")
    assert p.name in assert_one_line_error(r, "largest supported")
    assert not out.exists()

    doc = tmp_path / "doc.txt"
    doc.write_text(TEXT)
    r = _cli(isolated_data_dir, "edit", doc, "--model", p, "--device", "cpu")  # the header is checked before the UI starts
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert len(r.stderr.strip().splitlines()) == 1 and p.name in r.stderr and "largest supported" in r.stderr, r.stderr
    assert doc.read_text() == TEXT
