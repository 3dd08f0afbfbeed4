"""The two next-character models of the origin notebook, predicting at every position.

- `lstm`:      Embedding(V,E) -> LSTM(E->H) -> Linear(H->V)
- `attention`: the same LSTM; at every position t the output h_t is the query of a scaled
               dot-product attention over the last W outputs h_{t-W+1..t} (a causal band;
               keys = Linear(H,H)(outputs), values = outputs); Linear(2H->V) on [h_t; context].
               This is the notebook's computation for the window that ends at t.

One contract for both: `forward(ids, state=None) -> (logits (B,T,V), state)`. The state
carries what the next chunk needs (LSTM h and c; for attention also the last W-1 outputs),
so a long text can be fed chunk by chunk with the same result as in one call.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from charcomplete.config import KINDS, ModelConfig  # noqa: F401 (re-exported for callers that build models)


class CharLSTM(nn.Module):
    """Model 1, `lstm`: Embedding -> LSTM -> Linear on every position."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embed)
        self.lstm = nn.LSTM(
            cfg.embed, cfg.hidden, cfg.layers, batch_first=True, dropout=cfg.dropout if cfg.layers > 1 else 0.0
        )
        self.drop = nn.Dropout(cfg.dropout)
        self.fc = nn.Linear(self.head_width, cfg.vocab_size)

    @property
    def head_width(self) -> int:
        return self.cfg.hidden

    def run_lstm(self, ids, state):
        x = self.embedding(ids)  # (B, T, E)
        out, hc = self.lstm(x, None if state is None else (state[0], state[1]))  # out: (B, T, H)
        return out, hc

    def advance(self, ids: torch.Tensor, state=None):
        """The state after reading `ids` (B, T), without computing any logits (fast)."""
        out, (h, c) = self.run_lstm(ids, state)  # (B, T, H)
        if self.head_width == self.cfg.hidden:
            return (h, c)
        W = self.cfg.window
        mem = state[2] if state is not None and len(state) > 2 else out[:, :0]
        values = torch.cat([mem, out], dim=1)  # (B, M+T, H)
        return (h, c, values[:, -(W - 1) :] if W > 1 else values[:, :0])

    def forward(self, ids: torch.Tensor, state=None, return_attention: bool = False):
        out, (h, c) = self.run_lstm(ids, state)  # (B, T, H)
        logits = self.fc(self.drop(out))  # (B, T, V)
        if return_attention:
            return logits, (h, c), None
        return logits, (h, c)


class AttentionLSTM(CharLSTM):
    """Model 2, `attention`: the LSTM, then attention from h_t over the last W outputs."""

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        self.attn_linear = nn.Linear(cfg.hidden, cfg.hidden)  # keys = attn_linear(outputs)

    @property
    def head_width(self) -> int:
        return 2 * self.cfg.hidden

    def forward(self, ids: torch.Tensor, state=None, return_attention: bool = False):
        B, T = ids.shape
        W, H = self.cfg.window, self.cfg.hidden
        out, (h, c) = self.run_lstm(ids, state)  # (B, T, H)
        mem = state[2] if state is not None and len(state) > 2 else out.new_zeros(B, 0, H)  # (B, M, H)
        M = mem.shape[1]
        values = torch.cat([mem, out], dim=1)  # (B, M+T, H)
        keys = self.attn_linear(values)  # (B, M+T, H)
        scores = out @ keys.transpose(1, 2) / math.sqrt(H)  # (B, T, M+T)
        t = torch.arange(T, device=ids.device).unsqueeze(1) + M  # (T, 1) absolute position of each query
        j = torch.arange(M + T, device=ids.device).unsqueeze(0)  # (1, M+T)
        band = (j <= t) & (j > t - W)  # (T, M+T) the causal band of width W
        weights = torch.softmax(scores.masked_fill(~band, float("-inf")), dim=-1)  # (B, T, M+T)
        context = weights @ values  # (B, T, H)
        logits = self.fc(self.drop(torch.cat([out, context], dim=-1)))  # (B, T, V)
        new_state = (h, c, values[:, -(W - 1) :] if W > 1 else values[:, :0])
        if not return_attention:
            return logits, new_state
        # the band as (B, T, W): weight on h_{t-W+1} ... h_t (0 where there was no earlier text)
        idx = (t - W + 1 + torch.arange(W, device=ids.device)).clamp(min=0)  # (T, W)
        band_w = weights.gather(2, idx.unsqueeze(0).expand(B, T, W))  # (B, T, W)
        band_w = band_w.masked_fill((t - W + 1 + torch.arange(W, device=ids.device) < 0).unsqueeze(0), 0.0)
        return logits, new_state, band_w


MODELS = {"lstm": CharLSTM, "attention": AttentionLSTM}


def build_model(cfg: ModelConfig) -> CharLSTM:
    """The model for `cfg`; its parameters are exactly `config.param_shapes(cfg)`."""
    return MODELS[cfg.validate().kind](cfg)


def detach_state(state):
    return None if state is None else tuple(s.detach() for s in state)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
