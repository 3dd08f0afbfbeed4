"""Where things live on disk: the user's data dir and its folders, and the shipped models.

`CHARCOMPLETE_DATA_DIR` overrides the platform's data dir (platformdirs). Nothing here
creates a folder until a caller writes (`make_folder`).
"""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """The user's charcomplete folder (models, adaptation history, recovery files)."""
    base = os.environ.get("CHARCOMPLETE_DATA_DIR")
    if base:
        return Path(base)
    import platformdirs

    return platformdirs.user_data_path("charcomplete")


def make_folder(folder: Path, private: bool = False) -> None:
    """`mkdir -p folder` (OSError as mkdir's). The data dir, when this creates it, is the user's
    alone (0700): it holds what they typed, recovery copies of their files and models trained on
    their text. `private`: `folder` itself too."""
    root = data_dir()
    if (root == folder or root in folder.parents) and not root.exists():
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.mkdir(mode=0o700 if private else 0o777, parents=True, exist_ok=True)


def models_dir() -> Path:
    """The user's own trained models."""
    return data_dir() / "models"


def paused_dir() -> Path:
    """Training runs cancelled in the editor, kept to be resumed (one folder per model name)."""
    return models_dir() / "paused"


def adapt_dir() -> Path:
    """The adaptation history (what the editor learned from the user's writing)."""
    return data_dir() / "adapt"


def recovery_dir() -> Path:
    """Recovery files of documents whose own folder could not take one."""
    return data_dir() / "recovery"


def rescue_dir() -> Path:
    """Resume files of training runs whose own checkpoint folder could not take one (a full disk)."""
    return data_dir() / "rescued"


def cache_dir() -> Path:
    """Files the tool can make again (the shipped models' unpacked memories: memory_pack.py):
    the platform's cache dir, or `cache/` in CHARCOMPLETE_DATA_DIR when that is set."""
    if os.environ.get("CHARCOMPLETE_DATA_DIR"):
        return data_dir() / "cache"
    import platformdirs

    return platformdirs.user_cache_path("charcomplete")


def shipped_dir() -> Path:
    """The shipped checkpoints: inside the package (wheel) or the repo's checkpoints/."""
    here = Path(__file__).resolve().parent
    inside = here / "checkpoints"
    return inside if inside.is_dir() else here.parent / "checkpoints"
