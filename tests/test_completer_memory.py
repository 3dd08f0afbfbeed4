"""The corpus memory in the Completer: found beside the checkpoint, mixed with the network and
the document cache, learned from only when adapting; built by `train`, `memory`, listed by `models`."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from charcomplete.cli import cli
from charcomplete.completion import load_completer
from charcomplete.memory import MemoryConfig, build_memory
from charcomplete.registry import memory_path_for

# a sentence with words the tiny models never saw (their vocabulary's characters only)
RARE = "the lazy fox quirks a brazen quiz. "
CFG = MemoryConfig(orders=(1, 2, 3, 4, 6, 8, 12), min_count=(1, 1, 1, 1, 1, 2, 2))


@pytest.fixture
def model_with_memory(tiny_checkpoints, tmp_path):
    """The tiny attention model copied beside a memory of RARE (x20)."""
    path = tmp_path / "m.safetensors"
    shutil.copy(tiny_checkpoints["attention"], path)
    vocab = load_completer(path, memory=False).vocab
    build_memory(RARE * 20, vocab, CFG).save(memory_path_for(path))
    return path


def test_the_memory_beside_a_checkpoint_is_loaded_and_mixed_in(model_with_memory):
    c = load_completer(model_with_memory, adapt=False)
    plain = load_completer(model_with_memory, adapt=False, memory=False)
    assert c.memory is not None and plain.memory is None
    ctx = RARE * 2 + "the lazy fox qu"
    p = c.probs(ctx)
    assert abs(p.sum() - 1) < 1e-6 and (p >= 0).all()
    assert c.suggest(ctx).text.startswith("irk")  # the memory knows the rare word
    assert not plain.suggest(ctx).text.startswith("irk")  # (so the check above can fail)


def test_without_adaptation_nothing_is_learned_from_the_user(model_with_memory):
    c = load_completer(model_with_memory, adapt=False)
    before = [w.copy() for w in c.mixer.weights]
    for i in range(1, 200):
        c.observe((RARE * 8)[:i])
        c.suggest((RARE * 8)[:i])
    assert all(np.array_equal(a, b) for a, b in zip(before, c.mixer.weights))


def test_with_adaptation_the_mixer_learns_from_what_is_typed(model_with_memory):
    from charcomplete.adapt import AdaptiveModel

    c = load_completer(model_with_memory, adapt=AdaptiveModel())
    before = [w.copy() for w in c.mixer.weights]
    for i in range(1, 200):
        c.observe((RARE * 8)[:i])
        c.suggest((RARE * 8)[:i])
    assert any(not np.array_equal(a, b) for a, b in zip(before, c.mixer.weights))
    c.new_document()
    assert all(np.array_equal(a, b) for a, b in zip(before, c.mixer.weights))  # a new document starts afresh


@pytest.mark.parametrize("memory_chars,other", [(4, 2), (3, 1), (2, 4)])
def test_the_memory_is_asked_for_the_policys_characters_of_each_candidate(model_with_memory, memory_chars, other):
    """The greedy continuation asks the corpus memory for its first `memory_chars` characters, the
    other first characters' continuations (first_chars > 1) for `other_memory_chars` (latency)."""
    from dataclasses import replace

    from charcomplete.completion import _tail

    c = load_completer(model_with_memory, adapt=False)
    c.policy = replace(c.policy, memory_chars=memory_chars, other_memory_chars=other, first_chars=3, show_threshold=0.0,
                       start_chars=0, read_cost=0.0, lookahead=0, threshold=0.0, max_chars=8)
    asked = []  # (candidate's first character forced or not, characters grown so far, memory asked)
    probs, grow = c._probs, c._continue

    def continue_(st, context, first, *a, **k):
        asked.append(("other" if first is not None else "greedy", None, None))
        return grow(st, context, first, *a, **k)

    def probs_(st, tail, memory=True):
        kind = asked[-1][0] if asked else "first"
        asked.append((kind, tail, memory))
        return probs(st, tail, memory)

    c._probs, c._continue = probs_, continue_
    text = "a quiz for the brazen zebra, the lazy one. "
    grown = {"greedy": [], "other": []}
    for end in range(1, len(text)):
        ctx = text[:end]
        asked.clear()
        c.suggest(ctx)
        base = len(_tail(ctx))  # what the first character is predicted from: a continuation's tail grows by its characters
        for k, tail, memory in asked:
            if k in grown and tail is not None:
                grown[k].append((len(tail) - base, memory))
    for kind, limit in (("greedy", memory_chars), ("other", other)):
        assert {n for n, _ in grown[kind]} >= {1, 2, 3, 4}, kind  # long enough continuations of both kinds were grown
        assert all(memory == (n < limit) for n, memory in grown[kind]), (kind, grown[kind])


def test_a_damaged_memory_is_one_line(model_with_memory):
    memory_path_for(model_with_memory).write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    r = CliRunner().invoke(cli, ["complete", "--model", str(model_with_memory), "the qu"])
    assert r.exit_code == 1 and len(r.output.strip().splitlines()) == 1 and "Traceback" not in r.output


def test_train_builds_the_memory_and_models_lists_it(tiny_corpus, tmp_path, isolated_data_dir):
    out = tmp_path / "t.safetensors"
    tiny = ["--batch-size", "4", "--seq-len", "16", "--embed", "8", "--hidden", "16", "--window", "4", "--device", "cpu"]
    r = CliRunner().invoke(cli, ["train", "--model", "lstm", "--corpus", str(tiny_corpus), "--epochs", "0.2", "--out", str(out), *tiny])
    assert r.exit_code == 0, r.output
    assert memory_path_for(out).is_file() and "corpus memory" in r.output
    assert load_completer(out).memory is not None
    r = CliRunner().invoke(cli, ["train", "--model", "lstm", "--corpus", str(tiny_corpus), "--epochs", "0.2", "--name", "nomem",
                                 "--no-memory", *tiny])
    assert r.exit_code == 0, r.output
    rows = {row["name"]: row for row in json.loads(CliRunner().invoke(cli, ["models", "--json"]).output)}
    assert rows["nomem"]["memory_mb"] is None


def test_the_memory_command_builds_one_for_an_existing_model(tiny_checkpoints, tiny_corpus, tmp_path, isolated_data_dir):
    path = tmp_path / "old.safetensors"
    shutil.copy(tiny_checkpoints["lstm"], path)
    r = CliRunner().invoke(cli, ["memory", str(path), "--corpus", str(tiny_corpus)])
    assert r.exit_code == 0, r.output
    assert load_completer(path).memory is not None
    r = CliRunner().invoke(cli, ["memory", str(path)])
    assert r.exit_code != 0 and "--corpus" in r.output


def test_the_memory_commands_min_count_makes_a_smaller_memory(tiny_checkpoints, tiny_corpus, tmp_path):
    from charcomplete.memory import load_memory

    sizes = {}
    for name, args in (("default", []), ("pruned", ["--min-count", "1,2,3,3,4,5,6,6"])):
        path = tmp_path / f"{name}.safetensors"
        shutil.copy(tiny_checkpoints["lstm"], path)
        r = CliRunner().invoke(cli, ["memory", str(path), "--corpus", str(tiny_corpus), *args])
        assert r.exit_code == 0, r.output
        memory = load_memory(memory_path_for(path))
        sizes[name] = memory.contexts()
        assert memory.cfg.min_count == ((1, 2, 3, 3, 4, 5, 6, 6) if args else (1, 1, 2, 2, 3, 4, 4, 4))
    assert 0 < sizes["pruned"] < sizes["default"]
    for bad, says in (("1,1,2", "equally long"), ("2,1,2,2,3,4,4,4", "never fall"), ("1,x", "one whole number per order")):
        r = CliRunner().invoke(cli, ["memory", str(path), "--corpus", str(tiny_corpus), "--min-count", bad])
        assert r.exit_code == 1 and says in r.output and "Traceback" not in r.output, r.output
    r = CliRunner().invoke(cli, ["memory", str(path), "--min-count", "1,1,2,2,3,4,4,4"])
    assert r.exit_code == 1 and "--corpus" in r.output


def test_a_fine_tuned_model_keeps_its_base_models_memory(model_with_memory, tmp_path, isolated_data_dir):
    from charcomplete.jobs import TrainRequest, run_training

    tiny_corpus = tmp_path / "notes"
    tiny_corpus.mkdir()
    (tiny_corpus / "n.txt").write_text(RARE * 150)  # in the model's characters: fine-tuned, not replaced

    out = tmp_path / "tuned.safetensors"
    r = CliRunner().invoke(cli, ["train", "--init", str(model_with_memory), "--corpus", str(tiny_corpus), "--epochs", "0.05",
                                 "--batch-size", "4", "--seq-len", "16", "--out", str(out), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert memory_path_for(out).read_bytes() == memory_path_for(model_with_memory).read_bytes(), r.output  # not one of the notes alone
    req = TrainRequest(corpus=[str(tiny_corpus)], name="tuned-in-editor", init=str(model_with_memory), batch_size=4, seq_len=16,
                       epochs=0.05)
    outcome = run_training(req, None, lambda: False, compare_with=str(model_with_memory))
    assert memory_path_for(outcome.path).read_bytes() == memory_path_for(model_with_memory).read_bytes()
    assert load_completer(outcome.path).memory is not None


def test_a_base_memory_copied_across_file_systems_is_whole_or_not_there(model_with_memory, tmp_path, monkeypatch):
    """Where a hard link cannot be made (another file system) the base model's memory is copied:
    a copy cut short (Ctrl+C, a full disk) left a part-written memory, and the model would not load."""
    import errno
    import os

    from charcomplete import jobs

    def no_link(*a):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_link)
    out = tmp_path / "tuned.safetensors"
    shutil.copy(model_with_memory, out)
    assert jobs.give_memory(out, None, str(model_with_memory)).read_bytes() == memory_path_for(model_with_memory).read_bytes()
    memory_path_for(out).unlink()

    def interrupted(fd):
        raise KeyboardInterrupt

    with monkeypatch.context() as m, pytest.raises(KeyboardInterrupt):
        m.setattr(os, "fsync", interrupted)
        jobs.give_memory(out, None, str(model_with_memory))
    assert not memory_path_for(out).exists() and [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert load_completer(out).memory is None  # loads, without a memory (`charcomplete memory` can build one)


def test_a_line_of_a_neighbouring_file_is_predicted_by_the_match_model(model_with_memory):
    """The match model (match.py) over the neighbouring files: after the start of a line that a
    neighbouring file holds, the rest is likelier with it than with the same counts without it."""
    from charcomplete.adapt import AdaptConfig, AdaptiveModel, BufferLearner

    line = "a brazen fox quirks the lazy tax quiz at the zoo. "  # in no training text: the neighbour's own
    other = RARE * 3 + line + RARE * 2

    def completer(match: bool):
        learner = BufferLearner(AdaptConfig())
        learner.add_file(other)
        while learner.work(1 << 16):
            pass
        if not match:
            learner.match.clear()
        c = load_completer(model_with_memory, adapt=AdaptiveModel(AdaptConfig(), None))
        c.adapt.attach(learner)
        return c, learner

    with_match, learner = completer(True)
    without, _ = completer(False)
    assert learner.neighbour_match().find(RARE + line[:30]) == (line[30], 4)  # its 24-character context
    typed = RARE + line[:30]
    ids = with_match.vocab.encode(line[30:40])
    for k in range(10):  # the next ten characters, each likelier with the match model
        ctx = typed + line[30 : 30 + k]
        assert with_match.probs(ctx)[ids[k]] > without.probs(ctx)[ids[k]], k
    learner.set_neighbours(False)  # off: no match model either
    learner.work(0)
    assert learner.neighbour_match() is None and len(learner.match) == 0


def test_a_line_earlier_in_the_document_is_predicted_by_the_match_model(model_with_memory):
    """The match model over the document itself (match.DocumentMatch): typing a line the document
    already holds, the rest is likelier with it than with the same counts without it; with the
    whole buffer learned (BufferLearner) and with the contexts only; never without adaptation."""
    from charcomplete.adapt import AdaptConfig, AdaptiveModel, BufferLearner

    line = "a brazen fox quirks the lazy tax quiz at the zoo. "
    earlier = RARE * 3 + line + RARE * 2
    typed = earlier + RARE + line[:30]
    ids = load_completer(model_with_memory).vocab.encode(line[30:40])

    def probs(c, k: int, match: bool):
        ctx = typed + line[30 : 30 + k]
        c.observe(ctx)
        if not match:
            c.adapt.doc_match.clear()
        return c.probs(ctx)[ids[k]]

    for whole in (False, True):
        pair = []
        for match in (True, False):
            c = load_completer(model_with_memory, adapt=AdaptiveModel(AdaptConfig(), None))
            if whole:
                learner = BufferLearner(AdaptConfig())
                learner.open(typed)
                while learner.work(1 << 16):
                    pass
                c.adapt.attach(learner)
            c.observe(typed)
            pair.append(c)
        assert pair[0].adapt.match(typed) == (line[30], 4), whole
        for k in range(10):  # the next ten characters, each likelier with the match model
            if whole and k:
                for c in pair:
                    c.adapt.learner.edit(typed[-64:] + line[30 : 29 + k], "", line[29 + k], "")
                    c.adapt.learner.work()
            assert probs(pair[0], k, True) > probs(pair[1], k, False), (whole, k)
    off = load_completer(model_with_memory, adapt=False)
    assert off.adapt is None  # no adaptation: nothing of the document, no match model


def test_the_memory_command_learns_the_mixers_start_and_every_document_begins_there(model_with_memory, tmp_path):
    """`memory` learns the mixer's starting weights on held-out text (here --mixer-text; by default
    the corpus's tails) and stores them in the memory's file; the Completer starts every document
    from them, and they fit that text better than the mixer's init (a worse start would fail)."""
    from charcomplete.adapt import AdaptiveModel
    from charcomplete.evaluate import sequential_bpc

    held_out = tmp_path / "held-out"
    held_out.mkdir()
    sentences = [f"the lazy fox quirks a brazen quiz number {i}, then the quick dog naps." for i in range(40)]
    (held_out / "a.txt").write_text(" ".join(sentences))
    before = memory_path_for(model_with_memory).read_bytes()
    untrained = load_completer(model_with_memory, adapt=AdaptiveModel())
    r = CliRunner().invoke(cli, ["memory", str(model_with_memory), "--mixer-text", str(held_out)])
    assert r.exit_code == 0, r.output
    c = load_completer(model_with_memory, adapt=AdaptiveModel())
    start, info = c.memory.mixer
    assert info["text"] == str(held_out) and info["chars"] > 2000
    assert np.array_equal(c.memory.unigram_counts, untrained.memory.unigram_counts)  # the tables as they were
    assert memory_path_for(model_with_memory).read_bytes() != before
    c.observe("the lazy fox")
    c.probs("the lazy fox")
    c.observe("the lazy fox ")  # learned from one character: no longer the start
    assert not all(np.array_equal(w, w0) for w, w0 in zip(c.mixer.weights, start.weights))
    c.new_document()
    assert all(np.allclose(w, w0) for w, w0 in zip(c.mixer.weights, start.weights))
    text = "the quick dog naps, then the lazy fox quirks a brazen quiz."
    assert sequential_bpc(c, text)["bpc"] < sequential_bpc(untrained, text)["bpc"]


def test_the_mixers_start_is_learned_when_a_memory_is_built_and_bad_requests_are_one_line(tiny_checkpoints, tmp_path):
    corpus = tmp_path / "notes"
    corpus.mkdir()
    for i in range(4):  # held-out tails (the last 5 % of each file) long enough to hold whole sentences
        (corpus / f"n{i}.txt").write_text(RARE * 60 + "the lazy dog naps by the brazen fox and the quiz. " * 20)
    path = tmp_path / "m.safetensors"
    shutil.copy(tiny_checkpoints["attention"], path)
    r = CliRunner().invoke(cli, ["memory", str(path), "--corpus", str(corpus)])
    assert r.exit_code == 0, r.output
    assert load_completer(path).memory.mixer[1]["text"] == "the corpus's held-out tails"
    other = tmp_path / "other.safetensors"
    shutil.copy(tiny_checkpoints["attention"], other)
    for args, says in [([str(other), "--mixer-text", str(corpus)], "no corpus memory yet"),
                       ([str(path), "--mixer-text", str(tmp_path / "nothing-here")], "not found"),
                       ([str(path), "--corpus", str(corpus), "--data", str(tmp_path)], "once")]:
        r = CliRunner().invoke(cli, ["memory", *args])
        assert r.exit_code == 1 and says in r.output and "Traceback" not in r.output, r.output
    (tmp_path / "short.txt").write_text("too short.")
    r = CliRunner().invoke(cli, ["memory", str(path), "--mixer-text", str(tmp_path / "short.txt")])
    assert r.exit_code == 1 and "no sentence" in r.output, r.output


def test_the_memory_command_never_rebuilds_a_shipped_model_in_place(model_with_memory, tiny_corpus, tmp_path, monkeypatch,
                                                                      isolated_data_dir):
    """`memory prose --corpus notes/` once replaced the installed package's packed prose memory
    with one of the notes; a shipped model named by name is refused now (by its path, as a
    developer rebuilding it gives it, and with --out, it is built)."""
    import charcomplete.registry as registry

    shipped = tmp_path / "shipped"
    shipped.mkdir()
    shutil.copy(model_with_memory, shipped / "prose.safetensors")
    shutil.copy(memory_path_for(model_with_memory), memory_path_for(shipped / "prose.safetensors"))
    monkeypatch.setattr(registry, "shipped_dir", lambda: shipped)
    before = {p.name: p.read_bytes() for p in shipped.iterdir()}
    for args in (["--corpus", str(tiny_corpus)], ["--mixer-text", str(tiny_corpus)], ["--pack"]):
        r = CliRunner().invoke(cli, ["memory", "prose", *args])
        assert r.exit_code == 1 and r.output.strip().splitlines() == [
            "Error: prose is a shipped model: " + r.output.split("shipped model: ", 1)[1].strip()], r.output
        assert "would change the installed package" in r.output
    assert {p.name: p.read_bytes() for p in shipped.iterdir()} == before  # not a byte changed
    mine = tmp_path / "mine" / "prose.safetensors"
    r = CliRunner().invoke(cli, ["memory", "prose", "--corpus", str(tiny_corpus), "--out", str(mine)])
    assert r.exit_code == 0, r.output
    assert memory_path_for(mine).is_file() and not mine.exists()  # no checkpoint needed at --out: the model's network learns the start
    r = CliRunner().invoke(cli, ["memory", str(shipped / "prose.safetensors"), "--corpus", str(tiny_corpus)])
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("large,owner", [("prose-large", "prose"), ("code-large", "code")])
def test_a_shipped_model_can_read_another_shipped_models_memory(model_with_memory, tmp_path, monkeypatch, large, owner):
    """`prose-large` and `code-large` ship without a memory of their own and read `prose`'s and `code`'s
    (registry.SHARED_MEMORY): each loads with it, `models` lists it, a fine-tune of it keeps it; a user
    model of that name does not."""
    import charcomplete.registry as reg
    from charcomplete.memory_pack import memory_file
    from charcomplete.registry import user_checkpoint_path

    shipped = tmp_path / "shipped"
    shipped.mkdir()
    monkeypatch.setattr(reg, "shipped_dir", lambda: shipped)
    shutil.copy(model_with_memory, shipped / f"{owner}.safetensors")
    shutil.copy(memory_path_for(model_with_memory), memory_path_for(shipped / f"{owner}.safetensors"))
    shutil.copy(model_with_memory, shipped / f"{large}.safetensors")
    large_path = shipped / f"{large}.safetensors"
    assert memory_file(large_path) == memory_path_for(shipped / f"{owner}.safetensors")
    c = load_completer(large, adapt=False)
    assert c.memory is not None and c.name == large
    rows = {r["name"]: r for r in json.loads(CliRunner().invoke(cli, ["models", "--json"]).output)}
    assert rows[large]["memory_mb"] == rows[owner]["memory_mb"] is not None
    assert rows[large]["about"] == reg.SHIPPED_ABOUT[large]  # what it is for, in the table too
    table = CliRunner().invoke(cli, ["models"], env={"COLUMNS": "100"}).output
    assert any(large in ln and "slower keys" in ln for ln in table.splitlines()), table

    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "n.txt").write_text(RARE * 150)
    r = CliRunner().invoke(cli, ["train", "--init", large, "--corpus", str(notes), "--epochs", "0.05",
                                 "--batch-size", "4", "--seq-len", "16", "--name", "large-notes", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    tuned = user_checkpoint_path("large-notes")
    assert memory_path_for(tuned).read_bytes() == memory_path_for(shipped / f"{owner}.safetensors").read_bytes()

    mine = user_checkpoint_path(large)  # the user's own model of that name: no memory it never had
    shutil.copy(model_with_memory, mine)
    assert memory_file(mine) is None and load_completer(large, adapt=False).memory is None
    rows = {r["name"]: r for r in json.loads(CliRunner().invoke(cli, ["models", "--json"]).output)}
    assert rows[large]["source"] == "user" and rows[large]["about"] is None
    (shipped / f"{large}.safetensors").unlink()
    memory_path_for(shipped / f"{owner}.safetensors").unlink()
    assert memory_file(large_path) is None  # the one it shares gone: none, not an error
