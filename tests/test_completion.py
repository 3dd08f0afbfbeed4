"""The Completer: incremental == full recompute, probabilities, the suggestion policy."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

import charcomplete.native as native
from charcomplete.completion import Policy, load_completer

CONTEXT = "the quick brown fox jumps over the lazy dog.\nthe lazy dog sle"


def reference_probs(c, text: str) -> np.ndarray:
    """Softmax of the model's last logits over `text`, in one torch call, after the blank line
    that a Completer's short context starts after (completion._tail)."""
    from charcomplete.completion import START

    ids = torch.from_numpy(c.vocab.encode(START + text).astype(np.int64))[None]
    with torch.no_grad():
        logits, _ = c.model(ids)
    return torch.softmax(logits[0, -1], -1).numpy()


def tol(c) -> float:
    """How close a Completer's probabilities come to the torch network's: 1e-5 in numpy (float32,
    as torch), 1e-2 through network.c, whose weights are int8 (tests/test_network_c.py: what numpy computes with
    the same weights, to 1e-6; here, tiny networks trained a few steps, a few 1e-3 from their float32 weights)."""
    return 1e-2 if c._stepper.native else 1e-5


@pytest.fixture(params=["c", "numpy"])
def step_path(request, monkeypatch):
    """The network stepped by network.c (where it could be built) or, as without a compiler, numpy."""
    if request.param == "numpy":
        monkeypatch.setitem(native._loaded, "network", None)
    return request.param


def as_array(c, probs: dict) -> np.ndarray:
    return np.array([probs[c.vocab.token(i)] for i in range(len(c.vocab))])


@pytest.mark.parametrize("kind", ["lstm", "attention"])
def test_incremental_equals_full_recompute(tiny_checkpoints, kind, step_path):
    inc = load_completer(tiny_checkpoints[kind])
    lib = native.library("network")
    assert inc._stepper.native == (step_path == "c" and lib is not None and lib.net_vectorised() == 1)  # C where it vectorises
    for i in range(1, len(CONTEXT) + 1):  # typed one character at a time
        inc.suggest(CONTEXT[:i])
    fresh = load_completer(tiny_checkpoints[kind])
    a, b = as_array(inc, inc.next_char_probs(CONTEXT)), as_array(fresh, fresh.next_char_probs(CONTEXT))
    ref = reference_probs(fresh, CONTEXT)
    assert np.abs(a - b).max() < 1e-5
    assert np.abs(a - ref).max() < tol(fresh)


@pytest.mark.parametrize("kind", ["lstm", "attention"])
def test_long_extension_recomputes_and_still_matches(tiny_checkpoints, kind):
    c = load_completer(tiny_checkpoints[kind], max_extend=4)
    c.suggest(CONTEXT[:10])
    got = as_array(c, c.next_char_probs(CONTEXT))  # 50+ new characters: recomputed
    assert np.abs(got - reference_probs(c, CONTEXT)).max() < tol(c)
    c.suggest(CONTEXT[:-3])  # backspace: not an extension, recomputed
    assert np.abs(as_array(c, c.next_char_probs(CONTEXT[:-3])) - reference_probs(c, CONTEXT[:-3])).max() < tol(c)


def test_next_char_probs_sum_to_one_and_include_unk(tiny_checkpoints):
    c = load_completer(tiny_checkpoints["lstm"])
    p = c.next_char_probs("the lazy d")
    assert "<unk>" in p and len(p) == len(c.vocab)
    assert abs(sum(p.values()) - 1) < 1e-5
    assert max(p, key=p.get) == "o"  # the tiny model learned its corpus


def test_suggest_completes_a_learned_word(tiny_checkpoints):
    c = load_completer(tiny_checkpoints["attention"])
    s = c.suggest("the quick br")
    assert s.text.startswith("own")
    assert 0 < s.confidence <= 1 and len(s.char_probs) == len(s.text)
    assert abs(np.prod(s.char_probs) - s.confidence) < 1e-6
    assert s.attention is not None and abs(sum(s.attention) - 1) < 1e-5
    assert len(s.attention) == len(s.attention_text) == c.W


def test_no_ghost_before_anything_is_typed(tiny_checkpoints):
    """An empty (or blank) document gets no ghost, even from a policy that always continues: the
    networks read streams, not documents, and guess indentation there."""
    always = Policy(boundary="phrase", threshold=0.0, min_chars=1, max_chars=4)
    c = load_completer(tiny_checkpoints["attention"], policy=always, adapt=True, save_history=False)
    for blank in ("", "\n", " \n\t\n  "):
        c.observe(blank)
        assert c.suggest(blank).text == "" and c.alternatives(blank) == []
    c.observe(" \n\t\n  t")
    assert c.suggest(" \n\t\n  t").text != ""  # one character typed: ghosts again


def test_lstm_has_no_attention(tiny_checkpoints):
    s = load_completer(tiny_checkpoints["lstm"]).suggest("the quick br")
    assert s.attention is None


def test_suggest_honours_max_chars_and_threshold(tiny_checkpoints):
    c = load_completer(tiny_checkpoints["lstm"])
    c.policy = Policy(max_chars=16, min_chars=1, threshold=0.0, boundary="phrase")
    assert len(c.suggest("the quick b").text) == 16
    assert len(c.suggest("the quick b", max_chars=5).text) == 5
    c.policy = Policy(threshold=0.999999)
    assert c.suggest("the quick b").text == ""
    c.policy = Policy(min_chars=50)
    assert c.suggest("the quick b").text == ""


def test_word_boundary_policy_stops_after_the_word(tiny_checkpoints):
    c = load_completer(tiny_checkpoints["lstm"])
    c.policy = Policy(threshold=0.0, boundary="word")
    text = c.suggest("the quick br").text
    assert text.rstrip(" ") == "own" or text.count(" ") <= 1 and text.endswith(" ")


def test_alternatives_distinct_best_first(tiny_checkpoints):
    c = load_completer(tiny_checkpoints["attention"])
    alts = c.alternatives("the ", k=3)
    assert 1 <= len(alts) <= 3
    assert len({a.text for a in alts}) == len(alts)
    assert alts[0].text == c.suggest("the ").text


def test_alternatives_never_unk_never_more_than_k_one_start_each_and_a_context_must_be_text(tiny_checkpoints):
    """API fuzz: k near the vocabulary's size gave a literal '<unk>'; k <= 0 gave one; the
    "phrase" policy gave two starting alike; observe(42) broke every later call until a new
    document, and suggest(None) returned nothing silently."""
    c = load_completer(tiny_checkpoints["lstm"])
    ctx = "漢字 \u2603 the qu"
    for k in (len(c.vocab), len(c.vocab) + 5):
        alts = c.alternatives(ctx, k=k, max_chars=2)
        assert all("<unk>" not in a.text and len(a.text) <= 2 for a in alts)
    assert c.alternatives("the qu", k=0) == [] and c.alternatives("the qu", k=-1) == []
    c.policy.boundary = "phrase"
    firsts = [a.text[0] for a in c.alternatives("To be, or not to b", k=3)]
    assert len(firsts) == len(set(firsts))
    for bad in (42, None, b"the qu", ["a"]):
        with pytest.raises(TypeError, match="context must be a str"):
            c.observe(bad)
        with pytest.raises(TypeError, match="context must be a str"):
            c.suggest(bad)
    c.observe("the qu")
    assert isinstance(c.suggest("the qu").text, str)


@pytest.mark.parametrize("context", ["", "😀🎉", "日本語のテキスト", "\x00\x07\x1b[31m", "a\r\nb\rc", "\ud800 lone surrogate"])
def test_any_unicode_context(tiny_checkpoints, context):
    for kind in ("lstm", "attention"):
        c = load_completer(tiny_checkpoints[kind])
        s = c.suggest(context)
        assert isinstance(s.text, str) and "<unk>" not in s.text
        p = c.next_char_probs(context)
        assert abs(sum(p.values()) - 1) < 1e-5 and all(np.isfinite(list(p.values())))


def test_megabyte_context(tiny_checkpoints):
    c = load_completer(tiny_checkpoints["attention"])
    big = ("the lazy dog sleeps. " * 60000)[:1_000_000]
    s = c.suggest(big)
    assert isinstance(s.text, str)
    s2 = c.suggest(big + "t")  # incremental from a 1 MB context
    assert isinstance(s2.text, str)


def test_typing_past_the_output_buffer_still_matches(tiny_checkpoints):
    """1,100 characters typed one by one: the attention outputs' buffer (1,024 rows) rolls over."""
    c = load_completer(tiny_checkpoints["attention"])
    text = ("the quick brown fox jumps over the lazy dog. " * 30)[:1100]
    for i in range(1, len(text) + 1, 7):
        c.suggest(text[:i])
    got = as_array(c, c.next_char_probs(text))
    assert np.abs(got - reference_probs(c, text)).max() < tol(c)


def test_savings_policy_keeps_the_length_with_most_expected_savings(tiny_checkpoints):
    c = load_completer(tiny_checkpoints["attention"])
    ctx = "the lazy dog sleeps while the q"
    c.policy = Policy(max_chars=16, threshold=0.02, boundary="phrase")  # the same greedy path, unpruned
    grown = c.suggest(ctx)
    cum = np.cumprod(grown.char_probs)
    k = int(np.argmax(cum * np.arange(len(cum)))) + 1
    c.policy = Policy(max_chars=16, threshold=0.02, boundary="savings", show_threshold=0.0, start_chars=0, read_cost=0.0, first_chars=1, lookahead=0)
    kept = c.suggest(ctx)
    assert kept.text == grown.text[:k]
    assert abs(kept.confidence - cum[k - 1]) < 1e-6
    c.policy = Policy(max_chars=16, threshold=0.02, boundary="savings", show_threshold=min(1.0, cum[k - 1] + 1e-3), start_chars=0, read_cost=0.0,
                      first_chars=1, lookahead=0)
    assert c.suggest(ctx).text == ""


def test_read_cost_keeps_the_length_with_most_savings_less_reading(tiny_checkpoints):
    """Each shown character costs read_cost: the kept length maximises (P(k right) - cost) * (k - 1),
    so a costlier read keeps a shorter, surer ghost (and none when no length pays)."""
    c = load_completer(tiny_checkpoints["attention"])
    ctx = "the lazy dog sleeps while the q"
    c.policy = Policy(max_chars=16, threshold=0.001, boundary="phrase")
    cum = np.cumprod(c.suggest(ctx).char_probs)
    lengths = []
    for cost in (0.0, float(cum[len(cum) // 2]), float(cum[1]) + 1e-3):
        c.policy = Policy(max_chars=16, threshold=0.001, boundary="savings", show_threshold=0.0, start_chars=0, read_cost=cost, first_chars=1,
                          lookahead=0)
        want = int(np.argmax((cum - cost) * np.arange(len(cum)))) + 1
        kept = c.suggest(ctx).text
        assert len(kept) == (want if want >= 2 else 0)
        lengths.append(len(kept))
    assert lengths[0] >= 2 and lengths[0] >= lengths[1] >= lengths[2] == 0


def test_lookahead_stops_growing_past_the_best_length(tiny_checkpoints):
    """With lookahead L a continuation stops growing once L characters have not raised its expected
    savings: the ghost kept is the best length up to there (lookahead 1: the first local maximum)."""
    c = load_completer(tiny_checkpoints["attention"])
    kept = {}
    for ctx in ("the lazy dog sleeps while the q", "the quick brown fox jum", "while the l"):
        c.policy = Policy(max_chars=16, threshold=0.001, boundary="phrase")
        cum = np.cumprod(c.suggest(ctx).char_probs)
        values = (cum - 0.05) * np.arange(len(cum))  # the savings of keeping k = 1..n characters
        for ahead in (0, 1, 2):
            best, best_k = 0.0, 1
            for k in range(1, len(cum) + 1):
                if values[k - 1] > best:
                    best, best_k = values[k - 1], k
                if ahead and k - best_k >= ahead:
                    break
            c.policy = Policy(max_chars=16, threshold=0.001, boundary="savings", show_threshold=0.0, start_chars=0, read_cost=0.05, first_chars=1,
                              lookahead=ahead)
            got = c.suggest(ctx).text
            assert len(got) == (best_k if best_k >= 2 else 0), (ctx, ahead)
            kept[ctx, ahead] = len(got)
    assert any(kept[ctx, 1] < kept[ctx, 0] for ctx, _ in kept)  # lookahead 1 did stop early somewhere


def test_cpu_completer_never_imports_torch(tiny_checkpoints):
    """On the CPU the weights load with numpy and a jump recomputes in numpy: no torch at all."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from charcomplete.completion import load_completer\n"
        f"c = load_completer({str(tiny_checkpoints['attention'])!r}, device='cpu')\n"
        "c.suggest('the quick br'); c.suggest('x' * 300); c.next_char_probs('the lazy d')\n"
        "c = load_completer({!r}, device='auto')\n"
        "c.suggest('the quick br')\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print('ok', c.device)\n"
    ).replace("{!r}", repr(str(tiny_checkpoints["lstm"])))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok")


@pytest.mark.parametrize("kind", ["lstm", "attention"])
def test_numpy_recompute_matches_torch_with_two_layers(kind, step_path):
    """The recompute runs layer by layer: a 2-layer network (random weights) equals torch."""
    from charcomplete.completion import Completer
    from charcomplete.models import ModelConfig, build_model
    from charcomplete.vocab import Vocab

    torch.manual_seed(0)
    vocab = Vocab.build(CONTEXT)
    net = build_model(ModelConfig(kind=kind, vocab_size=len(vocab), embed=8, hidden=12, layers=2, window=5)).eval()
    c = Completer(net, vocab)
    for text in (CONTEXT, CONTEXT[:1], CONTEXT[:7]):
        c.reset()
        assert np.abs(as_array(c, c.next_char_probs(text)) - reference_probs(c, text)).max() < tol(c)


def test_numpy_completer_builds_its_torch_model_on_demand(tiny_checkpoints):
    """`Completer.model` (score_text, eval) is the torch network, built from the numpy weights."""
    from charcomplete.evaluate import score_text

    c = load_completer(tiny_checkpoints["lstm"])
    assert isinstance(c.model, torch.nn.Module) and c.model is c.model
    assert score_text(c.model, c.vocab, CONTEXT)


def test_savings_stops_growing_early_with_the_same_result(tiny_checkpoints):
    """The savings rule stops stepping once no longer continuation can beat the best length so far;
    what it shows is exactly what growing to the end and then choosing would show."""
    c = load_completer(tiny_checkpoints["attention"])
    text = "the quick brown fox jumps over the lazy dog. the dog sleeps while the fox runs. "
    shown = 0
    for cost in (0.0, 0.05, 0.2):
        for end in range(3, len(text), 3):
            ctx = text[:end]
            c.policy = Policy(max_chars=16, threshold=0.02, boundary="phrase")
            grown = c.suggest(ctx)
            cum = np.cumprod(grown.char_probs)
            want = ""
            if grown.text:
                k = int(np.argmax((cum - cost) * np.arange(len(cum)))) + 1
                want = grown.text[:k] if cum[k - 1] >= 0.1 and k >= 2 else ""
            c.policy = Policy(max_chars=16, threshold=0.02, boundary="savings", show_threshold=0.1, start_chars=0, read_cost=cost, first_chars=1,
                              lookahead=0)
            assert c.suggest(ctx).text == want, (cost, ctx)
            shown += bool(want)
    assert shown >= 10  # the rule was exercised


@pytest.mark.parametrize("kind", ["lstm", "attention"])
def test_a_window_that_slid_forward_is_stepped_not_recomputed(tiny_checkpoints, kind):
    """The editor's context drops whole lines at its start as the cursor moves down: the cached
    state has read them, so only the new characters are stepped."""
    c = load_completer(tiny_checkpoints[kind])
    first = "the lazy dog sleeps.\nthe quick brown fox jumps over the lazy dog.\nthe dog "
    c.suggest(first)
    calls = []
    recompute = c._stepper.recompute
    c._stepper.recompute = lambda ids: calls.append(len(ids)) or recompute(ids)
    slid = first[len("the lazy dog sleeps.\n") :] + "sle"
    got = as_array(c, c.next_char_probs(slid))
    assert calls == []  # stepped: three characters
    assert np.abs(got - reference_probs(c, first + "sle")).max() < tol(c)  # what it has read
    c.next_char_probs("something else entirely, thirty-two characters or more")
    assert len(calls) == 1  # not a slide: recomputed


@pytest.mark.parametrize("kind", ["lstm", "attention"])
def test_backspace_goes_back_to_a_kept_state_and_typing_on_from_it_stays_exact(tiny_checkpoints, kind):
    """Backspace gives a context the Completer stepped through a moment ago: its state comes
    back without a recompute, and the states stepped from it (ghosts grown, other characters
    typed) equal a model run over the text in one call, though they reuse the attention buffer
    rows that the deleted characters' states read."""
    c = load_completer(tiny_checkpoints[kind])
    calls = []
    recompute = c._stepper.recompute
    c._stepper.recompute = lambda ids: calls.append(len(ids)) or recompute(ids)
    text = ""
    rng = np.random.default_rng(0)
    for step, ch in enumerate("the lazy dog sleeps while the quick brown fox jumps over the dog"):
        text += ch
        c.suggest(text)  # grows ghosts: states stepped ahead of the text
        if step % 7 == 6:  # a typo: a character or two, then Backspace over them and two right ones
            typed = text + "xq"[: int(rng.integers(1, 3))]
            c.suggest(typed)
            while len(typed) > len(text) - 2:
                typed = typed[:-1]
                c.suggest(typed)
            text = typed
        got = as_array(c, c.next_char_probs(text))
        assert np.abs(got - reference_probs(c, text)).max() < tol(c), (step, text)
    assert calls == [3]  # the first character only (after the blank line a document starts with): every Backspace found its state


def test_the_kept_states_are_bounded_and_a_deeper_backspace_recomputes(tiny_checkpoints):
    from charcomplete.completion import TRAIL

    c = load_completer(tiny_checkpoints["attention"], max_extend=200)
    text = ("the quick brown fox jumps over the lazy dog. " * 3)[:TRAIL + 20]
    for i in range(1, len(text) + 1):
        c.next_char_probs(text[:i])
    assert len(c._trail) == TRAIL
    calls = []
    recompute = c._stepper.recompute
    c._stepper.recompute = lambda ids: calls.append(len(ids)) or recompute(ids)
    c.next_char_probs(text[: len(text) - TRAIL + 1])  # the oldest kept
    assert calls == []
    c.next_char_probs(text[:10])  # older than that: recomputed
    assert len(calls) == 1
    assert np.abs(as_array(c, c.next_char_probs(text[:10])) - reference_probs(c, text[:10])).max() < tol(c)


def test_other_first_characters_are_tried_and_the_most_savings_kept(tiny_checkpoints):
    """first_chars=3: the ghost is the best, by (P - read_cost) * (len - 1), of the greedy
    continuations from the three likeliest first characters (what the greedy one alone missed)."""
    c = load_completer(tiny_checkpoints["attention"])
    text = "the quick brown fox jumps over the lazy dog. the dog sleeps while the fox runs. "
    better = 0
    for end in range(2, len(text)):
        ctx = text[:end]
        p = c.probs(ctx).copy()
        p[0] = 0.0
        c.policy = Policy(show_threshold=0.05, start_chars=0, read_cost=0.0, first_chars=1)
        greedy = c.suggest(ctx)
        tries = [c._continue(c._state_for(ctx), ctx, int(i), None) for i in np.argsort(-p)[:3]]
        want = max([greedy] + tries, key=c._savings)
        c.policy = Policy(show_threshold=0.05, start_chars=0, read_cost=0.0, first_chars=3)
        got = c.suggest(ctx)
        assert c._savings(got) == pytest.approx(c._savings(want)), ctx
        better += c._savings(got) > c._savings(greedy) + 1e-9
    assert better >= 1  # the tiny model's greedy path is beaten somewhere


@pytest.mark.parametrize("first_chars", [1, 2])
def test_a_documents_start_asks_more_of_a_ghost(tiny_checkpoints, first_chars):
    """While the context is shorter than start_chars (a note's first characters, nothing of it
    learned yet) a ghost must be start_threshold likely, not show_threshold; from there on the
    same ghost is shown again."""
    c = load_completer(tiny_checkpoints["attention"])
    ctx = "the quick brown fox jumps over the lazy dog. the qu"
    pol = Policy(show_threshold=0.0, start_chars=0, read_cost=0.0, first_chars=first_chars)
    c.policy = pol
    ghost = c.suggest(ctx)
    assert ghost.text
    above = min(1.0, ghost.confidence + 1e-3)
    c.policy = replace(pol, start_chars=len(ctx) + 1, start_threshold=above)
    assert c.suggest(ctx).text == ""  # at the start: not likely enough
    c.policy = replace(pol, start_chars=len(ctx) + 1, start_threshold=ghost.confidence - 1e-3)
    assert c.suggest(ctx).text == ghost.text
    c.policy = replace(pol, start_chars=len(ctx), start_threshold=above)  # a context as long as start_chars: past the start
    assert c.suggest(ctx).text == ghost.text
    assert Policy().start_threshold > Policy().show_threshold  # the shipped policy asks more at the start


@pytest.mark.parametrize("kind", ["lstm", "attention"])
def test_typing_what_the_ghost_began_with_takes_no_network_step(tiny_checkpoints, kind):
    """The suggestion already stepped its first character: typing it reuses that state (and the
    result is still the network's over the text, as the incremental test checks)."""
    c = load_completer(tiny_checkpoints[kind])
    ctx = "the lazy dog sleeps while the q"
    ghost = c.suggest(ctx).text
    assert ghost
    steps = []
    step = c._stepper.step
    c._stepper.step = lambda st, i: steps.append(i) or step(st, i)
    got = as_array(c, c.next_char_probs(ctx + ghost[0]))
    assert steps == []
    assert np.abs(got - reference_probs(c, ctx + ghost[0])).max() < tol(c)


@pytest.mark.parametrize("kind", ["lstm", "attention"])
def test_states_kept_along_suggestions_give_what_a_fresh_completer_gives(tiny_checkpoints, kind):
    """Typing along a suggestion reuses every state its continuations stepped (both first
    characters, the alternatives), and stepping a new branch never spoils a kept one: whatever is
    typed — the ghost, part of it, something else, a deletion — the probabilities are the
    network's over the text and the suggestions are a fresh completer's."""
    c = load_completer(tiny_checkpoints[kind])
    fresh = load_completer(tiny_checkpoints[kind])
    pol = Policy(show_threshold=0.05, start_chars=0, read_cost=0.0, first_chars=3)
    c.policy = fresh.policy = pol
    rng = np.random.default_rng(0)
    ctx, reused, steps = "the lazy dog sleeps while the ", 0, []
    step = c._stepper.step
    c._stepper.step = lambda st, i: steps.append(i) or step(st, i)
    for n in range(60):
        s = c.suggest(ctx)
        fresh.reset()
        want = fresh.suggest(ctx)
        assert s.text == want.text and s.char_probs == pytest.approx(want.char_probs, abs=1e-6), ctx
        if n % 7 == 0:
            assert [a.text for a in c.alternatives(ctx)] == [a.text for a in fresh.alternatives(ctx)]
        roll = rng.random()
        if s.text and roll < 0.5:
            typed = s.text[: 1 + int(rng.integers(len(s.text)))]  # some or all of the ghost
        elif roll < 0.9:
            typed = "thequickbrownfox "[int(rng.integers(17))]
        else:
            ctx, typed = ctx[:-1], ""  # a deletion
        before = len(steps)
        ctx += typed
        got = as_array(c, c.next_char_probs(ctx))
        reused += bool(typed) and len(steps) == before
        assert np.abs(got - reference_probs(c, ctx)).max() < tol(c), ctx
    assert reused >= 10  # states were reused


def test_a_wider_network_recomputes_from_fewer_characters_after_a_jump():
    """A jump recomputes from the last context_chars characters: in numpy 160 for a network 256
    wide or less, fewer for a wider one (each of its steps costs more), never under 64; with
    network.c 256 up to 256 wide; an explicit value stays; a 512-wide network reads only its last
    96 characters, and gives what a recompute of exactly those gives."""
    from charcomplete.completion import Completer, recompute_chars
    from charcomplete.models import ModelConfig, build_model
    from charcomplete.vocab import Vocab

    assert [recompute_chars(h) for h in (8, 256, 384, 512, 4096)] == [160, 160, 128, 96, 64]
    assert [recompute_chars(h, native=True) for h in (8, 256, 384, 512, 4096)] == [256, 256, 128, 96, 64]
    torch.manual_seed(0)
    vocab = Vocab.build(CONTEXT)
    net = build_model(ModelConfig(kind="lstm", vocab_size=len(vocab), embed=4, hidden=512, window=4)).eval()
    assert Completer(net, vocab, context_chars=300).context_chars == 300
    c = Completer(net, vocab)
    assert c.context_chars == 96
    read = []
    recompute = c._stepper.recompute
    c._stepper.recompute = lambda ids: read.append(len(ids)) or recompute(ids)
    text = (CONTEXT * 20)[:500]
    got = as_array(c, c.next_char_probs(text))
    assert read == [96]
    c.reset()
    assert np.abs(got - as_array(c, c.next_char_probs(text[-96:]))).max() < 1e-6
