"""What a model is, without torch: its kind and sizes (`ModelConfig`) and the names and shapes
of its parameters (`param_shapes`).

`param_shapes` is the one definition of the tensors a checkpoint holds: the torch modules in
models.py must produce exactly these (tests/test_models.py checks every kind), checkpoint.py
validates files against them before building anything, and the Completer's numpy step reads
its weights by these names.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from charcomplete.errors import ConfigError

KINDS = ("lstm", "attention")
# upper bounds of every size a checkpoint or a command line may ask for: a file claiming
# `layers: 100000` or `hidden: 10**9` is refused before anything is built
LIMITS = {"vocab_size": 1 << 21, "embed": 4096, "hidden": 4096, "layers": 16, "window": 4096}


@dataclass
class ModelConfig:
    kind: str = "lstm"  # "lstm" or "attention"
    vocab_size: int = 0  # number of ids, <unk> included (set from the corpus)
    embed: int = 64  # embedding width E
    hidden: int = 256  # LSTM width H
    layers: int = 1  # stacked LSTM layers
    window: int = 32  # attention: how many recent outputs (the current one included) h_t attends over
    dropout: float = 0.0  # dropout between LSTM layers and before the output layer (training only)

    def validate(self) -> "ModelConfig":
        if self.kind not in KINDS:
            raise ConfigError(f"unknown model kind {self.kind!r} (choose from {', '.join(KINDS)})")
        for name, limit in LIMITS.items():
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"model config: {name} must be a positive integer, got {v!r}")
            if v > limit:
                raise ConfigError(f"model config: {name} is {v}, more than the largest supported ({limit})")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) or not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model config: dropout must be in [0, 1), got {self.dropout!r}")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        if not isinstance(d, dict):
            raise ConfigError("model config must be an object")
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ConfigError(f"model config: unknown fields {sorted(unknown)}")
        return cls(**d).validate()


def param_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every parameter of a model with this config (torch's state_dict names)."""
    V, E, H = cfg.vocab_size, cfg.embed, cfg.hidden
    shapes: dict[str, tuple[int, ...]] = {"embedding.weight": (V, E)}
    for i in range(cfg.layers):
        shapes[f"lstm.weight_ih_l{i}"] = (4 * H, E if i == 0 else H)  # gates i, f, g, o
        shapes[f"lstm.weight_hh_l{i}"] = (4 * H, H)
        shapes[f"lstm.bias_ih_l{i}"] = (4 * H,)
        shapes[f"lstm.bias_hh_l{i}"] = (4 * H,)
    head = 2 * H if cfg.kind == "attention" else H  # attention: the head reads [h_t; context]
    shapes["fc.weight"] = (V, head)
    shapes["fc.bias"] = (V,)
    if cfg.kind == "attention":
        shapes["attn_linear.weight"] = (H, H)  # keys = attn_linear(outputs)
        shapes["attn_linear.bias"] = (H,)
    return shapes
