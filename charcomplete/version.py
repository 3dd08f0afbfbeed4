"""The version of charcomplete (the one place it is written; pyproject.toml says the same)."""

__version__ = "0.1.0"
