"""`charcomplete prepare` and `train --data`: the memory-mapped corpus is exactly the text
corpus (vocabulary, split, batches, trained weights), training reads only its batches, and
bad input is one line."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from charcomplete import prepare as prep
from charcomplete.checkpoint import load_checkpoint
from charcomplete.cli import cli
from charcomplete.corpus import CorpusError, as_streams, load_corpus, steps_per_epoch
from charcomplete.models import ModelConfig
from charcomplete.prepare import load_prepared, prepare_corpus
from charcomplete.trainer import TrainConfig, train

torch.set_num_threads(1)


@pytest.fixture
def mixed_corpus(tmp_path):
    """Text with CRLF, non-BMP characters and a nested folder, plus a binary and a Latin-1 file."""
    d = tmp_path / "mixed"
    (d / "sub").mkdir(parents=True)
    (d / "a.txt").write_bytes(("line one\r\nline two 😀 naïve\r\n" * 200).encode())
    (d / "sub" / "b.md").write_text("# Title\n\nsome *markdown* text, ünïcödé.\n" * 150)
    (d / "sub" / "c.txt").write_text("x")  # too short to hold back a tail
    (d / "image.bin").write_bytes(b"\x89PNG\x00\x00data")
    (d / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    return d


def test_prepared_corpus_is_the_text_corpus(mixed_corpus, tmp_path, monkeypatch):
    monkeypatch.setattr(prep, "SLICE_CHARS", 97)  # many slices, boundaries anywhere
    got = prepare_corpus([str(mixed_corpus)], tmp_path / "p", val_fraction=0.1)
    want = load_corpus([str(mixed_corpus)], val_fraction=0.1)
    assert got.vocab == want.vocab
    assert isinstance(got.train, np.memmap) and got.train.dtype == np.uint8
    np.testing.assert_array_equal(got.train, want.train)
    np.testing.assert_array_equal(got.val, want.val)
    assert got.files.summary() == want.files.summary()  # 3 files (skipped: 1 binary, 1 not UTF-8)
    assert [s["path"] for s in got.files.spans] == [d.path for d in want.files.documents]
    again = load_prepared(tmp_path / "p")
    np.testing.assert_array_equal(again.train, want.train)
    assert again.summary() == got.summary()


def test_a_large_vocabulary_is_stored_as_uint16(tmp_path):
    d = tmp_path / "cjk"
    d.mkdir()
    (d / "a.txt").write_text("".join(chr(0x4E00 + i) for i in range(400)) * 3)
    got = prepare_corpus([str(d)], tmp_path / "p")
    assert got.train.dtype == np.uint16 and len(got.vocab) == 401
    np.testing.assert_array_equal(got.train, load_corpus([str(d)]).train)


def _cfg(corpus, steps=6) -> TrainConfig:
    spe = steps_per_epoch(len(corpus.train), 4, 16)
    return TrainConfig(epochs=steps / spe, batch_size=4, seq_len=16, lr=1e-2, eval_every=3, seed=0, device="cpu")


def test_training_from_the_memmap_gives_the_same_batches_and_weights(mixed_corpus, tmp_path):
    mapped = prepare_corpus([str(mixed_corpus)], tmp_path / "p")
    text = load_corpus([str(mixed_corpus)])
    np.testing.assert_array_equal(as_streams(mapped.train, 4), as_streams(text.train, 4))  # every batch is a slice of these
    mcfg = dict(kind="attention", embed=8, hidden=16, window=4)
    a = train(ModelConfig(**mcfg), _cfg(mapped), mapped, tmp_path / "mapped.safetensors")
    b = train(ModelConfig(**mcfg), _cfg(text), text, tmp_path / "text.safetensors")
    assert a.history == [{**h, "elapsed": a.history[i]["elapsed"]} for i, h in enumerate(b.history)]
    wa, wb = load_file(tmp_path / "mapped.safetensors"), load_file(tmp_path / "text.safetensors")
    assert all(torch.equal(wa[k], wb[k]) for k in wb)  # the same computation: bit for bit


def test_training_from_the_memmap_reads_only_its_batches(tmp_path):
    d = tmp_path / "big"
    d.mkdir()
    rng = np.random.default_rng(0)
    (d / "a.txt").write_text("".join(rng.choice(list("abcdefgh \n"), size=2_000_000)))
    corpus = prepare_corpus([str(d)], tmp_path / "p")
    tracemalloc.start()  # numpy's allocations are traced: a copy of the streams as int64 would be 16 MB
    try:
        train(ModelConfig(kind="lstm", embed=8, hidden=16), _cfg(corpus, steps=3), corpus, tmp_path / "m.safetensors")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4_000_000, peak  # the validation ids (262,144 as int64: 2 MB) and a batch, not the training text


def test_cli_prepare_then_train_data(mixed_corpus, tmp_path):
    r = CliRunner().invoke(cli, ["prepare", str(mixed_corpus), "-o", str(tmp_path / "p")])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("prepared") and "train --data" in r.output  # piped: no bar, no blank line left by it
    out = tmp_path / "m.safetensors"
    r = CliRunner().invoke(cli, ["train", "--data", str(tmp_path / "p"), "--model", "lstm", "--batch-size", "4", "--seq-len", "16",
                                 "--embed", "8", "--hidden", "16", "--epochs", "0.05", "--device", "cpu", "--out", str(out)])
    assert r.exit_code == 0, r.output
    _, meta, vocab = load_checkpoint(out)
    assert vocab == load_prepared(tmp_path / "p").vocab and "prepared in" in meta.corpus["paths"]


def _one_line_error(args: list[str], match: str) -> None:
    r = CliRunner().invoke(cli, args)
    errors = [ln for ln in r.output.splitlines() if ln.startswith("Error:")]
    assert r.exit_code == 1 and isinstance(r.exception, SystemExit), r.output
    assert len(errors) == 1 and match in errors[0] and "Traceback" not in r.output, r.output


def test_bad_input_is_one_line(mixed_corpus, tmp_path):
    p = str(tmp_path / "p")
    _one_line_error(["prepare", str(tmp_path / "missing"), "-o", p], "corpus path not found")
    _one_line_error(["prepare", str(mixed_corpus / "image.bin"), "-o", p], "no text files")
    _one_line_error(["train", "--data", str(mixed_corpus)], "not a prepared corpus")
    _one_line_error(["train", "--data", str(tmp_path / "nowhere")], "no such folder")
    _one_line_error(["prepare", str(mixed_corpus), "-o", str(mixed_corpus)], "not empty")
    assert not (tmp_path / "p").exists()  # nothing was made by the failed runs
    assert CliRunner().invoke(cli, ["prepare", str(mixed_corpus), "-o", p]).exit_code == 0
    _one_line_error(["prepare", str(mixed_corpus), "-o", p], "--force")
    assert CliRunner().invoke(cli, ["prepare", str(mixed_corpus), "-o", p, "--force"]).exit_code == 0
    _one_line_error(["train", "--data", p, "--corpus", str(mixed_corpus)], "not both")
    _one_line_error(["train", "--data", p, "--val-fraction", "0.2"], "prepare")
    with open(tmp_path / "p" / "train.bin", "r+b") as f:
        f.truncate(100)
    _one_line_error(["train", "--data", p], "corrupt prepared corpus")
    with pytest.raises(CorpusError, match="corrupt"):
        load_prepared(p)
