"""`charcomplete compare`: the table and both plots, --notebook on the notebook's paragraph,
--save, one-line errors; the notebook's forward pass on our models."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from charcomplete.cli import cli

PARAGRAPH = Path(__file__).parent / "data" / "notebook-paragraph.txt"  # the notebook's training text
TINY = ["--embed", "16", "--hidden", "32", "--threads", "1", "--seed", "0"]  # tiny, seeded, one thread


def invoke(*args):
    return CliRunner().invoke(cli, ["compare", *map(str, args)])


# --- the notebook's method on our models ---------------------------------------------------


@pytest.mark.parametrize("kind", ["lstm", "attention"])
@pytest.mark.parametrize("window", [20, 32])
def test_notebook_forward_is_the_last_position_of_ours(kind, window):
    from charcomplete.models import ModelConfig, build_model
    from charcomplete.experiments.notebook import notebook_logits

    torch.manual_seed(0)
    model = build_model(ModelConfig(kind=kind, vocab_size=30, embed=8, hidden=16, window=window)).eval()
    x = torch.randint(0, 30, (5, 20))  # (B, 20): the notebook's windows
    with torch.no_grad():
        ours, _ = model(x)  # (B, 20, V), a fresh state
        theirs = notebook_logits(model, x)  # (B, V)
    torch.testing.assert_close(theirs, ours[:, -1], rtol=1e-5, atol=1e-5)


def test_notebook_forward_differs_when_the_band_is_narrower_than_the_window():
    from charcomplete.models import ModelConfig, build_model
    from charcomplete.experiments.notebook import notebook_logits

    torch.manual_seed(0)
    model = build_model(ModelConfig(kind="attention", vocab_size=30, embed=8, hidden=16, window=4)).eval()
    x = torch.randint(0, 30, (5, 20))
    with torch.no_grad():
        assert not torch.allclose(notebook_logits(model, x), model(x)[0][:, -1], atol=1e-4)


def test_notebook_training_is_seeded_and_scores_the_tail():
    from charcomplete.corpus import load_corpus
    from charcomplete.models import ModelConfig
    from charcomplete.experiments.notebook import NotebookConfig, train_notebook

    torch.set_num_threads(1)
    corpus = load_corpus([str(PARAGRAPH)])
    runs = [train_notebook(ModelConfig(kind="attention", embed=16, hidden=32, window=20),
                           NotebookConfig(epochs=2, seed=3), corpus) for _ in range(2)]
    assert [r["val_bpc"] for r in runs[0].history] == [r["val_bpc"] for r in runs[1].history]
    assert len(runs[0].history) == 2  # one validation per epoch, as the notebook
    n_windows = len(corpus.train) - 20
    assert runs[0].chars == 2 * (n_windows - int(n_windows * 0.1))  # 2 epochs over its 90% of the windows
    assert runs[0].best_tail_bpc == min(r["val_bpc"] for r in runs[0].history)
    assert 0.0 <= runs[0].history[-1]["leaky_val_acc"] <= 1.0


def test_validation_texts_come_from_the_held_out_tails(tiny_corpus):
    from charcomplete.experiments.compare import validation_texts
    from charcomplete.corpus import load_corpus, split_text

    corpus = load_corpus([str(tiny_corpus)])
    texts = validation_texts(corpus, 0.05, 400, min_piece=150)
    tails = [split_text(d.text, 0.05)[1] for d in corpus.files.documents]
    assert len(texts) == 2 and sum(map(len, texts)) <= 400
    assert all(any(t.startswith(piece) for t in tails) for piece in texts)


# --- the command -----------------------------------------------------------------------


def test_compare_prints_the_table_and_both_plots_and_saves(tiny_corpus, tmp_path):
    png = tmp_path / "cmp.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n an earlier plot")  # a PNG is replaced without --force
    r = invoke("--corpus", tiny_corpus, "--epochs", 1, *TINY, "--batch-size", 8, "--seq-len", 32,
               "--ksr-chars", 300, "--plot", png, "--save")
    assert r.exit_code == 0, r.output
    out = r.output
    for text in ("best val bpc", "KSR", "precision", "latency p50/p99", "Training loss", "Validation accuracy", "plots written to"):
        assert text in out
    assert out.count("step ") >= 4  # validations of both models, one line each
    table = [line for line in out.splitlines() if line[:1] in "┏┃┡│└"]
    header = [cell.strip() for cell in table[1].split("┃")[1:-1]]
    rows = {row.split("│")[1].strip(): [cell.strip() for cell in row.split("│")[2:-1]] for row in table if row.startswith("│")}
    assert header == ["", "lstm", "attention"]  # a column per model, a row per measure
    assert list(rows) == ["best val bpc", "val acc", "parameters", "train time", "chars/s", "latency p50/p99", "KSR", "precision"]
    assert all(len(cells) == 2 and all(cells) for cells in rows.values())
    validations = [line for line in out.splitlines() if " step " in line]
    assert all(len(line) <= 80 and "…" not in line for line in table + validations)  # an 80-column terminal holds them
    assert png.stat().st_size > 1000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    from charcomplete import load_completer

    for kind in ("lstm", "attention"):
        c = load_completer(f"compare-{kind}")  # usable like any trained model
        assert c.kind == kind and abs(sum(c.next_char_probs("the qu").values()) - 1) < 1e-5
    again = invoke("--corpus", tiny_corpus, "--epochs", 1, *TINY, "--save")
    assert again.exit_code != 0 and "--force" in again.output  # never a silent overwrite


def test_compare_json_has_rows_and_summary(tiny_corpus):
    r = CliRunner().invoke(cli, ["compare", "--corpus", str(tiny_corpus), "--epochs", "0.5", *TINY, "--batch-size", "8",
                                 "--seq-len", "32", "--eval-every", "5", "--ksr-chars", "200", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert [(run["model"], run["method"]) for run in data["runs"]] == [("lstm", "ours"), ("attention", "ours")]
    lstm, attention = (run["summary"] for run in data["runs"])
    assert lstm["parameters"] < attention["parameters"]  # attention adds attn_linear and a wider head
    for run in data["runs"]:
        s = run["summary"]
        assert len(run["history"]) >= 4  # every 5 steps (about 21 steps) and at the end
        assert s["best_val_bpc"] == min(row["val_bpc"] for row in run["history"])
        assert 0 <= s["ksr"] < 1 and s["ksr_chars"] == 200 and s["latency_p99_ms"] > 0
        assert s["chars_per_s"] > 0 and s["seconds"] > 0


def test_compare_notebook_on_the_notebook_paragraph():
    r = CliRunner().invoke(cli, ["compare", "--corpus", str(PARAGRAPH), "--notebook", "--epochs", "2", *TINY,
                                 "--ksr-chars", "100", "--json"])
    assert r.exit_code == 0, r.output
    assert "leaks into validation" in r.stderr
    data = json.loads(r.stdout)
    runs = {(run["model"], run["method"]): run for run in data["runs"]}
    assert set(runs) == {(k, m) for k in ("lstm", "attention") for m in ("ours", "notebook")}
    assert data["settings"]["model"]["window"] == 20 and data["settings"]["model"]["embed"] == 16
    assert any("leaks" in note for note in data["notes"])
    for kind in ("lstm", "attention"):
        nb, ours = runs[(kind, "notebook")], runs[(kind, "ours")]
        assert [row["epoch"] for row in nb["history"]] == [1.0, 2.0]
        assert nb["summary"]["parameters"] == ours["summary"]["parameters"]  # the same model, two methods
        assert 0 <= nb["summary"]["leaky_val_acc"] <= 1 and nb["summary"]["best_val_bpc"] > 0


def test_compare_json_is_strict_json_when_a_number_is_undefined(tiny_corpus):
    """A 1-character validation leaves numbers undefined: `--json` printed `NaN`, which JSON has not
    (strict parsers refuse it); they are null."""
    r = invoke("--corpus", tiny_corpus, "--epochs", 0.05, "--embed", 4, "--hidden", 8, "--threads", 1, "--notebook",
               "--val-chars", 1, "--ksr-chars", 0, "--json")
    assert r.exit_code == 0, r.output

    def no_nan(name):
        raise AssertionError(f"{name} in compare --json")

    data = json.loads(r.stdout, parse_constant=no_nan)
    assert any(v is None for run in data["runs"] for row in run["history"] for v in row.values())


def test_compare_notebook_prints_the_leak_and_the_leaky_column(tmp_path):
    r = invoke("--corpus", PARAGRAPH, "--notebook", "--epochs", 1, *TINY, "--ksr-chars", 0)
    assert r.exit_code == 0, r.output
    assert "leaky val acc" in r.output and "the notebook's method; its own split" in r.output and "leaks into validation" in r.output
    table = [line for line in r.output.splitlines() if line[:1] in "┏┃┡│└"]
    assert table and all(len(line) <= 80 for line in table)  # four runs' columns still fit 80 columns
    assert "notebook's" in table[2] and table[2].count("notebook's") == 2


@pytest.mark.parametrize("case", ["missing", "empty", "epochs0", "plot_under_file", "plot_no_folder", "no_corpus"])
def test_bad_input_gives_one_line(case, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    args = {
        "missing": ["--corpus", tmp_path / "nope.txt"],
        "empty": ["--corpus", empty],
        "epochs0": ["--corpus", PARAGRAPH, "--epochs", 0],
        "plot_under_file": ["--corpus", PARAGRAPH, "--plot", empty / "cmp.png"],
        "plot_no_folder": ["--corpus", PARAGRAPH, "--plot", tmp_path / "no" / "cmp.png"],
        "no_corpus": [],
    }[case]
    r = invoke(*args, *TINY)
    assert r.exit_code == 1
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.output
    assert "Traceback" not in r.output


def test_plot_never_replaces_a_file_that_is_not_a_png_unasked(tiny_corpus, tmp_path):
    """`--plot notes.txt` (the corpus itself) replaced the notes with a picture; `--plot` a FIFO
    blocked for ever in matplotlib's write."""
    notes = tiny_corpus / "a.txt"
    before = notes.read_bytes()
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    for target, said in [(notes, "exists and is not a PNG; use --force"), (fifo, "is not a regular file")]:
        r = invoke("--corpus", tiny_corpus, "--epochs", 1, *TINY, "--plot", target)
        assert r.exit_code == 1 and r.output.strip() == f"Error: --plot {target}: {said}" + (
            " to replace it or give another name" if target == notes else ""), r.output
    assert notes.read_bytes() == before and stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_plot_without_matplotlib_gives_the_install_hint(monkeypatch, tmp_path):
    import charcomplete.experiments.plots

    monkeypatch.setattr(charcomplete.experiments.plots, "matplotlib_available", lambda: False)
    r = invoke("--corpus", PARAGRAPH, "--plot", tmp_path / "cmp.png", *TINY)
    assert r.exit_code == 1 and r.output.strip() == "Error: --plot needs matplotlib: pip install 'charcomplete[plot]'"


def test_compare_without_plotext_says_how_to_install_it(monkeypatch, tmp_path):
    """plotext is the `compare` extra: a plain `pip install charcomplete` has no plotext."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "plotext" else real(name, *a))
    notes = tmp_path / "n.txt"
    notes.write_text("the quick brown fox\n" * 20)
    r = CliRunner().invoke(cli, ["compare", "--corpus", str(notes)])
    assert r.exit_code == 1 and "pip install 'charcomplete[compare]'" in r.output
    assert len(r.output.strip().splitlines()) == 1
