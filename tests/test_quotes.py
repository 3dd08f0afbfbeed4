"""Curly quotes: the network and the corpus memory read a document's ‘’“” as the ASCII quotes
their training text mostly has (vocab.CURLY), and give their predictions back in the document's
own quotes — curly where it writes them curly, ASCII (unchanged) where it does not."""

from __future__ import annotations

import numpy as np
import pytest

from charcomplete.completion import load_completer
from charcomplete.memory import MemoryConfig, build_memory
from charcomplete.registry import memory_path_for
from charcomplete.vocab import curly_quotes
from tests.conftest import _train_tiny

# ASCII quotes throughout, the curly ones once each (so that the vocabulary holds them)
TEXT = "‘’“”\n" + "i don't know. it's fine, he said \"yes\" and \"no\". you don't say. she's here. " * 30


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A tiny attention model trained on TEXT, with a corpus memory of it."""
    root = tmp_path_factory.mktemp("quotes")
    (root / "corpus").mkdir()
    (root / "corpus" / "a.txt").write_text(TEXT)
    path = _train_tiny("attention", root / "corpus", root / "q.safetensors", steps=150)
    vocab = load_completer(path, memory=False).vocab
    build_memory(TEXT, vocab, MemoryConfig(orders=(1, 2, 3, 4, 6, 8), min_count=(1, 1, 1, 1, 1, 1))).save(memory_path_for(path))
    return path


def curl(text: str) -> str:
    return text.replace(" \"", " “").replace("\"", "”").replace("'", "’")


ASCII = "i don't know. it's fine, he said \"yes\" and \"no\". you don"


def test_a_document_with_curly_apostrophes_gets_them_in_its_ghosts_and_an_ascii_one_ascii(model):
    c = load_completer(model, adapt=False)
    assert c.suggest(ASCII).text.startswith("'")
    ghost = c.suggest(curl(ASCII)).text
    assert ghost.startswith("’") and ghost.replace("’", "'") == c.suggest(ASCII).text


def test_the_probabilities_move_to_the_documents_quotes_and_sum_to_one(model):
    c = load_completer(model, adapt=False)
    v = c.vocab
    p_ascii, p_curly = c.probs(ASCII), c.probs(curl(ASCII))
    assert p_ascii[v.id("'")] > 0.5 > p_ascii[v.id("’")]
    assert p_curly[v.id("’")] > 0.5 > p_curly[v.id("'")]
    assert abs(p_curly.sum() - 1) < 1e-6
    assert np.isclose(p_curly[v.id("’")] + p_curly[v.id("'")], p_ascii[v.id("'")] + p_ascii[v.id("’")], atol=0.02)
    # a double quote after a space opens, after a word closes
    opened = c.probs(curl(ASCII[: ASCII.index('and "') + 4]))  # "... he said “yes” and "
    assert opened[v.id("“")] > 0.5 > opened[v.id("”")] + opened[v.id('"')]
    closed = c.probs(curl(ASCII[: ASCII.index('yes"') + 3]))  # "... he said “yes"
    assert closed[v.id("”")] > 0.5 > closed[v.id("“")] + closed[v.id('"')]


def test_the_network_reads_a_curly_quote_as_the_ascii_one(model):
    """Its state after a curly text equals its state after the ASCII one (stepped and recomputed)."""
    a, b = load_completer(model, adapt=False, memory=False), load_completer(model, adapt=False, memory=False)
    for i in range(1, len(ASCII) + 1):  # typed one key at a time
        a.probs(ASCII[:i])
        b.probs(curl(ASCII)[:i])
    assert np.array_equal(a._state.logits, b._state.logits)
    fresh = load_completer(model, adapt=False, memory=False)
    fresh.probs(curl(ASCII))  # one recompute
    assert np.allclose(fresh._state.logits, a._state.logits, atol=1e-5)


def test_with_adaptation_typing_a_curly_text_learns_and_stays_right(model):
    from charcomplete.adapt import AdaptiveModel

    c = load_completer(model, adapt=AdaptiveModel())
    text = curl((ASCII + "'t say. ") * 3 + ASCII)
    for i in range(1, len(text)):
        c.observe(text[:i])
        p = c.probs(text[:i])
        assert abs(p.sum() - 1) < 1e-6 and (p >= 0).all()
    assert c.suggest(text).text.startswith("’")


def test_curly_quotes_counts_which_the_text_writes_more_and_a_kind_not_seen_goes_by_the_other():
    assert curly_quotes("don’t, it’s, \"x\"") == (True, False)
    assert curly_quotes("don't, it’s “x”") == (False, True)
    assert curly_quotes("plain text") == (False, False) and curly_quotes("naïve café") == (False, False)
    assert curly_quotes("“Hello,” she said") == (True, True) and curly_quotes("I don’t") == (True, True)
    assert curly_quotes("\"Hello,\" she said") == (False, False)


def test_a_fresh_document_with_curly_double_quotes_gets_a_curly_apostrophe_first(model):
    c = load_completer(model, adapt=False)
    ctx = "he said “yes” and “no”. you don"  # no apostrophe yet
    assert c.suggest(ctx).text.startswith("’")


def test_training_text_and_the_memory_are_read_with_ascii_quotes_the_vocabulary_keeps_curly_ones(tmp_path):
    """A model trained on curly text learns it as the Completer will read it: ASCII quotes (the
    corpus, a prepared corpus and the corpus memory alike), its vocabulary still holding the
    curly ones to give them back."""
    from charcomplete.corpus import load_corpus
    from charcomplete.prepare import load_prepared, prepare_corpus

    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text(curl(ASCII + "'t say. ") * 40)
    corpus = load_corpus([str(tmp_path / "notes")])
    v = corpus.vocab
    assert v.id("’") and v.id("“") and v.id("'")
    ids = np.concatenate([corpus.train, corpus.val])
    assert not np.isin(ids, [v.id("’"), v.id("“"), v.id("”")]).any() and (ids == v.id("'")).any()
    prepare_corpus([str(tmp_path / "notes")], tmp_path / "prepared")
    prepared = load_prepared(tmp_path / "prepared")
    assert np.array_equal(prepared.train, corpus.train) and prepared.vocab == v
    memory = build_memory(curl(ASCII) * 20, v, MemoryConfig(orders=(1, 2, 3, 4), min_count=(1, 1, 1, 1)))
    p, _ = memory.predict_text("you don")
    assert p[v.id("'")] > 0.5 and p[v.id("’")] < 0.01


async def test_in_the_editor_a_curly_document_gets_a_curly_ghost_and_tab_saves_it(model, tmp_path):
    """The real editor on a file written with curly quotes: the ghost after "you don" is "’t…",
    Tab takes it, and the file saved holds the curly apostrophe."""
    from charcomplete.document import Document
    from charcomplete.tui.app import EditorApp
    from pilot_helpers import until
    from tests.test_editor_app import type_at_end

    path = tmp_path / "notes.txt"
    path.write_text(curl(ASCII[: ASCII.index("you don")]))
    app = EditorApp(Document.open(path), load_completer(model, adapt=False))
    async with app.run_test() as pilot:
        await type_at_end(pilot, "you don")
        await until(pilot, lambda: app.editor.suggestion != "")
        assert app.editor.suggestion.startswith("’")
        await pilot.press("tab")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "you don’" in path.read_text())
