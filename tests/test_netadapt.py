"""The network's output layer adapting to the document (charcomplete/netadapt.py)."""

from __future__ import annotations

import numpy as np

import shutil
from dataclasses import replace

import pytest

from charcomplete.adapt import AdaptiveModel
from charcomplete.completion import _softmax, load_completer
from charcomplete.memory import MemoryConfig, build_memory
from charcomplete.netadapt import NetAdapter, NetAdaptConfig, ReadCheck
from charcomplete.registry import memory_path_for

V, H = 12, 8


def test_no_correction_before_a_step_and_a_reset_forgets():
    a = NetAdapter(V, H)
    logits = np.linspace(-1, 1, V).astype(np.float32)
    h = np.ones(H, np.float32)
    assert a.logits(logits, h) is logits
    a.update(3)  # nothing remembered: nothing learned
    assert a.steps == 0
    a.remember(h, _softmax(logits))
    a.update(3)
    assert a.steps == 1 and not np.allclose(a.logits(logits, h), logits)
    a.reset()
    assert a.steps == 0 and not a.dW.any() and not a.db.any() and a.logits(logits, h) is logits


def test_repeated_character_becomes_likelier_and_only_moved_rows_change():
    rng = np.random.default_rng(0)
    a = NetAdapter(V, H, NetAdaptConfig(lr=0.05, min_step=1e-3))
    logits = rng.normal(size=V).astype(np.float32)
    logits[5] = -8.0  # a character the network all but rules out
    h = rng.uniform(-1, 1, H).astype(np.float32)
    p_before = _softmax(logits)[7]
    for _ in range(20):
        p = _softmax(a.logits(logits, h))
        a.remember(h, p)
        a.update(7)
    assert _softmax(a.logits(logits, h))[7] > p_before + 0.2
    assert not a.dW[5].any()  # its step was always below min_step: its row is left alone
    assert a.dW[7].any()


@pytest.fixture
def model_with_memory(tiny_checkpoints, tmp_path):
    path = tmp_path / "m.safetensors"
    shutil.copy(tiny_checkpoints["attention"], path)
    vocab = load_completer(path, memory=False).vocab
    build_memory("the lazy fox quirks a brazen quiz. " * 20, vocab, MemoryConfig(orders=(1, 2, 3, 4), min_count=(1, 1, 1, 1))).save(memory_path_for(path))
    return path


def test_the_completer_adapts_its_network_only_when_adapting_with_a_memory(model_with_memory, tiny_checkpoints):
    text = "zebra quokka zebra quokka zebra quokka zebra quokka "
    assert load_completer(model_with_memory, adapt=False).net_adapt is None
    assert load_completer(tiny_checkpoints["attention"], adapt=AdaptiveModel()).net_adapt is None  # no memory, no mixer
    c = load_completer(model_with_memory, adapt=AdaptiveModel())
    ref = load_completer(model_with_memory, adapt=AdaptiveModel())
    ref.net_adapt.cfg.lr = 0.0  # the same, without the output layer's adaptation
    for comp in (c, ref):
        comp.new_document()
        for i in range(1, len(text)):
            comp.observe(text[:i])
            comp.probs(text[:i])
    assert c.net_adapt.steps == len(text) - 2  # every typed character after the first prediction
    ctx = text + "zebra quo"
    for comp in (c, ref):
        comp.observe(ctx)
    y = c.vocab._index["k"]
    assert c.probs(ctx)[y] > ref.probs(ctx)[y]
    # a suggestion's later characters (speculative states) use the network as it is
    st = c._stepper.step(c._state_for(ctx), y)
    spec = c._probs(st, ctx + "k", memory=False)
    adapted = c.probs(ctx)
    dW, db = c.net_adapt.dW.copy(), c.net_adapt.db.copy()
    c.net_adapt.dW[:], c.net_adapt.db[:] = 0.0, 0.0
    np.testing.assert_array_equal(c._probs(st, ctx + "k", memory=False), spec)
    assert not np.allclose(c.probs(ctx), adapted)
    c.net_adapt.dW[:], c.net_adapt.db[:] = dW, db
    # a ghost taken (the text goes on by several characters): nothing learned (as the mixer)
    steps = c.net_adapt.steps
    c.observe(ctx + "kka ")
    assert c.net_adapt.steps == steps
    c.probs(ctx + "kka ")
    c.observe(ctx + "kka z")
    assert c.net_adapt.steps == steps + 1
    c.new_document()
    assert c.net_adapt.steps == 0


# --- the whole network learning (NetworkLearner) ----------------------------------------------


@pytest.mark.parametrize("kind,layers", [("attention", 1), ("lstm", 1), ("attention", 2)])
@pytest.mark.parametrize("carried", [0, 5, 8])
def test_network_lesson_gradients_equal_torch_autograd(kind, layers, carried):
    """The numpy backpropagation of a lesson equals torch's on the same network: the mean
    log-loss of the last n characters, after a warm-up that only sets the state — whether the
    first `carried` characters are stepped in this lesson or carried in as the state an earlier
    lesson ended in (a text read lesson by lesson)."""
    import torch

    from charcomplete.config import ModelConfig
    from charcomplete.models import build_model
    from charcomplete.netadapt import NetworkLearner

    torch.manual_seed(0)
    cfg = ModelConfig(kind=kind, vocab_size=11, embed=6, hidden=8, layers=layers, window=4, dropout=0.0)
    net = build_model(cfg).eval()
    weights = {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}
    ids = np.random.default_rng(1).integers(0, 11, size=15)
    n = 6
    learner = NetworkLearner(cfg, weights)
    before = learner.gradients(ids[: carried + 1], 1)[1] if carried else None  # the state after ids[:carried]
    grads, after = learner.gradients(ids[carried:], n, before)
    warm, inputs, targets = ids[: -n - 1], ids[-n - 1 : -1], ids[-n:]
    with torch.no_grad():
        state = net(torch.from_numpy(warm)[None], None)[1]
        h_end, c_end = net(torch.from_numpy(ids[:-1])[None], None)[1][:2]
    np.testing.assert_allclose(after.hc[-1][0], h_end[-1, 0].numpy(), atol=1e-6)  # the state the next lesson starts from
    np.testing.assert_allclose(after.hc[-1][1], c_end[-1, 0].numpy(), atol=1e-6)
    assert len(after.outputs) == (cfg.window - 1 if kind == "attention" else 0)
    logits, _ = net(torch.from_numpy(inputs)[None], state)
    torch.nn.functional.cross_entropy(logits[0], torch.from_numpy(targets)).backward()
    top = f"l{layers - 1}"
    learned = [k for k in weights if not k.startswith("lstm.") or k.endswith(top)]
    if layers > 1:
        learned.remove("embedding.weight")  # a deeper model's embedding and lower layers stay
    assert sorted(grads) == sorted(learned)
    for name, g in grads.items():
        np.testing.assert_allclose(g, dict(net.named_parameters())[name].grad.numpy(), atol=2e-6, err_msg=name)


def test_a_lesson_lowers_the_loss_of_what_was_typed_and_a_reset_restores_the_network():
    from charcomplete.config import ModelConfig
    from charcomplete.models import build_model
    from charcomplete.netadapt import NetLearnConfig, NetworkLearner

    import torch

    torch.manual_seed(0)
    cfg = ModelConfig(kind="attention", vocab_size=11, embed=6, hidden=8, layers=1, window=4, dropout=0.0)
    weights = {k: v.detach().numpy().copy() for k, v in build_model(cfg).state_dict().items()}
    before = {k: v.copy() for k, v in weights.items()}
    learner = NetworkLearner(cfg, weights, NetLearnConfig(lr=0.5))
    ids = np.array([1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2, 3])

    def loss(w):
        net = build_model(cfg).eval()
        net.load_state_dict({k: torch.from_numpy(v) for k, v in w.items()})
        with torch.no_grad():
            logits, _ = net(torch.from_numpy(ids[:-1])[None])
        return float(torch.nn.functional.cross_entropy(logits[0, -5:], torch.from_numpy(ids[-5:])))

    start = loss(weights)
    learned, _ = learner.lesson(ids, 5)
    assert learner.lessons == 1 and loss(learned) < start
    assert all(np.array_equal(weights[k], before[k]) for k in weights)  # the network's own weights are never written
    learner.reset()
    assert learner.lessons == 0 and learner.weights is weights


def test_the_completer_network_learns_typed_text_in_lessons_and_a_new_document_starts_over(model_with_memory):
    text = "zebra quokka zebra quokka zebra quokka zebra quokka zebra quokka "
    assert load_completer(model_with_memory, adapt=False).net_learn is None  # --no-adapt: nothing learned
    c = load_completer(model_with_memory, adapt=AdaptiveModel())
    shipped = c._stepper
    c.new_document()
    y, ctx = c.vocab._index["k"], text + "zebra quo"
    c.observe(ctx[:1])
    lessons = 0
    for i in range(2, len(ctx) + 1):
        c.observe(ctx[:i])
        c.probs(ctx[:i])
        due = c.network_lesson_due
        assert c.learn_network() == due
        lessons += due
    assert lessons == c.net_learn.lessons == (len(ctx) - 1) // c.net_learn.learn_cfg.segment
    assert c._stepper is not shipped and c._network is shipped
    assert c.model is shipped.model  # the torch network callers score with is the one loaded, not the learned one
    learned = _softmax(c._stepper.step(c._state_for(ctx[:-1]), c.vocab._index["o"]).logits)[y]
    assert learned > _softmax(shipped.step(c._state_for(ctx[:-1]), c.vocab._index["o"]).logits)[y]
    # typing that is not in a row (a jump, Backspace) starts the count again
    c.observe(ctx + "kk")
    c.observe("somewhere else entirely")
    assert c._net_typed == 0 and not c.network_lesson_due
    c.new_document()
    assert c._stepper is shipped and c.net_learn.lessons == 0 and not c.learn_network()
    # the shipped weights were never written
    np.testing.assert_array_equal(shipped.weights["fc.weight"], load_completer(model_with_memory)._stepper.weights["fc.weight"])


async def test_the_editor_gives_the_network_its_lessons_in_a_pause_in_typing(model_with_memory, tmp_path):
    from charcomplete.adapt import AdaptConfig
    from charcomplete.document import Document
    from charcomplete.tui.app import EditorApp
    from pilot_helpers import until

    p = tmp_path / "notes.txt"
    p.write_text("")
    c = load_completer(model_with_memory, adapt=AdaptiveModel(AdaptConfig(), None))
    app = EditorApp(Document.open(p), c)
    app.learn_neighbours = False
    async with app.run_test() as pilot:
        await pilot.press(*[{" ": "space"}.get(ch, ch) for ch in "zebra quokka zebra quokka"])  # 25 typed: one lesson
        await until(pilot, lambda: c.net_learn.lessons == 1)
        assert c._stepper is not c._network and not c.network_lesson_due
        assert app.editor.text == "zebra quokka zebra quokka"


def test_lessons_go_on_from_the_state_the_last_one_ended_in(model_with_memory):
    """A typed lesson that follows the last one's text starts from the state that lesson ended in
    (its 16 characters, no warm-up); after an edit before it, warm-up characters set the state
    again. A text being read goes on from lesson to lesson the same way."""
    c = load_completer(model_with_memory, adapt=AdaptiveModel())
    calls, real = [], c.net_learn.lesson
    c.net_learn.lesson = lambda ids, n, state=None, lr=None: calls.append((len(ids), n, state is not None)) or real(ids, n, state, lr)
    typed = "zebra quokka " * 8
    for i in range(1, 65):
        c.observe(typed[:i])
        c.learn_network(read=False)
    # at 17 typed (the first character only read), 33 and 49: the first from nothing, the next two carried on
    assert calls == [(17, 16, False), (17, 16, True), (17, 16, True)]
    edited = "A zebra " + typed[2:64]  # an edit before the cursor, then 16 more typed
    for i in range(len(edited) + 1, len(edited) + 18):  # (the first: not typed after the last, counts nothing)
        c.observe((edited + typed)[:i])
    assert c.learn_network(read=False) and calls[-1] == (81, 16, False)  # warm-up 64 again
    # the editor's context window slides forward by whole lines: typing on still carries the state
    c.new_document()
    calls.clear()
    lines = "".join(f"line {i} of the notes, zebra quokka\n" for i in range(6))
    more = "zebra quokka zebra quokka zebra quokka"
    for i in range(len(more) + 1):
        first = len("line 0 of the notes, zebra quokka\n") if i >= 20 else 0  # at 20 typed the first line drops out
        c.observe((lines + more[:i])[first:])
        c.learn_network(read=False)
    assert calls == [(81, 16, False), (17, 16, True)]  # at 16 typed (warm-up 64), at 32 (carried on, across the slide)
    calls.clear()
    c.read("quokka zebra " * 20)
    while c.learn_network():
        pass
    warmup = c.net_learn.learn_cfg.warmup
    per_pass = -(-(260 - warmup - 1) // 16)
    assert len(calls) == 4 * per_pass  # a short text is read 4 times, each from its start
    for p in range(4):
        read = calls[p * per_pass : (p + 1) * per_pass]
        assert read[0] == (warmup + 17, 16, False) and all(k == n + 1 and carried for k, n, carried in read[1:])


def test_the_network_reads_a_document_lesson_by_lesson_typed_text_first(model_with_memory):
    """Completer.read (the editor: the buffer as opened): the network learns the text in lessons of
    segment characters (typed text first), only its last read_chars, a short text read_passes
    times (within read_chars), and a new document forgets it."""
    text = "zebra quokka " * 40  # 520 characters
    c = load_completer(model_with_memory, adapt=AdaptiveModel())
    shipped, cfg = c._stepper, c.net_learn.learn_cfg
    c.read(text)
    assert c.network_reading and not c.network_lesson_due and not c.learn_network(read=False)
    lessons = 0
    while c.learn_network():
        lessons += 1
    per_pass = -(-(len(text) - cfg.warmup - 1) // cfg.segment)
    assert cfg.read_passes == 4 and lessons == c.net_learn.lessons == 4 * per_pass and not c.network_reading
    ctx, y = "zebra quo", c.vocab._index["k"]
    c.observe(ctx)
    learned = _softmax(c._stepper.step(c._state_for(ctx[:-1]), c.vocab._index["o"]).logits)[y]
    assert learned > _softmax(shipped.step(c._state_for(ctx[:-1]), c.vocab._index["o"]).logits)[y]
    # what is typed is learned before the rest of a text being read (a longer one: judged first, then read)
    c.new_document()
    assert c._stepper is shipped and not c.network_reading  # a new document: nothing left to read
    c.net_learn.learn_cfg = cfg = replace(cfg, read_chars=2048, judge_from=1024, read_check=256, judge_chars=2048)  # (a test's sizes)
    c.read("x" * 20_000 + text)
    assert len(c._reading) == cfg.judge_chars and ("x" * 20_000 + text)[: -cfg.read_check].endswith(c._reading)
    typed = "quokka zebra quokka zebra"
    for i in range(1, len(typed) + 1):
        c.observe(typed[:i])
    assert c.network_lesson_due and c.learn_network(read=False) and c._net_typed == 0
    assert c._read_done == len(c._reading) and c.network_reading  # the reading waited, to be judged first
    judging = 1 + -(-cfg.read_check // ReadCheck.STEP)  # a recompute, then the held-out end STEP characters a call
    for _ in range(judging):
        assert c.learn_network() and c.net_learn.lessons == 1
    assert c._read_done == cfg.warmup + 1  # judged: now read
    assert c.learn_network() and c._read_done == cfg.warmup + 1 + cfg.segment
    while c.learn_network():
        pass
    per_pass = -(-(cfg.read_chars - cfg.warmup - 1) // cfg.segment)
    assert 0 <= c.read_kept <= cfg.read_more and c.net_learn.lessons in [1 + k * per_pass for k in range(cfg.read_more + 1)]
    c.new_document()
    assert c.read_kept is None
    c.read(text)  # 520 characters, not over judge_from + read_check: not judged, read 3 times within 2,048
    lessons = 0
    while c.learn_network():
        lessons += 1
    assert lessons == 3 * -(-(len(text) - cfg.warmup - 1) // cfg.segment) and c.read_kept is None
    c.read("")  # a new text replaces what was left
    assert not c.network_reading
    with pytest.raises(TypeError):
        c.read(None)
    off = load_completer(model_with_memory, adapt=False)
    off.read(text)  # --no-adapt: nothing is learned
    assert not off.network_reading and not off.learn_network()



def _network_bits(c, before: str, text: str) -> float:
    """The completer's network alone (its weights now) on `text` after `before`: bits per character."""
    st, nll = c._stepper.recompute(c._ids(before)), 0.0
    for i in c._ids(text).tolist():
        z = st.logits - st.logits.max()
        nll -= float(z[i] - np.log(np.exp(z).sum()))
        st = c._stepper.step(st, i)
    return nll / len(text) / np.log(2)


def _typed_lesson_rate(c, typed: str):
    """The `lr` the completer gives the network's next lesson of typed text (None: NetLearnConfig.lr)."""
    rates, real = [], c.net_learn.lesson
    c.net_learn.lesson = lambda ids, n, state=None, lr=None: rates.append(lr) or real(ids, n, state, lr)
    for i in range(1, len(typed) + 1):
        c.observe(typed[:i])
    assert c.network_lesson_due and c.learn_network(read=False)
    del c.net_learn.lesson
    return rates[-1]


def test_a_longer_text_is_read_again_while_its_held_out_end_says_it_helps(model_with_memory):
    """A text longer than judge_from + read_check: its end is held out; the network reads the
    rest (its last judge_chars), again while each pass lowers its bits on the end by read_gain, up to read_more times,
    and the best weights stay. A repeated text it has not seen: every pass helps until it knows it."""
    text = "the quokka jumps over the zebra; " * 80  # 2,640 characters, none of them the network's training text
    c = load_completer(model_with_memory, adapt=AdaptiveModel())
    shipped = c._stepper
    c.net_learn.learn_cfg = cfg = replace(c.net_learn.learn_cfg, read_chars=2048, judge_from=1024, read_check=256, judge_chars=2048)
    rest, held = text[: -cfg.read_check], text[-cfg.read_check :]
    before = _network_bits(c, rest[-200:], held)
    c.read(text)
    per_pass = -(-(len(c._reading) - cfg.warmup - 1) // cfg.segment)
    calls = 0
    while c.learn_network():
        calls += 1
    kept = c.read_kept
    assert kept >= 1 and c._stepper is not shipped and not c.network_reading
    assert c.net_learn.lessons in [k * per_pass for k in range(kept, cfg.read_more + 1)]
    judging = 1 + -(-cfg.read_check // ReadCheck.STEP)
    assert calls == c.net_learn.lessons + judging * (c.net_learn.lessons // per_pass + 1)  # judged before reading and after each pass
    assert _network_bits(c, rest[-200:], held) < before * (1 - cfg.read_gain)  # the end held out is predicted better
    # what is typed in a text the network learned from is learned at the reading's rate; a new document: the usual one
    assert _typed_lesson_rate(c, text[:40]) == cfg.read_lr
    assert c.net_adapt.rate == cfg.read_lr / cfg.lr  # the output layer's correction as much faster
    c.new_document()
    assert _typed_lesson_rate(c, text[:40]) is None and c.net_adapt.rate == 1.0


def test_a_reading_that_only_hurts_the_held_out_end_is_undone(model_with_memory):
    """A reading whose first pass makes the network worse on the held-out end (the rest of the
    text unlike its end) leaves the network as it was: its own weights, its own predictions; and
    judging takes at most ReadCheck.STEP characters a call (a pause never waits for more)."""
    text = "zq " * 1000 + "the quokka jumps over the zebra; " * 8
    c = load_completer(model_with_memory, adapt=AdaptiveModel())
    fresh = load_completer(model_with_memory, adapt=AdaptiveModel())
    shipped = c._stepper
    c.net_learn.learn_cfg = cfg = replace(c.net_learn.learn_cfg, read_chars=2048, judge_from=1024, read_check=256, judge_chars=2048)
    c.read(text)
    steps = []
    real_step = shipped.step
    shipped.step = lambda st, i: steps.append(i) or real_step(st, i)
    assert c.learn_network() and len(steps) <= 1  # the state before the end: a recompute (its last character stepped)
    steps.clear()
    assert c.learn_network() and len(steps) == ReadCheck.STEP  # then STEP characters of the end
    del shipped.step
    while c.learn_network():
        pass
    assert c.read_kept == 0 and c._stepper is shipped and c.net_learn.weights is c.net_learn.base
    assert c.net_learn.lessons == 0  # (reset: the lessons of the pass undone)
    ctx = "the quokka jumps over the ze"
    c.observe(ctx)
    fresh.observe(ctx)
    np.testing.assert_allclose(c.probs(ctx), fresh.probs(ctx), rtol=1e-6, atol=1e-9)
    assert cfg.read_more > 1  # (it stopped after one pass: the first already hurt)
    assert _typed_lesson_rate(c, "the quokka jumps over the zebra; a") is None  # no pass kept: typed text at the usual rate
    assert c.net_adapt.rate == 1.0


async def test_the_editor_network_reads_the_buffer_as_opened_in_a_pause(model_with_memory, tmp_path):
    from charcomplete.adapt import AdaptConfig
    from charcomplete.document import Document
    from charcomplete.tui.app import EditorApp
    from pilot_helpers import until

    p = tmp_path / "notes.txt"
    p.write_text("zebra quokka\r\n" * 20)
    c = load_completer(model_with_memory, adapt=AdaptiveModel(AdaptConfig(), None))
    app = EditorApp(Document.open(p), c)
    app.learn_neighbours = False
    cfg = c.net_learn.learn_cfg
    async with app.run_test() as pilot:
        await until(pilot, lambda: c.net_learn.lessons == 4 * -(-(13 * 20 - cfg.warmup - 1) // cfg.segment))  # a short text: 4 times
        assert c._reading == "zebra quokka\n" * 20 and c._stepper is not c._network and not c.network_reading
        other = load_completer(model_with_memory, adapt=AdaptiveModel(AdaptConfig(), None))
        await pilot.press("end", "x")
        app._use_model(other, "")  # a model switched to reads the buffer as it is now
        await until(pilot, lambda: other.net_learn.lessons > 0 and not other.network_reading)
        assert other._reading == "zebra quokkax\n" + "zebra quokka\n" * 19
        from charcomplete.tui.learning import READ_QUIET, TYPING_QUIET

        await until(pilot, lambda: not app.editor.learner.busy)
        with app.model.lock:  # the model thread waits: reading starts only in a real pause, typed lessons sooner
            other.read("zebra quokka " * 30)
            assert app.editor._learn_wait(100.0, 100.1) == pytest.approx(READ_QUIET - 0.1)  # (nothing to do: 0.5)
            other._net_typed = other.net_learn.learn_cfg.segment
            assert app.editor._learn_wait(100.0, 100.1) == pytest.approx(TYPING_QUIET - 0.1)
            other._net_typed = 0
    assert p.read_bytes() == b"zebra quokka\r\n" * 20  # reading never writes the file


async def test_the_editor_judges_a_long_buffers_reading_in_its_pauses(model_with_memory, tmp_path):
    """A buffer over judge_from + read_check opened in the editor: its reading is judged in the
    pauses (ReadCheck) to the end, while typing works, and the file is never written."""
    from charcomplete.adapt import AdaptConfig
    from charcomplete.document import Document
    from charcomplete.tui.app import EditorApp
    from pilot_helpers import until

    p = tmp_path / "long.txt"
    body = "the quokka jumps over the zebra;\n" * 90  # 2,970 characters: over 1,024 + 256
    p.write_text(body)
    c = load_completer(model_with_memory, adapt=AdaptiveModel(AdaptConfig(), None))
    c.net_learn.learn_cfg = replace(c.net_learn.learn_cfg, read_chars=2048, judge_from=1024, read_check=256, judge_chars=2048)
    app = EditorApp(Document.open(p), c)
    app.learn_neighbours = False
    async with app.run_test() as pilot:
        await until(pilot, lambda: c.read_kept is not None and not c.network_reading)
        assert c._reading == body[:-256][-2048:] and 0 <= c.read_kept <= c.net_learn.learn_cfg.read_more
        await pilot.press("ctrl+end", "t", "h")
        assert app.editor.text.endswith("th")
    assert p.read_text() == body


def test_only_a_text_longer_than_judge_from_and_its_held_out_end_is_judged(model_with_memory):
    """A text the unjudged reading would read only once is judged; one up to judge_from +
    read_check characters is read as before (again, within read_chars)."""
    c = load_completer(model_with_memory, adapt=AdaptiveModel())
    c.net_learn.learn_cfg = cfg = replace(c.net_learn.learn_cfg, read_chars=2048, judge_from=1024, read_check=256, judge_chars=2048)
    c.read(("ab " * 500)[: cfg.judge_from + cfg.read_check])
    assert c._check is None and c._reading == ("ab " * 500)[: cfg.judge_from + cfg.read_check] and c._read_again == 0
    c.read(("ab " * 500)[: cfg.judge_from + cfg.read_check + 1])
    assert c._check is not None and len(c._reading) == cfg.judge_from + 1  # the held-out end not read
