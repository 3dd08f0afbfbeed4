"""Shared fixtures: tiny corpora and tiny trained checkpoints, an isolated user data dir.

Everything is seeded and CPU-only; the tiny models train in about a second.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

TINY_TEXT = (
    "the quick brown fox jumps over the lazy dog.\n"
    "the lazy dog sleeps while the quick brown fox runs.\n"
    "a quick brown fox is quick and a lazy dog is lazy.\n"
) * 40


@pytest.fixture(autouse=True)
def isolated_data_dir(tmp_path_factory, monkeypatch):
    """Every test gets its own user data dir (CHARCOMPLETE_DATA_DIR)."""
    d = tmp_path_factory.mktemp("data")
    monkeypatch.setenv("CHARCOMPLETE_DATA_DIR", str(d))
    return d


@pytest.fixture
def tiny_corpus(tmp_path) -> Path:
    """A folder with two small repetitive text files."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a.txt").write_text(TINY_TEXT)
    (folder / "b.md").write_text(TINY_TEXT.upper()[:2000] + TINY_TEXT[:3000])
    return folder


def _train_tiny(kind: str, folder: Path, out: Path, steps: int = 60) -> Path:
    import torch

    from charcomplete.corpus import load_corpus
    from charcomplete.models import ModelConfig
    from charcomplete.trainer import TrainConfig, train

    torch.set_num_threads(1)
    corpus = load_corpus([str(folder)])
    cfg = TrainConfig(epochs=None, batch_size=8, seq_len=32, lr=1e-2, eval_every=30, seed=0, device="cpu")
    spe = max(1, (len(corpus.train) // 8 - 1 + 31) // 32)
    cfg.epochs = steps / spe
    train(ModelConfig(kind=kind, embed=16, hidden=48, window=8), cfg, corpus, out)
    return out


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory) -> dict[str, Path]:
    """{"lstm": path, "attention": path}: tiny models trained on TINY_TEXT (session-wide)."""
    root = tmp_path_factory.mktemp("tiny")
    folder = root / "corpus"
    folder.mkdir()
    (folder / "a.txt").write_text(TINY_TEXT)
    return {k: _train_tiny(k, folder, root / f"{k}.safetensors") for k in ("lstm", "attention")}


# --- the editor (tests/test_editor_*.py) ------------------------------------------------


@pytest.fixture
def make_editor(tiny_checkpoints, tmp_path):
    """make_editor(text=None, kind="attention", name="notes.txt") -> an EditorApp on a temp file.

    text None: the file does not exist yet. Training from the editor uses tiny settings.
    """
    from charcomplete.completion import load_completer
    from charcomplete.document import Document
    from charcomplete.tui.app import EditorApp

    def make(text: str | bytes | None = None, kind: str = "attention", name: str = "notes.txt", path: Path | None = None):
        p = path or tmp_path / name
        if isinstance(text, str):
            p.write_text(text)
        elif isinstance(text, bytes):
            p.write_bytes(text)
        tiny = {"embed": 8, "hidden": 16, "window": 4, "seq_len": 16, "batch_size": 4, "epochs": 0.5,
                "max_minutes": 1.0, "eval_every": 5}
        return EditorApp(Document.open(p), load_completer(tiny_checkpoints[kind], adapt=False), train_overrides=tiny)

    return make


@pytest.fixture(autouse=True)
def shared_histories_dropped():
    """Each test starts with no user history loaded in the process (each has its own data dir)."""
    from charcomplete import history

    history._SHARED.clear()
    yield
    history._SHARED.clear()
