"""The user's history: what they typed in earlier sessions, as character n-gram counts.

Loaded from `<data dir>/adapt/history.json` (validated JSON, bounded in size; a damaged file
is set aside with a warning), extended by what is typed in this process, saved atomically
(periodically in a background thread, and at exit when saving is on). `forget()` deletes it
and makes running editors drop what they learned. Nothing leaves the machine.

The process keeps one History per file (`shared_history`): every Completer shares it. Saving
at exit is registered when the first saving History is made, not at import.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import os
import threading
import time
import warnings
import weakref
from pathlib import Path

from charcomplete.errors import CharcompleteWarning
from charcomplete.ngram import CharCounts
from charcomplete.paths import adapt_dir, make_folder

MAX_FILE_BYTES = 64 * 1024 * 1024  # a history file above this is refused as corrupt


@contextlib.contextmanager
def _no_gc():
    """Pause the cyclic garbage collector: it would rescan the heap many times while a large
    history's hundreds of thousands of small containers are built (5x slower)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def history_path() -> Path:
    return adapt_dir() / "history.json"


def _forgotten_path() -> Path:
    return adapt_dir() / "forgotten"  # its mtime: when `forget` last ran (a running editor then drops what it learned)


class History:
    """The user's history: `loaded` from earlier sessions (read-only) and `new`, typed in this
    process. Saved as loaded + new. One per file per process (see `shared_history`)."""

    def __init__(self, path: Path | None, cfg, save: bool = True):
        self.path = path  # None: in memory only (nothing read or written)
        self.cfg = cfg
        self.save_enabled = save and path is not None
        self.lock = threading.Lock()  # guards `new` and `dirty`
        self._write_lock = threading.Lock()  # one write at a time
        self._saver: threading.Thread | None = None  # a periodic save in flight
        self.loaded = CharCounts(cfg.min_order, cfg.max_order, words=False)
        self.new = CharCounts(cfg.min_order, cfg.max_order, words=False)
        self.dirty = False
        self.started = time.time()
        self.last_save = time.monotonic()
        if path is not None:
            self.loaded = self._read(path)

    def _read(self, path: Path) -> CharCounts:
        empty = CharCounts(self.cfg.min_order, self.cfg.max_order, words=False)
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise ValueError(f"larger than {MAX_FILE_BYTES // 2**20} MB")
            if not path.is_file():  # a FIFO would block the editor's start for ever
                raise ValueError("not a regular file")
            with _no_gc():
                return CharCounts.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (FileNotFoundError, NotADirectoryError):  # none yet (or its folder cannot exist: a file is in the way)
            return empty
        except (OSError, ValueError, UnicodeDecodeError, RecursionError) as e:  # RecursionError: JSON nested too deep
            aside = _aside(path)
            try:
                os.replace(path, aside)
                where = f"moved to {aside.name}"
            except OSError:
                where = "left where it is"
            warnings.warn(f"charcomplete: ignoring the unreadable adaptation history {path} ({e}); {where}",
                          CharcompleteWarning, stacklevel=2)
            return empty

    def learn(self, text: str, start: int, end: int) -> None:
        with self.lock:
            self.new.add(text, start, end)
            self.dirty = True
        if self.save_enabled and time.monotonic() - self.last_save > self.cfg.save_every_s:
            self.last_save = time.monotonic()  # saved in the background: typing never waits for it
            self._saver = threading.Thread(target=self.save, name="charcomplete-history-save", daemon=True)
            self._saver.start()

    def clear(self) -> None:
        with self.lock:
            self.loaded = CharCounts(self.cfg.min_order, self.cfg.max_order, words=False)
            self.new = CharCounts(self.cfg.min_order, self.cfg.max_order, words=False)
            self.dirty = False
            self.started = time.time()

    def save(self) -> None:
        """Write loaded + new (bounded) atomically; after a `forget` elsewhere, drop both instead."""
        if not self.save_enabled:
            return
        from charcomplete.fileio import atomic_write

        self.last_save = time.monotonic()
        try:
            if _forgotten_path().stat().st_mtime > self.started:
                self.clear()
                return
        except OSError:
            pass
        with self.lock:
            if not self.dirty:
                return
            new, self.dirty = self.new.copy(), False
        with self._write_lock, _no_gc():
            data = self.loaded.merged(new, self.cfg.max_contexts).to_json()
            try:
                make_folder(self.path.parent)
                # a lone surrogate (text decoded with surrogateescape) becomes its JSON escape \udXXX, read back as it was
                body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "backslashreplace")
                atomic_write(self.path, body, mode=0o600)
            except OSError as e:
                warnings.warn(f"charcomplete: could not save the adaptation history to {self.path} ({e})", CharcompleteWarning, stacklevel=2)

    def finish(self) -> None:
        """Wait for a periodic save in flight, then save what is left (at exit)."""
        if self._saver is not None:
            self._saver.join()
        self.save()


_SHARED: dict[tuple[str, bool], History] = {}
_SHARED_LOCK = threading.Lock()
_AT_EXIT = []  # [True] once save_all is registered with atexit
_DOCUMENTS: "weakref.WeakSet" = weakref.WeakSet()  # open document caches: `forget` empties them too


def shared_history(cfg, save: bool = True) -> History:
    """The process's History for the user's file: every Completer (every model) shares it.
    With `save`, it is also saved at exit."""
    path = history_path()
    with _SHARED_LOCK:
        key = (str(path), save)
        if key not in _SHARED:
            _SHARED[key] = History(path, cfg, save=save)
            if save and not _AT_EXIT:
                atexit.register(save_all)
                _AT_EXIT.append(True)
        return _SHARED[key]


def track_document(cache) -> None:
    """Let `forget()` reach a document cache (anything with `new_document()`)."""
    _DOCUMENTS.add(cache)


def save_all() -> None:
    """Save every shared history (at exit)."""
    for h in list(_SHARED.values()):
        h.finish()


MAX_ASIDE = 9  # unreadable histories kept aside: NAME.corrupt, NAME.corrupt.2, ... NAME.corrupt.9


def _asides(path: Path) -> list[Path]:
    return [path.with_name(path.name + ".corrupt" + (f".{i}" if i > 1 else "")) for i in range(1, MAX_ASIDE + 1)]


def _aside(path: Path) -> Path:
    """Where an unreadable history goes: the first free of its aside names (a second one replaced
    the first), the last when all are taken."""
    return next((p for p in _asides(path) if not os.path.lexists(p)), _asides(path)[-1])


def forget() -> list[Path]:
    """Forget everything learned: delete the history file, clear this process's memory of it and
    of the open documents, and mark the time so that a running editor drops what it learned.
    Returns the files removed."""
    from charcomplete.errors import CharcompleteError

    removed = []
    folder = adapt_dir()
    for p in (history_path(), *_asides(history_path())):
        if p.is_dir() and not p.is_symlink():  # not a file we wrote: not ours to delete with all it holds
            raise CharcompleteError(f"cannot forget: {p} is a folder, not the history file; remove it yourself")
        try:
            p.unlink()
            removed.append(p)
        except FileNotFoundError:
            pass
        except OSError as e:  # a read-only data dir (issue 15, item 14)
            raise CharcompleteError(f"cannot forget: cannot delete {p} ({e.strerror or e})") from None
    try:
        make_folder(folder)
        _forgotten_path().write_text(f"{time.time():.3f}\n")  # first: this process's histories start after it
    except OSError as e:
        done = f"deleted {', '.join(str(p) for p in removed)}, but " if removed else ""
        raise CharcompleteError(f"cannot forget: {done}cannot write {_forgotten_path()} ({e.strerror or e})") from None
    for h in list(_SHARED.values()):
        h.clear()
    for m in list(_DOCUMENTS):
        m.new_document()
    return removed


