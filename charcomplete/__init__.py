"""charcomplete: a terminal text editor that completes what you type with small local
character-level models (an LSTM, or an LSTM with attention).

    from charcomplete import load_completer
    c = load_completer("prose", device="cpu")
    c.suggest("To be, or not to b").text
"""

from charcomplete.version import __version__

__all__ = ["load_completer", "Completer", "Suggestion", "Policy", "__version__"]


def __getattr__(name):
    # lazy: `import charcomplete` (and `charcomplete --help`) must not import torch
    if name in ("load_completer", "Completer", "Suggestion", "Policy"):
        from charcomplete import completion

        return getattr(completion, name)
    raise AttributeError(name)
