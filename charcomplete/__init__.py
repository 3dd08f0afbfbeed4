"""charcomplete: a terminal text editor that completes what you type with small local
character-level models (an LSTM, or an LSTM with attention)."""

__version__ = "0.1.0"
