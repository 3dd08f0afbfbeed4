"""Models: shapes, causality, chunked == one call, attention weights, config validation."""

from __future__ import annotations

import pytest
import torch

from charcomplete.models import KINDS, ModelConfig, build_model

V = 23


def _model(kind: str, **kw):
    torch.manual_seed(0)
    cfg = ModelConfig(kind=kind, vocab_size=V, embed=16, hidden=32, window=5, **kw)
    return build_model(cfg).eval()


def _ids(B: int = 2, T: int = 17, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, V, (B, T), generator=g)


@pytest.mark.parametrize("kind", KINDS)
def test_shapes_and_state(kind):
    m = _model(kind)
    ids = _ids(3, 11)
    logits, state = m(ids)
    assert logits.shape == (3, 11, V)
    h, c = state[0], state[1]
    assert h.shape == (1, 3, 32) and c.shape == (1, 3, 32)
    if kind == "attention":
        assert state[2].shape == (3, 4, 32)  # the last W-1 outputs
    else:
        assert len(state) == 2


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layers", [1, 2])
def test_causal_a_later_character_never_changes_earlier_logits(kind, layers):
    m = _model(kind, layers=layers)
    ids = _ids(2, 20)
    before, _ = m(ids)
    for pos in (0, 7, 19):
        changed = ids.clone()
        changed[:, pos] = (changed[:, pos] + 1) % V
        after, _ = m(changed)
        assert torch.allclose(before[:, :pos], after[:, :pos], atol=1e-6, rtol=0)
        # ...and the change does reach its own position (the test can fail)
        assert not torch.allclose(before[:, pos], after[:, pos], atol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("cuts", [(1,), (3, 4), (2, 9, 10, 16)])
def test_chunked_forward_equals_one_call(kind, cuts):
    m = _model(kind, layers=2)
    ids = _ids(2, 23)
    whole, whole_state = m(ids)
    parts, state, start = [], None, 0
    with torch.no_grad():
        for end in (*cuts, ids.shape[1]):
            logits, state = m(ids[:, start:end], state)
            parts.append(logits)
            start = end
    chunked = torch.cat(parts, dim=1)
    assert torch.allclose(whole, chunked, atol=1e-5, rtol=0)
    for a, b in zip(whole_state, state):
        assert torch.allclose(a, b, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", KINDS)
def test_advance_then_forward_equals_one_call(kind):
    m = _model(kind)
    ids = _ids(2, 19)
    whole, _ = m(ids)
    with torch.no_grad():
        state = m.advance(ids[:, :12])
        rest, _ = m(ids[:, 12:], state)
    assert torch.allclose(whole[:, 12:], rest, atol=1e-5, rtol=0)


def test_attention_weights_are_a_causal_band():
    m = _model("attention")
    W = m.cfg.window
    ids = _ids(2, 9)
    logits, _, attn = m(ids, return_attention=True)
    assert attn.shape == (2, 9, W)
    assert torch.all(attn >= 0)
    assert torch.allclose(attn.sum(-1), torch.ones(2, 9), atol=1e-5)
    # at position t < W-1 there are only t+1 outputs to attend to: the leading slots are empty
    for t in range(W - 1):
        assert torch.all(attn[:, t, : W - 1 - t] == 0)
        assert torch.all(attn[:, t, W - 1 - t :].sum(-1) > 0.999)
    # the same logits as without asking for the weights
    plain, _ = m(ids)
    assert torch.allclose(logits, plain)
    # in a second chunk the band reaches back into the carried outputs
    _, state = m(ids)
    _, _, attn2 = m(ids[:, :3], state, return_attention=True)
    assert torch.allclose(attn2.sum(-1), torch.ones(2, 3), atol=1e-5)
    assert torch.all(attn2[:, 0, 0] > 0)


def test_lstm_returns_no_attention():
    m = _model("lstm")
    out = m(_ids(1, 4), return_attention=True)
    assert len(out) == 3 and out[2] is None


def test_window_one_attends_only_to_itself():
    torch.manual_seed(0)
    m = build_model(ModelConfig(kind="attention", vocab_size=V, embed=8, hidden=16, window=1)).eval()
    ids = _ids(1, 6)
    _, state, attn = m(ids, return_attention=True)
    assert attn.shape == (1, 6, 1) and torch.allclose(attn, torch.ones_like(attn))
    assert state[2].shape[1] == 0
    whole, _ = m(ids)
    a, s = m(ids[:, :2])
    b, _ = m(ids[:, 2:], s)
    assert torch.allclose(whole, torch.cat([a, b], 1), atol=1e-5)


@pytest.mark.parametrize(
    "bad",
    [
        dict(kind="gru"),
        dict(vocab_size=0),
        dict(hidden=-1),
        dict(window=0),
        dict(layers=1.5),
        dict(embed=True),
        dict(dropout=1.0),
        dict(dropout="0.1"),
    ],
)
def test_config_validation(bad):
    cfg = dict(kind="lstm", vocab_size=5)
    cfg.update(bad)
    with pytest.raises(ValueError):
        ModelConfig(**cfg).validate()


def test_config_dict_round_trip_and_unknown_fields():
    cfg = ModelConfig(kind="attention", vocab_size=7, window=3)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown fields"):
        ModelConfig.from_dict({**cfg.to_dict(), "evil": 1})
    with pytest.raises(ValueError):
        ModelConfig.from_dict(["not", "a", "dict"])
