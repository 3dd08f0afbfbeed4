"""It learns as you type: an adaptive character model of the document and of the user's history,
mixed with the network's next-character distribution.

The adaptive part is a character n-gram cache (orders `min_order`..`max_order`) in two
levels: the user's history (what they typed in earlier sessions, loaded from the user data
dir) and the current document (the text before the cursor, as the Completer sees it). Its
counts are blended with the network in the hierarchical Pitman-Yor way (interpolated
Kneser-Ney's discounting, with the network as the base distribution instead of a uniform one):

    p_k(c) = max(n_k(c) - d, 0) / (N_k + b)  +  (b + d T_k) / (N_k + b) * p_{k-1}(c)

where n_k are the counts after the last k characters (N_k their sum, T_k how many distinct
characters), d the discount, b the strength, and p_{min_order-1} the network's softmax. So the
cache's say is set per context by how much it has seen there: a context seen once leaves much
of the mass to the network; a name typed five times takes over. On top, the result is mixed
once more with the network alone, p = p_net + w (p_blend - p_net), with a weight w per "how
often the longest matching context was seen" (once, 2-3 times, more) learned online from every
typed character (a gradient step on its log-loss): on text the network already predicts well
(the corpus's own kind) w falls, on notes full of new names it rises. The settings were chosen
by measuring bits per character and keystroke savings (bench/adapt.py --tune, README).

What the user types (extensions of the text before the cursor by a few characters) is also
added to the history, which is saved (JSON, atomic, bounded in size) periodically and at exit
in `<data dir>/adapt/history.json`, and loaded by the next session. `forget()` deletes it.
Nothing leaves the machine.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import math
import os
import threading
import time
import warnings
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FORMAT = "charcomplete-adapt"
FORMAT_VERSION = 1
MAX_FILE_BYTES = 64 * 1024 * 1024  # a history file above this is refused as corrupt


@dataclass
class AdaptConfig:
    """The adaptive model's settings (chosen by measurement: bench/adapt.py)."""

    min_order: int = 2  # shortest context the cache predicts from (shorter ones: the network alone)
    max_order: int = 6  # longest context, in characters
    discount: float = 0.5  # d: subtracted from every count (Kneser-Ney / Pitman-Yor discount)
    strength: float = 1.0  # b: pseudo-count of the lower level; larger trusts the network longer
    cutoff: float = 0.05  # skip the lower levels once the mass left for them is below this (speed; still sums to 1)
    mix_rate: float = 1.0  # learning rate of the weights of the blend against the network alone (0: fixed)
    mix_init: float = 0.8  # their starting value in a document (1: the blend as is; 0: the network alone)
    typed_chars: int = 32  # an extension by at most this many characters counts as typed (goes to history)
    learn_per_call: int = 256  # characters of a jump's backlog learned per call (keeps latency flat)
    doc_window: int = 20_000  # learn at most this many characters before the cursor when a document opens or after a jump
    max_contexts: int = 100_000  # history size bound (contexts kept on save, the most used first)
    save_every_s: float = 120.0  # save the history at most this often while typing (and at exit)


class CharCounts:
    """Counts of the next character after every context of `min_order`..`max_order` characters."""

    def __init__(self, min_order: int, max_order: int):
        self.min_order, self.max_order = min_order, max_order
        self.table: dict[str, list] = {}  # context -> [total, {char: count}]

    def __len__(self) -> int:
        return len(self.table)

    def add(self, text: str, start: int, end: int | None = None) -> None:
        """Learn the characters text[start:end], each after the characters before it in `text`."""
        table, lo, hi = self.table, self.min_order, self.max_order
        for i in range(start, len(text) if end is None else end):
            ch = text[i]
            for k in range(lo, min(hi, i) + 1):
                ctx = text[i - k : i]
                node = table.get(ctx)
                if node is None:
                    table[ctx] = [1, {ch: 1}]
                else:
                    node[0] += 1
                    counts = node[1]
                    counts[ch] = counts.get(ch, 0) + 1

    def copy(self) -> "CharCounts":
        out = CharCounts(self.min_order, self.max_order)
        out.table = {ctx: [total, dict(counts)] for ctx, (total, counts) in self.table.items()}
        return out

    def merged(self, other: "CharCounts", max_contexts: int) -> "CharCounts":
        """This table plus `other`, at most `max_contexts` contexts: `other`'s (the newer) kept
        first, then the most used. (It shares unchanged nodes with this table: for writing.)"""
        out = CharCounts(self.min_order, self.max_order)
        out.table = dict(self.table)
        for ctx, (total, counts) in other.table.items():
            old = out.table.get(ctx)
            if old is None:
                out.table[ctx] = [total, counts]
            else:
                merged = dict(old[1])
                for ch, n in counts.items():
                    merged[ch] = merged.get(ch, 0) + n
                out.table[ctx] = [old[0] + total, merged]
        if len(out.table) > max_contexts:
            keep = sorted(out.table, key=lambda c: (c in other.table, out.table[c][0]), reverse=True)[:max_contexts]
            out.table = {c: out.table[c] for c in keep}
        return out

    def to_json(self) -> dict:
        return {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "min_order": self.min_order, "max_order": self.max_order,
            "contexts": {ctx: ["".join(counts), list(counts.values())] for ctx, (_, counts) in self.table.items()},
        }

    @classmethod
    def from_json(cls, data) -> "CharCounts":
        """Validated: anything unexpected raises ValueError."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("not a charcomplete history file")
        if not isinstance(data.get("format_version"), int) or data["format_version"] > FORMAT_VERSION:
            raise ValueError(f"unsupported format version {data.get('format_version')!r}")
        lo, hi, contexts = data.get("min_order"), data.get("max_order"), data.get("contexts")
        if not (isinstance(lo, int) and isinstance(hi, int) and 0 <= lo <= hi <= 64 and isinstance(contexts, dict)):
            raise ValueError("bad orders or contexts")
        out = cls(lo, hi)
        for ctx, entry in contexts.items():
            try:
                chars, counts = entry
                node, total = dict(zip(chars, counts)), sum(counts)
                ok = (type(chars) is str and type(counts) is list and type(total) is int and 0 < len(chars) == len(node)
                      == len(counts) and min(counts) > 0 and len(ctx) <= hi and total < 2**53)
            except (TypeError, ValueError, OverflowError):
                ok = False
            if not ok:
                raise ValueError(f"bad entry for context {ctx!r}")
            out.table[ctx] = [total, node]
        return out


def _align(text: str, learned: str, anchor: int = 32, tries: int = 8) -> tuple[int, int, int]:
    """(t0, l0, m): text[t0:t0 + m] == learned[l0:l0 + m], the longest such run found where
    text's start lies in `learned` (a window that slid forward, a move back) or `learned`'s start
    lies in `text` (a context that grew past it); (0, len(learned), 0) when they share nothing."""
    m = common_prefix_len(text, learned)  # the same start: an edit, or a move back
    best = (0, 0, m) if m else (0, len(learned), 0)
    for a, b, swap in ((text, learned, False), (learned, text, True)):
        head = a[: min(anchor, len(a) // 2 + 1)]
        j = b.find(head, 1)
        for _ in range(tries):
            if j < 0:
                break
            m = common_prefix_len(a, b[j:])
            if m > best[2]:
                best = (j, 0, m) if swap else (0, j, m)
            j = b.find(head, j + 1)
        if best[2]:
            return best
    return best


def common_prefix_len(a: str, b: str) -> int:
    """Length of the longest common prefix of `a` and `b` (O(n) in C: a bisection over slices)."""
    lo, hi = 0, min(len(a), len(b))  # a[:lo] == b[:lo]; the answer is at most hi
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a.startswith(b[lo:mid], lo):
            lo = mid
        else:
            hi = mid - 1
    return lo


# --- the user's history on disk -------------------------------------------------------------


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


def adapt_dir() -> Path:
    """`<data dir>/adapt`: next to the user's models (CHARCOMPLETE_DATA_DIR overrides)."""
    from charcomplete.checkpoint import user_dir

    return user_dir().parent / "adapt"


def history_path() -> Path:
    return adapt_dir() / "history.json"


def _forgotten_path() -> Path:
    return adapt_dir() / "forgotten"  # its mtime: when `forget` last ran (a running editor then drops what it learned)


class History:
    """The user's history: `loaded` from earlier sessions (read-only) and `new`, typed in this
    process. Saved as loaded + new. One per file per process (see `shared_history`)."""

    def __init__(self, path: Path | None, cfg: AdaptConfig, save: bool = True):
        self.path = path  # None: in memory only (nothing read or written)
        self.cfg = cfg
        self.save_enabled = save and path is not None
        self.lock = threading.Lock()  # guards `new` and `dirty`
        self._write_lock = threading.Lock()  # one write at a time
        self._saver: threading.Thread | None = None  # a periodic save in flight
        self.loaded = CharCounts(cfg.min_order, cfg.max_order)
        self.new = CharCounts(cfg.min_order, cfg.max_order)
        self.dirty = False
        self.started = time.time()
        self.last_save = time.monotonic()
        if path is not None:
            self.loaded = self._read(path)

    def _read(self, path: Path) -> CharCounts:
        empty = CharCounts(self.cfg.min_order, self.cfg.max_order)
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise ValueError(f"larger than {MAX_FILE_BYTES // 2**20} MB")
            if not path.is_file():  # a FIFO would block the editor's start for ever
                raise ValueError("not a regular file")
            with _no_gc():
                return CharCounts.from_json(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return empty
        except (OSError, ValueError, UnicodeDecodeError, RecursionError) as e:  # RecursionError: JSON nested too deep
            aside = path.with_name(path.name + ".corrupt")
            try:
                os.replace(path, aside)
            except OSError:
                aside = path
            warnings.warn(f"charcomplete: ignoring the unreadable adaptation history {path} ({e}); moved to {aside.name}",
                          RuntimeWarning, stacklevel=2)
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
            self.loaded = CharCounts(self.cfg.min_order, self.cfg.max_order)
            self.new = CharCounts(self.cfg.min_order, self.cfg.max_order)
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
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # a lone surrogate (text decoded with surrogateescape) becomes its JSON escape \udXXX, read back as it was
                body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "backslashreplace")
                atomic_write(self.path, body, mode=0o600)
            except OSError as e:
                warnings.warn(f"charcomplete: could not save the adaptation history to {self.path} ({e})", RuntimeWarning, stacklevel=2)

    def finish(self) -> None:
        """Wait for a periodic save in flight, then save what is left (at exit)."""
        if self._saver is not None:
            self._saver.join()
        self.save()


_SHARED: dict[tuple[str, bool], History] = {}
_LIVE: "weakref.WeakSet[AdaptiveModel]" = weakref.WeakSet()
_SHARED_LOCK = threading.Lock()


def shared_history(cfg: AdaptConfig, save: bool = True) -> History:
    """The process's History for the user's file: every Completer (every model) shares it."""
    path = history_path()
    with _SHARED_LOCK:
        key = (str(path), save)
        if key not in _SHARED:
            _SHARED[key] = History(path, cfg, save=save)
        return _SHARED[key]


def save_all() -> None:
    """Save every shared history (runs at exit)."""
    for h in list(_SHARED.values()):
        h.finish()


atexit.register(save_all)


def forget() -> list[Path]:
    """Forget everything learned: delete the history file, clear this process's memory of it and
    of the open documents, and mark the time so that a running editor drops what it learned.
    Returns the files removed."""
    removed = []
    folder = adapt_dir()
    for p in (history_path(), history_path().with_name(history_path().name + ".corrupt")):
        try:
            p.unlink()
            removed.append(p)
        except FileNotFoundError:
            pass
    folder.mkdir(parents=True, exist_ok=True)
    _forgotten_path().write_text(f"{time.time():.3f}\n")  # first: this process's histories start after it
    for h in list(_SHARED.values()):
        h.clear()
    for m in list(_LIVE):
        m.new_document()
    return removed


# --- the mixture, per Completer -------------------------------------------------------------


class AdaptiveModel:
    """The document cache (per Completer) on top of the user's history, on top of the network."""

    def __init__(self, cfg: AdaptConfig | None = None, history: History | None = None):
        self.cfg = cfg or AdaptConfig()
        self.history = history  # None: the document only (no user history)
        self.doc = CharCounts(self.cfg.min_order, self.cfg.max_order)
        # the document text learned, as far as the contexts seen show it (edits spliced in; at
        # most 2 doc_window characters): new contexts are aligned with it, so that only what is
        # new in them is learned, whether the context grows, slides (the editor's window starts
        # at a line start) or the cursor moves
        self._learned = ""
        self._last = ""  # the last context seen
        self._behind = False  # the last context is not learned to its end yet
        self.weights = np.full(3, self.cfg.mix_init)  # of the blend against the network alone, by how often
        # the longest context was seen (once, 2-3 times, more), learned as the user types
        self._fresh = False  # the next mix() is the prediction for the character after _last
        self._pending = None  # (context, bucket, p_net, scale, extra, index) of that prediction
        _LIVE.add(self)

    def new_document(self) -> None:
        """Start over for a new document (the history stays)."""
        self.doc = CharCounts(self.cfg.min_order, self.cfg.max_order)
        self._learned = self._last = ""
        self._behind = False
        self.weights[:], self._pending = self.cfg.mix_init, None

    def observe(self, text: str) -> None:
        """Learn from the text before the cursor: the first text shown (what the document held
        when opened) at once, its last `doc_window` characters; then what is new in each context
        (up to `typed_chars` new characters count as typed: they also go to the history); more
        (a jump, a paste) is learned `learn_per_call` characters per call (no call waits long)."""
        if text == self._last and not self._behind:
            return
        cfg, learned = self.cfg, self._learned
        if text != self._last:
            pending, self._pending, self._last, self._fresh = self._pending, None, text, True
            if pending is not None and len(text) > len(pending[0]) and text.startswith(pending[0]):
                self._learn_weight(pending, text[len(pending[0])])
        self._behind = False
        if not learned:  # the document as first shown
            self.doc.add(text, max(0, len(text) - cfg.doc_window))
            self._learned = text[-2 * cfg.doc_window :]
            return
        t0, l0, m = (0, 0, len(learned)) if text.startswith(learned) else _align(text, learned)
        start = t0 + m  # text[t0:start] == learned[l0:l0 + m] is known; what follows is new
        if start == len(text):
            return  # the cursor moved within known text
        if len(text) - start <= cfg.typed_chars:
            end = len(text)
            self.doc.add(text, start)
            if self.history is not None:
                self.history.learn(text, start, end)
        else:
            first = max(start, len(text) - cfg.doc_window)
            end = min(len(text), first + cfg.learn_per_call)
            self.doc.add(text, first, end)
            self._behind = end < len(text)  # the next call, even with the same text, learns on
        self._learned = (learned[:l0] + text[t0:end] + learned[l0 + m :])[-2 * cfg.doc_window :]

    def mix(self, p_net: np.ndarray, tail: str, index: dict) -> np.ndarray:
        """The mixed next-character distribution after `tail` (its last max_order characters
        matter), given the network's `p_net` (V,) and `index` char -> id (others: <unk>, id 0)."""
        cfg = self.cfg
        root, self._fresh = self._fresh, False  # the first call after new text: the real next character
        # history.new is not a level: what was typed in this process is in the document already
        hist = self.history.loaded.table if self.history is not None else None
        levels = [hist, self.doc.table] if hist else [self.doc.table]
        nodes, top = [], 0  # hit nodes, lowest level first (each level's base is the one before it); longest hit
        for k in range(cfg.min_order, min(cfg.max_order, len(tail)) + 1):
            ctx = tail[-k:]
            for table in levels:
                node = table.get(ctx)
                if node is not None:
                    nodes.append(node)
                    top = k
            if top < k:
                break  # a longer context was never seen either
        if not nodes:
            return p_net
        d, b, cutoff = cfg.discount, cfg.strength, cfg.cutoff
        scale, extra = 1.0, {}  # walk down from the top level: extra mass per character, and what is left below
        for total, counts in reversed(nodes):
            if scale < cutoff:
                break  # the levels below (the low orders, with the most entries) would add almost nothing
            denom = total + b
            w = scale / denom
            for ch, n in counts.items():
                extra[ch] = extra.get(ch, 0.0) + w * (n - d)
            scale *= (b + d * len(counts)) / denom
        seen = nodes[-1][0]
        bucket = 0 if seen == 1 else 1 if seen <= 3 else 2
        if root:  # remember it, to learn the weight from the character that comes
            self._pending = (self._last, bucket, p_net, scale, extra, index)
        # p = p_net + w (p_blend - p_net), where p_blend = scale * p_net + extra
        w = self.weights[bucket]
        p = p_net * (1.0 - w + w * scale)
        ids = [index.get(ch, 0) for ch in extra]
        vals = np.fromiter(extra.values(), dtype=p.dtype, count=len(extra))
        if 0 in ids:
            np.add.at(p, ids, w * vals)  # unknown characters all add to <unk>
        else:
            p[ids] += w * vals
        return p

    def _learn_weight(self, pending: tuple, ch: str) -> None:
        """One gradient step on the log-loss of the character that came, for the mixture weight."""
        _, bucket, p_net, scale, extra, index = pending
        net = float(p_net[index.get(ch, 0)])
        blend = scale * net + extra.get(ch, 0.0)
        w = self.weights[bucket]
        p = net + w * (blend - net)
        # w = sigmoid(a): a step on a, d log p / d a = w (1 - w) (blend - net) / p, which lies in [-w, 1 - w]
        a = math.log(w / (1 - w)) + self.cfg.mix_rate * w * (1 - w) * (blend - net) / max(p, 1e-12)
        self.weights[bucket] = min(0.999, max(0.001, 1 / (1 + math.exp(-a))))


def make_adaptive(adapt, save: bool = True) -> AdaptiveModel | None:
    """What a Completer's `adapt` option means: False -> off; True -> the user's shared history
    (loaded, and saved unless save=False) plus a document cache; an AdaptiveModel -> itself;
    None -> the process default (see set_default)."""
    if adapt is None:
        adapt, save = _DEFAULT["adapt"], _DEFAULT["save"]
    if adapt is False:
        return None
    if isinstance(adapt, AdaptiveModel):
        return adapt
    cfg = AdaptConfig()
    return AdaptiveModel(cfg, shared_history(cfg, save=save))


# the default for load_completer(adapt=None): off for the API, eval and scripts; the editor and
# `complete` turn it on (set_default) unless --no-adapt
_DEFAULT = {"adapt": False, "save": False}


def set_default(adapt: bool, save: bool = True) -> None:
    """Make load_completer() adapt by default in this process (and save the history or not)."""
    _DEFAULT.update(adapt=adapt, save=save)

