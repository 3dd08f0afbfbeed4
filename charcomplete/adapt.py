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
added to the history (history.py), loaded by the next session. Adaptation is asked for
explicitly (`make_adaptive`, `load_completer(adapt=True)`): there is no process-wide default.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass

import numpy as np

from charcomplete.history import History, shared_history, track_document
from charcomplete.match import MATCH_LENGTHS, DocumentMatch, MatchIndex
from charcomplete.native import library
from charcomplete.ngram import CharCounts, align
from charcomplete.words import WORD_MAX, is_word


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


class AdaptiveModel:
    """The document cache (per Completer) on top of the user's history, on top of the network."""

    def __init__(self, cfg: AdaptConfig | None = None, history: History | None = None):
        self.cfg = cfg or AdaptConfig()
        self.history = history  # None: the document only (no user history)
        self.doc = CharCounts(self.cfg.min_order, self.cfg.max_order)
        self.doc_match = DocumentMatch()  # the match model's index of the document learned (match.py)
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
        # the editor's whole-buffer counts and neighbouring files (a BufferLearner), when attached:
        # then its counts are the document level and observe() learns only the history from contexts
        self.learner: BufferLearner | None = None
        self.native = library("adapt")  # adapt.c's mix (native.py), or None: Python mixes every character
        track_document(self)

    def attach(self, learner: "BufferLearner | None") -> None:
        """Use `learner`'s whole-buffer counts as the document level (and its neighbouring files as
        a level below it) instead of learning the document from the contexts observed; None: back
        to the contexts. Call it from the thread that calls observe/mix."""
        if learner is not self.learner:
            self.learner = learner
            self.doc = learner.doc if learner is not None else CharCounts(self.cfg.min_order, self.cfg.max_order)
            self.doc_match = learner.doc_match if learner is not None else DocumentMatch()

    def new_document(self) -> None:
        """Start over for a new document (the history stays)."""
        self.learner = None
        self.doc = CharCounts(self.cfg.min_order, self.cfg.max_order)
        self.doc_match = DocumentMatch()
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
        whole = self.learner is not None  # the buffer's counts are kept by the learner: the history only
        if not learned:  # the document as first shown
            if not whole:
                self._learn_doc(text, max(0, len(text) - cfg.doc_window), len(text))
            self._learned = text[-2 * cfg.doc_window :]
            return
        t0, l0, m = (0, 0, len(learned)) if text.startswith(learned) else align(text, learned)
        start = t0 + m  # text[t0:start] == learned[l0:l0 + m] is known; what follows is new
        if start == len(text):
            return  # the cursor moved within known text
        if len(text) - start <= cfg.typed_chars:
            end = len(text)
            if not whole:
                self._learn_doc(text, start, end)
            if self.history is not None:
                self.history.learn(text, start, end)
        else:
            first = max(start, len(text) - cfg.doc_window)
            end = min(len(text), first + cfg.learn_per_call)
            if not whole:
                self._learn_doc(text, first, end)
            self._behind = end < len(text)  # the next call, even with the same text, learns on
        self._learned = (learned[:l0] + text[t0:end] + learned[l0 + m :])[-2 * cfg.doc_window :]

    def _learn_doc(self, text: str, start: int, end: int) -> None:
        """The document level learns text[start:end] (the contexts' own: no BufferLearner attached)."""
        self.doc.add(text, start, end)
        self.doc_match.add(text[max(0, start - 64) : start], text[start:end])

    def match(self, tail: str) -> tuple[str | None, int]:
        """The document's match model (match.DocumentMatch): the character after the latest earlier
        occurrence of the longest of its contexts of `tail` that the document still holds, and its
        rank among the neighbouring files' lengths (match.MATCH_LENGTHS: the mixer's key), or (None, 0)."""
        ch, r = self.doc_match.find(tail, self.doc.table, self.cfg.max_order)
        return (ch, MATCH_LENGTHS.index(self.doc_match.lengths[r - 1]) + 1) if ch is not None else (None, 0)

    def mix(self, p_net: np.ndarray, tail: str, index: dict) -> np.ndarray:
        """The mixed next-character distribution after `tail` (its last max_order characters
        matter), given the network's `p_net` (V,) and `index` char -> id (others: <unk>, id 0)."""
        cfg = self.cfg
        root, self._fresh = self._fresh, False  # the first call after new text: the real next character
        # history.new is not a level: what was typed in this process is in the document already
        hist = self.history.loaded.table if self.history is not None else None
        levels = [hist, self.doc.table] if hist else [self.doc.table]
        near = self.learner.neighbour_table() if self.learner is not None else None
        if near:  # the neighbouring files: between the history and the document
            levels.insert(len(levels) - 1, near)
        if self.native is not None:  # the same in C (adapt.c), unless it says it cannot (-2)
            p = np.empty(len(p_net))
            got = self.native.mix(levels, tail, index, self.weights, p_net, p, cfg.min_order, cfg.max_order,
                                  cfg.discount, cfg.strength, cfg.cutoff, root)
            if got == -1:
                return p_net
            if got != -2:
                if root:  # remember it, to learn the weight from the character that comes
                    bucket, scale, extra = got
                    self._pending = (self._last, bucket, p_net, scale, extra, index)
                return p
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
        if len(extra) <= 8:  # a few (most keys): cheaper in Python, the same sums (unknown characters add to <unk> in turn)
            for ch, v in extra.items():
                p[index.get(ch, 0)] += w * v
            return p
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


MATCH_AHEAD = 4  # the match model's index (numpy, match.py) takes this many characters of the neighbours per character counted
NEIGHBOUR_CONTEXTS = 200_000  # the neighbouring files' level holds at most this many contexts (about 90 MB with their partial words;
#                              the match model's index of their text adds the text and 32 MB of tables: match.py)


class BufferLearner:
    """The whole buffer's character n-gram counts, kept true to the buffer, and the neighbouring
    files' counts: learned in the background, in small steps.

    The editor's UI thread only queues (`open` with the text at open, `edit` for every edit with
    the text around it, `add_file` from the thread that reads the neighbours); the model thread
    counts, `work(budget)` at most `budget` characters per call, between requests and a little
    before each one, so no keystroke waits on a long count. Jobs run in order, so once the queue
    is drained the document counts are exactly those of the buffer as it is: an edit removes the
    n-grams of the old text around it (the replaced text and the `max_order` characters on each
    side) and adds those of the new. The neighbours never go into the user's history and stop at
    `max_contexts` contexts (the memory bound)."""

    def __init__(self, cfg: AdaptConfig | None = None, max_contexts: int = NEIGHBOUR_CONTEXTS):
        cfg = cfg or AdaptConfig()
        self.min_order, self.max_order = cfg.min_order, cfg.max_order
        self.max_contexts = max_contexts
        self.doc = CharCounts(cfg.min_order, cfg.max_order)
        self.doc_match = DocumentMatch()  # the match model's index of the buffer: as opened, then each insertion (match.py)
        self.neighbours = CharCounts(cfg.min_order, cfg.max_order)
        self.match = MatchIndex()  # the neighbouring files' text for the match model (match.py), indexed ahead of the counting
        self.neighbours_on = True
        self.files = 0  # neighbouring files counted (in part, when the bound was reached)
        self.unit = "file"  # what one is, for the status bar ("commit": messages, in a .git folder)
        self.doc_chars = 0  # length of the buffer as opened
        self._jobs: deque = deque()  # document jobs: None (start over) or [text, pos, end, sign, indexed up to (the match model)]
        self._files: deque = deque()  # neighbouring texts waiting to be counted: [text, pos, end, 1, 0]
        self._to_index: deque = deque()  # and to be indexed for the match model: [text, pos, offset in self.match.text]
        self._snapshot: list | None = None  # the job counting the buffer as opened
        self._clear = False  # the neighbours were turned off: drop their counts (in the counting thread)
        self._lock = threading.Lock()

    # --- the UI side: cheap, only queues ----------------------------------------------------

    def open(self, text: str) -> None:
        """Count `text` (the whole buffer) from scratch."""
        with self._lock:
            self.doc_chars = len(text)
            self._snapshot = [text, 0, len(text), 1, len(text)]
            self._jobs.append(None)
            self._jobs.append(self._snapshot)

    @property
    def edit_window(self) -> int:
        """How many characters on each side of an edit `edit` needs: the n-grams' longest context,
        or a partial word and the character that ends it (words.py), whichever is longer."""
        return max(self.max_order, WORD_MAX + 1)

    def edit(self, before: str, removed: str, inserted: str, after: str) -> None:
        """`removed` became `inserted`; `before` / `after`: up to `edit_window` characters on each
        side (fewer only at the buffer's start and end)."""
        if removed == inserted:
            return
        # what follows the edit is recounted only as far as it changes: its n-grams within max_order
        # characters, its partial words to the end of the word the edit touches (and the character after)
        run = 0
        while run < len(after) and run <= WORD_MAX and is_word(after[run]):
            run += 1
        after = after[: max(self.max_order, run + 1)]
        old, new = before + removed + after, before + inserted + after
        with self._lock:
            self._jobs.append([old, len(before), len(old), -1, 0])
            self._jobs.append([new, len(before), len(new), 1, len(before) + len(inserted)])

    def add_file(self, text: str) -> None:
        with self._lock:
            if self.neighbours_on:
                self._files.append([text, 0, len(text), 1, 0])
                self._to_index.append([text, 0, None])

    def set_neighbours(self, on: bool) -> None:
        with self._lock:
            self.neighbours_on = on
            if not on:
                self._files.clear()
                self._to_index.clear()
                self._clear = True

    # --- the counting side (the model thread) -----------------------------------------------

    def work(self, budget: int = 512, neighbours: bool = True) -> bool:
        """Count at most about `budget` characters of what is queued, and index MATCH_AHEAD times
        as many of the neighbouring files for the match model; True while more is left.
        neighbours=False: the buffer's jobs only (the neighbouring files wait for a pause)."""
        with self._lock:
            if self._clear:
                self._clear = False
                self.neighbours.clear()  # in place: an AdaptiveModel may hold it
                self.match.clear()
                self.files = 0
        if neighbours:
            self._index_match(budget * MATCH_AHEAD)
        while budget > 0:
            with self._lock:
                queue = self._jobs if self._jobs else self._files if self.neighbours_on and neighbours else None
                job = queue[0] if queue else None
                if job is None:
                    if queue:  # start over
                        queue.popleft()
                        self.doc.clear()  # in place: the AdaptiveModels attached hold it
                        self.doc_match.clear()
                        self.doc_match.reserve(self.doc_chars)
                        continue
                    break
            text, pos, end, sign, indexed = job
            counts = self.doc if queue is self._jobs else self.neighbours
            if counts is self.neighbours and len(counts) >= self.max_contexts:
                with self._lock:
                    if pos:
                        self.files += 1  # this one in part
                    self._files.clear()  # the bound: no more neighbouring text
                break
            # removals are cheap and must not be split from their additions for long: do them whole
            n = end - pos if sign < 0 else min(budget, end - pos)
            counts.update(text, pos, pos + n, sign)
            if pos < indexed:  # the text as opened, or inserted (not what follows an edit, recounted)
                self.doc_match.add(text[max(0, pos - 64) : pos], text[pos : min(pos + n, indexed)])
            job[1] = pos + n
            budget -= n
            if job[1] >= end:
                with self._lock:
                    if queue and queue[0] is job:
                        queue.popleft()
                        if counts is self.neighbours:
                            self.files += 1
        return self.busy

    def _index_match(self, budget: int) -> None:
        """Index at most `budget` characters of the neighbouring files for the match model."""
        while budget > 0:
            with self._lock:
                if not (self._to_index and self.neighbours_on):
                    return
                job = self._to_index[0]
            text, pos, base = job
            if base is None:
                base = job[2] = self.match.append(text)
            n = min(budget, len(text) - pos)
            self.match.index(base, text, pos, pos + n)
            job[1] = pos + n
            budget -= n
            if job[1] >= len(text):
                with self._lock:
                    if self._to_index and self._to_index[0] is job:
                        self._to_index.popleft()

    @property
    def busy(self) -> bool:
        return bool(self._jobs or ((self._files or self._to_index) and self.neighbours_on))

    @property
    def doc_progress(self) -> float:
        """How much of the buffer as opened is counted (1.0 once the queue holds only edits)."""
        job = self._snapshot
        return 1.0 if job is None or job[1] >= job[2] else job[1] / max(1, job[2])

    def neighbour_table(self) -> dict | None:
        return self.neighbours.table if self.neighbours_on and self.neighbours.table else None

    def neighbour_match(self) -> MatchIndex | None:
        """The match model's index of the neighbouring files (match.py), None when off or empty."""
        return self.match if self.neighbours_on and len(self.match) else None

    def neighbour_words(self) -> dict | None:
        """The neighbouring files' partial-word counts (words.py), None when off or empty."""
        return self.neighbours.words if self.neighbours_on and self.neighbours.words else None

    def label(self) -> str:
        """What was learned, for the status bar: "doc", "doc 40%", "doc + 23 files"."""
        p = self.doc_progress
        out = "doc" if p >= 1.0 else f"doc {p:.0%}"
        if self.neighbours_on and self.files:
            out += f" + {self.files} {self.unit}" + ("s" if self.files != 1 else "")
        return out


def make_adaptive(adapt, save: bool = False) -> AdaptiveModel | None:
    """What a Completer's `adapt` option means: False/None -> off (exactly the network); True ->
    a document cache on the user's shared history (saved at exit when `save`); an
    AdaptiveModel -> itself."""
    if adapt is None or adapt is False:
        return None
    if isinstance(adapt, AdaptiveModel):
        return adapt
    cfg = AdaptConfig()
    return AdaptiveModel(cfg, shared_history(cfg, save=save))
