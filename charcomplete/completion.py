"""The Completer: what the editor asks on every keystroke.

It keeps the model's state for the last context it saw. When a new context extends that one
by at most `max_extend` characters — also when it is that one with lines dropped at its start,
as the editor's window slides forward — only the new characters are stepped (stepper.py: the
network one character at a time in numpy); otherwise it recomputes from the last
`context_chars` characters; a context it stepped through a moment ago (Backspace) gets that
state back. Either way the result equals running the model in one call over the text it has
read (tested to 1e-5). Its next-character distribution mixes the network with the
document/history cache (adapt.py), the model's corpus memory (memory.py), the partial-word
model (words.py) and the match model over the neighbouring files (match.py), weighed by the
online mixer (mixer.py).

A suggestion is a greedy continuation with clear stopping rules (see `Policy`). Asking is a
pure query: learning from the document (adaptation) happens only in `observe`, which the
editor calls with the text before the cursor before it asks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from charcomplete.match import match_expert
from charcomplete.mixer import Mixer, MixerConfig, default_keys, doc_match_order
from charcomplete.netadapt import NetAdapter, NetLearnConfig, NetworkLearner, ReadCheck
from charcomplete.stepper import NumpyNet, Stepper, StepState
from charcomplete.vocab import Vocab, curly_quotes, fold_quotes, normalize_newlines, quote_fold
from charcomplete.words import blend, partial_word, prepared

WORD_END = set(" \t\n.,;:!?)]}\"'‘’“”")  # characters that end a word
START = "\n\n"  # what a document's first characters are read after (_tail)
TAIL = 64  # characters before the cursor that the adaptive model, the memory and the mixer's keys read
WORD_LEVELS = 1024  # the corpus memory's partial-word answers kept, ready to blend (the latest)
TRAIL = 64  # states kept for the last characters stepped through (Backspace goes back to one: no recompute)


@dataclass
class Policy:
    """How a continuation is grown and when it stops (chosen by measuring KSR; see README)."""

    max_chars: int = 16  # longest suggestion
    min_chars: int = 2  # a 1-character suggestion saves no keystroke (Tab costs one): not shown
    threshold: float = 0.02  # stop growing before the whole suggestion's probability would fall below this
    boundary: str = "savings"  # "savings": keep the length k with the most expected savings less reading (read_cost);
    #                            "word": end after the word being typed (with its trailing space); "phrase": no word stop
    show_threshold: float = 0.11  # "savings": show nothing less likely than this (0.05 -> 0.1 -> 0.12 with first_chars 2 -> 0.11 with lookahead 1; tune_policy.py)
    start_chars: int = 150  # "savings": a context shorter than this is a document's start (a short note, a message), where
    start_threshold: float = 0.14  # ghosts must be this likely instead: with nothing of the document learned yet they are right
    #                                less often (precision 0.32 -> 0.36 on short texts for 2 % of their KSR: bench/tuning.py --policy)
    memory_chars: int = 4  # the corpus memory is asked for this many characters of a suggestion (the rest: latency)
    other_memory_chars: int = 2  # ... and of the other first characters' continuations (first_chars > 1): 4 -> 2, typing p99
    #                              9-14 % lower, KSR and precision the same or better on tuning text (bench/tuning.py --policy)
    first_chars: int = 2  # "savings": grow from up to this many likeliest first characters, keep the best (1: greedy only; 2: KSR +2-5 %)
    read_cost: float = 0.05  # "savings": each shown character costs this much (reading it): keep the length k
    #                          that maximises (P(k chars right) - read_cost) * (k - 1) (0 -> 0.05: precision up on five held-out kinds, KSR within ±0.01; tune_policy.py)
    lookahead: int = 1  # "savings": stop growing a continuation this many characters past its best length so far (0: grow
    #                     while any length could still win; 1: while each character raises the savings: precision up, about 10 % off the typing p99)


@dataclass
class Suggestion:
    text: str  # what Tab would insert ("" when nothing is confident enough)
    confidence: float  # probability of the whole text under the model (product of char_probs)
    char_probs: list[float] = field(default_factory=list)  # probability of each character of text
    attention: list[float] | None = None  # attention weights over attention_text (None for lstm)
    attention_text: str = ""  # the last W characters before the cursor (the sparkline's labels)
    latency_ms: float = 0.0  # time suggest() took


def recompute_chars(hidden: int, native: bool = False) -> int:
    """How many characters a recompute reads by default. In numpy: 160 for a network 256 wide (or
    less; 192 gives 0.4 % fewer bits over the 16 characters after a jump for 21 % more time, where
    a jump has a 5 ms target: bench/jump_context.py), 96 for one 512 wide (its steps cost over
    twice as much: 4 MB of weights read per step). Stepped by network.c (`native`), 256 for a
    network 256 wide or less (1.5 % fewer bits than 160, in 1.4 ms: less than 160 take in numpy);
    a wider one's weights spill out of the core's cache, so it reads what it would in numpy."""
    if native and hidden <= 256:
        return 256
    return min(160, max(64, 192 * 256 // max(256, hidden)))


class Completer:
    """Next-character predictions and suggestions from one model (a torch network, or a
    NumpyNet on the CPU: then torch is never imported unless `.model` is asked for)."""

    def __init__(self, model, vocab: Vocab, name: str = "", path: Path | None = None, meta=None, device: str = "cpu",
                 context_chars: int | None = None, max_extend: int = 64, policy: Policy | None = None, adapt=False,
                 save_history: bool = False, memory=None):
        from charcomplete.adapt import make_adaptive

        self.vocab = vocab
        self.name = name
        self.path = path  # the checkpoint it was loaded from (None: built in memory)
        self.meta = meta
        self.device = device
        self.kind = model.cfg.kind
        self._stepper = Stepper(model, device)  # the network, one character at a time
        # a recompute (after a jump) reads at most this many characters back; by default fewer for a
        # wider network, whose every step costs more, so a jump costs about the same (bench/jump_context.py)
        self.context_chars = context_chars if context_chars is not None else recompute_chars(model.cfg.hidden, self._stepper.native)
        self.max_extend = max_extend  # extensions up to this long are stepped, longer ones recompute
        self.policy = policy or Policy()
        self._network = self._stepper  # ... with its own weights (_stepper runs learned ones after a lesson)
        self.H, self.W, self.layers = self._stepper.H, self._stepper.W, self._stepper.layers
        self._ctx: str | None = None  # the context the cached state belongs to
        self._state: StepState | None = None
        self._ahead: dict[str, StepState] = {}  # {path: the state after _ctx + path}, stepped by the last suggestions
        self._trail: dict[int, StepState] = {}  # {n: the state after _ctx[:n]} for the last TRAIL characters stepped
        # adaptation (charcomplete/adapt.py): False (exactly the network), True (the document and
        # the user's history, read; saved at exit only with save_history, as `edit` does), or an AdaptiveModel
        self.adapt = make_adaptive(adapt, save=save_history)
        self._index = dict(vocab._index)  # char -> id, for the adaptive model's counts
        # curly quotes: the network and the memory read the ASCII ones (vocab.CURLY), their predictions
        # given back in the document's quotes (_unfold)
        self._fold = quote_fold(vocab).tolist()  # id -> the id the network reads
        self._quotes = (False, False)  # the context's single and double quotes curly (curly_quotes), set per question
        self._curly = False  # either
        self._quote_ids = [vocab.id(c) for c in "'‘’\"“”"]
        # the corpus memory (memory.py: part of the model, shipped beside it) and the mixer that
        # weighs it against the network and the document cache; the mixer learns from what is
        # typed only when adapting (with adaptation off nothing is learned from the user)
        self.memory = memory if memory is not None and memory.vocab == vocab else None
        self.mixer = None
        if self.memory is not None:  # its starting weights, when the memory's file holds ones of this mixer's shape
            start = self.memory.mixer[0] if self.memory.mixer is not None else None
            self.mixer = Mixer(start=start if start is not None and start.fits(MixerConfig()) else None)
        self._word_levels: dict[tuple, tuple | None] = {}  # (partial word, quotes) -> the memory's answer, prepared for blend (words.prepared)
        self._flat = np.ones(len(vocab))  # the match model's distribution when it has no match (mixer.py ignores it)
        self.net_adapt = None  # the output layer's adaptation (netadapt.py; set_adaptive)
        self.net_learn: NetworkLearner | None = None  # the whole network learning the document (netadapt.py; set_adaptive)
        self._net_typed = 0  # characters typed in a row since the network's last lesson
        self._reading = ""  # text the network is given to read (`read`: the buffer as opened), lesson by lesson
        self._read_done = 0  # how much of _reading the network has learned (read on while it is shorter)
        self._read_state = None  # netadapt.LessonState where the last reading lesson ended (the next goes on from it)
        self._read_again = 0  # times the text being read is read again from its start once read through (a short one)
        self._check: ReadCheck | None = None  # a longer text's reading, judged on its held-out end (netadapt.ReadCheck)
        self.read_kept: int | None = None  # passes whose weights stayed after the last judged reading (None: none finished)
        self._typed_lr: float | None = None  # the rate of typed lessons (None: NetLearnConfig.lr; read_lr once a judged reading
        #                                      kept a pass, and the output layer's NetAdapter.rate read_lr / lr with it)
        self._typed_state = None  # (the last warmup characters it followed, LessonState) where the last typed lesson ended
        self.set_adaptive(self.adapt)
        self._observed = ""  # the last context observed
        self._mix_fresh = False  # the next mix is the prediction for the character after _observed
        self._mix_root: str | None = None  # the context the mixer's pending prediction was for

    def set_adaptive(self, adaptive) -> None:
        """Adapt with the AdaptiveModel `adaptive` from now on (None: not at all). With a corpus
        memory the network's output layer learns the document too (netadapt.py; a new one): the
        mixer weighs it against the rest (a network alone, under the cache only, lost 0.4 % bpc on
        the plays with it: docs/benchmarks.md)."""
        self.adapt = adaptive
        self.net_adapt = NetAdapter(len(self.vocab), self.H) if adaptive is not None and self.mixer is not None else None
        self._restore_network()
        learn = self.net_adapt is not None and self.device == "cpu" and NetLearnConfig().lr > 0
        self.net_learn = NetworkLearner(self._network.net.cfg, self._network.weights) if learn else None

    def _restore_network(self) -> None:
        """The network's own weights again (a new document; adaptation switched)."""
        self._stepper, self._net_typed = self._network, 0
        self._reading, self._read_done, self._read_state, self._typed_state, self._read_again = "", 0, None, None, 0
        self._check, self.read_kept, self._typed_lr = None, None, None
        if self.net_learn is not None:
            self.net_learn.reset()

    @property
    def network_lesson_due(self) -> bool:
        """Enough was typed for the network to learn it (`learn_network`)."""
        return self.net_learn is not None and self._net_typed >= self.net_learn.learn_cfg.segment

    @property
    def network_reading(self) -> bool:
        """The network has text left to read, or its reading to judge (`read`; `learn_network` goes on with it)."""
        return self.net_learn is not None and (self._read_done < len(self._reading) or self._check is not None)

    def read(self, text: str) -> None:
        """Give the network a document to read before (and while) the user types in it, learned a
        lesson at a time by `learn_network` (the editor: the buffer as opened, in pauses in
        typing): its last `NetLearnConfig.read_chars` characters, a shorter one read again, up to
        `read_passes` times in all within as many characters. A longer one (over `judge_from` +
        `read_check`) is judged: its last `read_check` characters are held out, its last
        `judge_chars` before them read at `read_lr`, again (up to `read_more` times) while each pass
        lowers the network's bits on the held-out end, and then the best weights stay — the
        network's own when reading only hurt (netadapt.ReadCheck). Replaces what was left of the
        last one. Nothing without network learning (adaptation off, no memory, not the CPU)."""
        if self.net_learn is None:
            return
        cfg, text = self.net_learn.learn_cfg, _text(text)
        hold = cfg.read_check if cfg.read_chars > 0 else 0
        # the end of the text, twice as long as used (a line break may be two characters), its line breaks made "\n"
        text = normalize_newlines(text[-2 * (max(cfg.read_chars, cfg.judge_chars) + hold) :]) if cfg.read_chars > 0 else ""
        self._check, self.read_kept, self._typed_lr = None, None, None
        if self.net_adapt is not None:
            self.net_adapt.rate = 1.0
        if hold > 0 and len(text) > cfg.judge_from + hold:
            self._reading = text[:-hold][-cfg.judge_chars :]
            self._read_again = 0
            self._check = ReadCheck(self._ids(text[-hold:]), self._ids(self._reading[-self.context_chars :]), cfg)
            self._read_done, self._read_state = len(self._reading), None  # judged before it is read
            return
        self._reading = text[-cfg.read_chars :]
        n = len(self._reading)
        self._read_again = min(cfg.read_passes, cfg.read_chars // n) - 1 if n else 0
        self._read_from_start()

    def _read_from_start(self) -> None:
        """The text being read, from its start: the first lesson reads warmup + 1 characters for the state, then learns."""
        n, warmup = len(self._reading), self.net_learn.learn_cfg.warmup
        self._read_done = warmup + 1 if n > warmup + 1 else min(1, n)
        self._read_state = None

    def learn_network(self, read: bool = True) -> bool:
        """The network learns what was typed since its last lesson, once that is a lesson's worth
        (`NetLearnConfig.segment` characters typed in a row), else (with `read`) the next part of
        the text given to `read`: one SGD step on all its weights (netadapt.NetworkLearner, a few ms),
        after which the Stepper runs the learned weights (the states already stepped stay). The
        editor calls it in a pause in typing, never between a key and its ghost; `evaluate` after
        each suggestion. True when it learned."""
        if not (self.network_lesson_due or read and self.network_reading):
            return False
        cfg, state = self.net_learn.learn_cfg, None
        reading = not self.network_lesson_due
        if reading and self._check is not None and self._read_done >= len(self._reading):
            return self._judge_reading()
        if not reading:  # what was typed first: the user's own text, going on from the last typed lesson's
            n, self._net_typed = min(self._net_typed, cfg.max_segment), 0  # state when it follows the same text
            text = normalize_newlines(self._observed)
            last = self._typed_state
            if last is not None and text[: len(text) - n - 1][-cfg.warmup :] == last[0]:
                state, ids = last[1], self._ids(text[-(n + 1) :])
            else:  # (else warmup characters set the state)
                ids = self._ids(text[-(cfg.warmup + n + 1) :])
        else:  # the text being read: its next segment characters, from where the last lesson's state ended
            done, state = self._read_done, self._read_state  # (the first lesson: warmup characters for the state)
            self._read_done = end = min(len(self._reading), done + cfg.segment)
            n = end - done
            ids = self._ids(self._reading[max(0, done - 1 - (0 if state else cfg.warmup)) : end])
        if len(ids) < n + 1:
            return False
        judged = reading and self._check is not None
        lr = cfg.read_lr if judged else self._typed_lr if not reading else None  # (None: NetLearnConfig.lr)
        weights, after = self.net_learn.lesson(ids, n, state, lr=lr)
        if reading:
            self._read_state = after
            if self._read_done >= len(self._reading):
                if judged:  # read through: judged next
                    self._check.passes += 1
                elif self._read_again > 0:  # a short text: once more
                    self._read_again -= 1
                    self._read_from_start()
        else:  # the state after the lesson's inputs, all but the last character of the text
            self._typed_state = (text[:-1][-cfg.warmup :], after)
        self._stepper = Stepper(NumpyNet(self.net_learn.cfg, weights), self.device)
        return True

    def _judge_reading(self) -> bool:
        """A step of judging the reading on the held-out end (ReadCheck.STEP characters); once
        through, read the text again or keep the best weights."""
        check, learner = self._check, self.net_learn
        bits = check.step(self._stepper)
        if bits is None:
            return True
        if check.judge(bits, None if learner.weights is learner.base else learner.weights):
            self._read_from_start()
            return True
        if check.kept < check.passes:  # a pass made it worse: back to the best weights
            best = check.best[1]
            if best is None:
                learner.reset()
                self._stepper = self._network
            else:
                learner.weights = best
                self._stepper = Stepper(NumpyNet(learner.cfg, best), self.device)
        self._check, self.read_kept = None, check.kept
        if check.kept:  # text the network learns from (its own held-out end said so): what is typed in it too, at that rate
            self._typed_lr = learner.learn_cfg.read_lr
            if self.net_adapt is not None:  # and the output layer's correction as much faster
                self.net_adapt.rate = learner.learn_cfg.read_lr / learner.learn_cfg.lr
        return True

    @property
    def model(self):
        """The torch network (built from the numpy weights on first use when loaded without torch):
        for callers that need torch, such as scoring a long text (evaluate.score_text). The
        network as loaded, never the weights a document taught it (learn_network)."""
        return self._network.model

    def _ids(self, text: str) -> np.ndarray:
        """The ids the network reads for `text`: curly quotes as ASCII ones."""
        return self.vocab.encode(fold_quotes(text))

    def _unfold(self, p: np.ndarray, tail: str) -> np.ndarray:
        """A distribution of the network or the memory (read with ASCII quotes) after `tail`, in the
        document's quotes: where it writes them curly, the ASCII quote's probability (but 1 %) goes
        to the opening one after a space or a bracket (or at the start), else to the closing one."""
        if not self._curly:
            return p
        single, double = self._quotes
        p = p.copy()
        opening = not tail or tail[-1].isspace() or tail[-1] in "([{<-–—"
        a, lo, lc, d, do, dc = self._quote_ids
        for curly, src, dst in ((single, a, lo if opening else lc), (double, d, do if opening else dc)):
            if curly and src and dst:
                p[dst] += 0.99 * p[src]
                p[src] *= 0.01
        return p

    def _unfold_counts(self, ids: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The memory's counts of the next characters after a partial word (distinct ids), in the
        document's quotes: after a word's letters the closing one."""
        if not self._curly:
            return ids, counts
        single, double = self._quotes
        a, _, lc, d, _, dc = self._quote_ids
        for curly, src, dst in ((single, a, lc), (double, d, dc)):
            if curly and src and dst and src in ids:
                at, ids, counts = ids == src, ids.copy(), counts.copy()
                if dst in ids:  # both counted: the ASCII quote's count goes to the curly one
                    counts[ids == dst] += counts[at]
                    ids, counts = ids[~at], counts[~at]
                else:
                    ids[at] = dst
        return ids, counts

    def _state_for(self, context: str) -> StepState:
        if "\r" in context:
            context = normalize_newlines(context)
        self._quotes = curly_quotes(context)
        self._curly = self._quotes != (False, False)
        last = self._ctx
        if last is not None and context == last:
            return self._state
        n = len(context)
        if last is not None and n < len(last) and n in self._trail and last.startswith(context):
            # Backspace: a text the state stepped through. Stepping on from there overwrites the
            # rows of the attention buffer that the later states read: they go, with _ahead
            st = self._trail[n]
            self._trail = {k: s for k, s in self._trail.items() if k <= n}
            self._ctx, self._state, self._ahead = context, st, {}
            return st
        known = self._known_prefix(context, last) if last else -1
        if known >= 0:
            trail = self._trail if known == len(last) else {}  # lines dropped at the start: the lengths moved
            st, new = self._state, context[known:]
            used = ""  # the user typed what a suggestion began with: those states were stepped already
            while len(used) < len(new) and new[: len(used) + 1] in self._ahead:
                used = new[: len(used) + 1]
                trail[known + len(used)] = self._ahead[used]
            if used:
                st = self._ahead[used]
            rest = new[len(used) :]  # (one character, mostly: looked up in Python, not encoded in numpy; the same ids)
            ids = [self._index.get(ch, 0) for ch in fold_quotes(rest)] if len(rest) <= 8 else self._ids(rest)
            for k, i in enumerate(ids, known + len(used) + 1):
                st = trail[k] = self._stepper.step(st, int(i))
            while len(trail) > TRAIL:
                del trail[next(iter(trail))]  # the oldest
            # the stepped states after it stay (stepping a new character from the cached state forks
            # its buffer first, so they remain valid); none when it stepped on by itself
            ahead = {} if len(used) < len(new) or not used else {
                path[len(used) :]: s for path, s in self._ahead.items() if len(path) > len(used) and path.startswith(used)}
        else:
            st, ahead = self._stepper.recompute(self._ids(_tail(context, self.context_chars)).astype(np.int64)), {}
            trail = {n: st}
        self._ctx, self._state, self._ahead, self._trail = context, st, ahead, trail
        return st

    def _known_prefix(self, context: str, last: str) -> int:
        """How much of `context` the cached state has read (its new characters follow), or -1: the
        context extends the last one by at most max_extend characters, or it is the last one with
        lines dropped at its start (the editor's window slid forward), extended so; otherwise -1."""
        if context.startswith(last):
            return len(last) if len(context) - len(last) <= self.max_extend else -1
        head = context[:32]
        d = last.find(head, 1) if len(head) == 32 else -1
        for _ in range(4):  # the same 32 characters may occur more than once in the last context
            if d < 0:
                break
            if context.startswith(last[d:], 0):
                n = len(last) - d
                return n if len(context) - n <= self.max_extend else -1
            d = last.find(head, d + 1)
        return -1

    def reset(self) -> None:
        """Forget the cached state: the next call recomputes."""
        self._ctx, self._state, self._ahead, self._trail = None, None, {}, {}

    def new_document(self) -> None:
        """Start over for another document: no cached state, an empty document cache (the
        user's history, when adapting, stays)."""
        self.reset()
        if self.adapt is not None:
            self.adapt.new_document()
        if self.mixer is not None:
            self.mixer.reset()
        if self.net_adapt is not None:
            self.net_adapt.reset()
        self._restore_network()
        self._observed, self._mix_root, self._mix_fresh = "", None, False

    def _probs(self, st: StepState, tail: str, memory: bool = True) -> np.ndarray:
        """Next-character probabilities after `tail` (the text so far): the network's, mixed with
        the adaptive model when adapting, and with the corpus memory, the partial-word model and
        the match model (the document's own, and the neighbouring files') when the model has a memory."""
        root, self._mix_fresh = self._mix_fresh, False  # the prediction for the character the user types next
        if root:
            self._mix_root = self._observed
        if self.net_adapt is None or st is not self._state:  # a suggestion's later characters: the network as it is (latency)
            if self.memory is None or not memory:
                p_net = _softmax(st.logits)  # (may be returned: the caller's own)
            else:  # only read below: kept on the state, which a suggestion asks again on the next keys
                p_net = st.probs
                if p_net is None:
                    p_net = st.probs = _softmax(st.logits)
                    p_net.flags.writeable = False
        else:  # the next character after the text: the output layer adapted to the document (netadapt.py)
            p_net = _softmax(self.net_adapt.logits(st.logits, st.h[-1]))
            if root:
                self.net_adapt.remember(st.h[-1], p_net)
        short = normalize_newlines(tail[-64:])
        p_net = self._unfold(p_net, short)
        p = p_net if self.adapt is None else self.adapt.mix(p_net, short, self._index)
        if self.memory is None or not memory:
            return p
        p_mem, info = self.memory.predict_text(fold_quotes(short))
        p_mem = self._unfold(p_mem, short)
        doc = 0 if self.adapt is None else self._doc_match(short)
        p_word, seen = self._words(p, short)
        learner = self.adapt.learner if self.adapt is not None else None
        near = learner.neighbour_match() if learner is not None else None
        ch, rank = near.find(short) if near is not None else (None, 0)
        if doc and doc >= self.adapt.cfg.max_order:  # the document's own match, when at least as long (the nearer text); none
            mine, mine_rank = self.adapt.match(short)  # without the cache's longest context (most keys: no lookup)
            if mine is not None and mine_rank >= rank:
                ch, rank = mine, mine_rank
        p_match = match_expert(p, None if ch is None else self._index.get(ch, 0), self._flat)
        return self.mixer.mix((p_net, p, p_mem, p_word, p_match), default_keys(info, doc, seen, rank),
                              learn=root and self.adapt is not None)

    def _words(self, base: np.ndarray, tail: str) -> tuple[np.ndarray, int]:
        """The partial-word model's distribution after `tail` (words.py: the corpus memory's, the
        neighbouring files' and the document's counts over `base`), and how often the document
        and the neighbouring files saw that partial word (the mixer's key)."""
        prefix = partial_word(tail)
        if not prefix:
            return base, 0
        levels, seen = [], 0
        key = (prefix, self._quotes)  # the memory's answer in the document's quotes, as blend reads it, kept (the memory never changes)
        corpus = self._word_levels.get(key, False)
        if corpus is False:
            corpus = self.memory.word_counts(prefix)
            corpus = self._word_levels[key] = None if corpus is None else prepared(*self._unfold_counts(*corpus))
            if len(self._word_levels) > WORD_LEVELS:
                del self._word_levels[next(iter(self._word_levels))]  # the oldest
        if corpus is not None:
            levels.append(corpus)
        if self.adapt is not None:
            learner = self.adapt.learner
            near = learner.neighbour_words() if learner is not None else None
            for node in (near.get(prefix) if near else None, self.adapt.doc.words.get(prefix)):
                if node is not None:
                    levels.append(node)
                    seen += node[0]
        return (blend(base, levels, self._index), seen) if levels else (base, 0)

    def _doc_match(self, tail: str) -> int:
        """How long a suffix of `tail` the document (or, when longer, the neighbouring files) holds."""
        cfg = self.adapt.cfg
        doc = doc_match_order(self.adapt.doc.table, tail, cfg.min_order, cfg.max_order)
        learner = self.adapt.learner
        near = learner.neighbour_table() if learner is not None and doc < cfg.max_order else None
        return max(doc, doc_match_order(near, tail, cfg.min_order, cfg.max_order)) if near else doc

    # --- the public API ----------------------------------------------------------------

    def observe(self, context: str) -> None:
        """Learn from the text before the cursor (adaptation; nothing when it is off). The
        editor calls it before every question; `suggest` itself never learns."""
        _text(context)  # not a str: a TypeError now (one kept as the last context broke the next calls)
        if self.adapt is not None:
            self.adapt.observe(normalize_newlines(context) if "\r" in context else context)
        learners = [m for m in (self.mixer, self.net_adapt) if m is not None]
        if self.net_learn is not None and context != self._observed:  # what the network's next lesson learns
            known = self._known_prefix(context, self._observed) if self._observed else -1
            self._net_typed = self._net_typed + len(context) - known if known >= 0 else 0
        if learners and context != self._observed:
            root = self._mix_root
            # one character typed after the text predicted for: learn from it (not after a ghost taken:
            # learning there too made the mixer surer of itself, precision 0.35 -> 0.31 on the plays)
            typed = root is not None and len(context) == len(root) + 1 and context.startswith(root)
            i = self._index.get(normalize_newlines(context[-1]), 0) if typed else 0
            for m in learners:
                if typed:  # (the network's output layer learns the id it reads: a curly quote as ASCII)
                    m.update(self._fold[i] if m is self.net_adapt else i)
                else:
                    m.discard()
            self._observed, self._mix_root, self._mix_fresh = context, None, True

    def load_options(self) -> dict:
        """The `load_completer` options that make another model run as this one does (the
        device, adaptation, saving the history): for switching models in the editor."""
        history = self.adapt.history if self.adapt is not None else None
        return {"device": self.device, "adapt": self.adapt is not None,
                "save_history": history is not None and history.save_enabled}

    def probs(self, context: str) -> np.ndarray:
        """(V,) probabilities of the next character id after `context` (what suggestions use)."""
        return self._probs(self._state_for(context), _tail(context))

    def next_char_probs(self, context: str) -> dict[str, float]:
        """Probability of every next character (and `<unk>`), summing to 1."""
        p = self._probs(self._state_for(context), _tail(context))
        return {self.vocab.token(i): float(p[i]) for i in range(len(p))}

    def suggest(self, context: str, max_chars: int | None = None) -> Suggestion:
        """The suggestion shown after `context` (the text before the cursor). None before the
        document holds anything but whitespace: the networks never saw a document's start (they
        read streams), so there they guess the indentation after a line break (the code model
        "    " at 0.93 in an empty file)."""
        t0 = time.perf_counter()
        if _blank(_text(context)):
            return Suggestion("", 0.0, latency_ms=(time.perf_counter() - t0) * 1000)
        st = self._state_for(context)
        p0 = self._probs(st, _tail(context))  # the next character's distribution, asked once
        pol = self.policy
        show = pol.start_threshold if len(context) < pol.start_chars else pol.show_threshold
        s = self._continue(st, context, None, max_chars, p0=p0, show_threshold=show)
        if pol.boundary == "savings" and pol.first_chars > 1:
            s = self._other_starts(st, context, s, max_chars, p0, show)
        self._attach_attention(s, st, context)
        s.latency_ms = (time.perf_counter() - t0) * 1000
        return s

    def _savings(self, s: Suggestion) -> float:
        """What the savings rule maximises: (P(all of it right) - read_cost) * (len - 1); 0 for none."""
        return (s.confidence - self.policy.read_cost) * (len(s.text) - 1) if s.text else 0.0

    def _other_starts(self, st: StepState, context: str, best: Suggestion, max_chars: int | None,
                      p0: np.ndarray, show: float) -> Suggestion:
        """The greedy continuation can miss the likeliest long suggestion by its first character
        (a word the model is split on): grow from the next likeliest first characters too, and
        keep the one with the most savings (a try is skipped when its first character alone
        cannot beat the best)."""
        pol = self.policy
        limit = pol.max_chars if max_chars is None else max_chars
        greedy = int(p0[1:].argmax()) + 1  # the first character `best` grew from (whether or not it kept a ghost)
        score = self._savings(best)
        for i in np.argsort(-p0[1:])[: pol.first_chars] + 1:
            p = float(p0[i])
            if i == greedy:
                continue
            if p < show or (p - pol.read_cost) * (limit - 1) <= score:
                break  # the rest are less likely still
            s = self._continue(st, context, int(i), max_chars, p0=p0, beat=score, show_threshold=show,
                               memory_chars=pol.other_memory_chars)
            if self._savings(s) > score:
                best, score = s, self._savings(s)
        return best

    def alternatives(self, context: str, k: int = 3, max_chars: int | None = None) -> list[Suggestion]:
        """Up to k distinct suggestions, best first (each starts with a different character)."""
        if _blank(_text(context)) or k < 1:
            return []  # nothing typed yet: no ghost (suggest)
        st = self._state_for(context)
        best = self.suggest(context, max_chars)
        p = self._probs(st, _tail(context)).copy()
        out = [best] if best.text else []
        for first in np.argsort(-p)[: k + 1]:
            if len(out) >= k:
                break
            if first == 0:  # suggestions never start with <unk> (with k near the vocabulary it came up: API fuzz)
                continue
            s = self._continue(st, context, int(first), max_chars, threshold=self.policy.threshold / 4,
                               show_threshold=self.policy.show_threshold / 4)
            if s.text and all(s.text[0] != o.text[0] for o in out):
                self._attach_attention(s, st, context)
                out.append(s)
        return out[:1] + sorted(out[1:], key=lambda s: -s.confidence)

    def _attach_attention(self, s: Suggestion, st: StepState, context: str) -> None:
        if st.attn is not None:
            n = len(st.attn)
            s.attention = st.attn.tolist()  # (float32 to float: the same numbers)
            s.attention_text = _tail(normalize_newlines(context), n).rjust(n)[-n:]  # the line break before a short context too

    def _continue(self, st: StepState, context: str, first: int | None, max_chars: int | None,
                  threshold: float | None = None, show_threshold: float | None = None,
                  p0: np.ndarray | None = None, beat: float = 0.0, memory_chars: int | None = None) -> Suggestion:
        """Greedy continuation from `st` under the policy (first character forced if given; p0: the
        first character's distribution when already asked; beat: "savings" stops growing once it
        cannot reach more than this, another suggestion's savings)."""
        pol = self.policy
        limit = pol.max_chars if max_chars is None else max_chars
        threshold = pol.threshold if threshold is None else threshold
        text, probs, conf = [], [], 1.0
        in_word = bool(context) and context[-1] not in WORD_END  # completing a word already begun
        seen_word = False
        tail = _tail(context)  # what the adaptive model and the memory predict from
        savings = pol.boundary == "savings"
        path = "" if st is self._state else None  # from the cached context: its states are kept (_ahead) by path
        best = beat  # "savings": the best (P(first k right) - read_cost) * (k - 1) so far (or to beat)
        own = (0.0, 0.0, 1)  # "savings": (value, P, length) of the length this continuation would keep so far
        show = pol.show_threshold if show_threshold is None else show_threshold
        memory_chars = pol.memory_chars if memory_chars is None else memory_chars
        while len(text) < limit:
            p = p0 if p0 is not None and not text else self._probs(st, tail, memory=len(text) < memory_chars)
            i = int(p[1:].argmax()) + 1 if first is None or text else first  # never <unk> (id 0)
            p_true = float(p[i])
            if conf * p_true < threshold:
                break
            ch = self.vocab.token(i)
            if pol.boundary == "word" and ch in WORD_END and (seen_word or in_word):
                if ch in " \t" and conf * p_true >= threshold:
                    text.append(ch)  # the space after a finished word comes along
                    probs.append(p_true)
                    conf *= p_true
                break
            text.append(ch)
            probs.append(p_true)
            conf *= p_true
            if ch not in WORD_END:
                seen_word = True
            if savings:  # no longer continuation can beat the best length kept: stop growing (the same result, fewer steps)
                value = (conf - pol.read_cost) * (len(text) - 1)
                best = max(best, value)
                if value > own[0]:
                    own = (value, conf, len(text))  # this continuation's own best length so far (the first of equals, as argmax)
                if conf < show and (own[0] <= 0 or own[1] < show):
                    return Suggestion("", 0.0)  # every length kept from here on is too unlikely to show
                if (conf - pol.read_cost) * (limit - 1) <= best:
                    break
                if pol.lookahead and len(text) - own[2] >= pol.lookahead:
                    break
            if len(text) < limit:
                st = self._step(st, path, i, ch) if path is not None else self._stepper.step(st, self._fold[i])
                path = None if path is None else path + ch
                tail += ch
        if savings and text:
            # keep the length k that saves most keystrokes on average, less reading it: (P(first k right) - read_cost) * (k - 1)
            k, conf, value, cum = 1, probs[0], 0.0, 1.0  # (in floats, as np.cumprod and np.argmax would: the first of equals)
            for j, q in enumerate(probs):
                cum *= q
                if (cum - pol.read_cost) * j > value:
                    k, conf, value = j + 1, cum, (cum - pol.read_cost) * j
            text, probs = text[:k], probs[:k]
            if conf < show:
                return Suggestion("", 0.0)
        if len(text) < pol.min_chars:
            return Suggestion("", 0.0)
        return Suggestion("".join(text), conf, probs)

    def _step(self, st: StepState, path: str, i: int, ch: str) -> StepState:
        """The state after _ctx + path + ch, stepped once per context: kept in _ahead for the next
        suggestion and the next key (typing along a suggestion reuses its states)."""
        nxt = self._ahead.get(path + ch)
        if nxt is None:
            if any(len(p) > len(path) and p.startswith(path) for p in self._ahead):
                st = self._stepper.fork(st)  # another branch was stepped from st: keep its rows
            nxt = self._ahead[path + ch] = self._stepper.step(st, self._fold[i])
        return nxt


def _tail(context: str, n: int = TAIL) -> str:
    """The last n characters of `context`, with START before them when the context is shorter:
    a context that short is a document's beginning (the editor's is a window of whole lines over
    a kilobyte long), and a paragraph break is where the networks and the memory saw texts begin.
    One line break before a short note's first characters: bpc 1.991 -> 1.974, KSR 0.274 ->
    0.279; a blank line (START): 1.687 -> 1.677 on bench/quality.py's one-sentence documents,
    1.856 -> 1.847 on 80 README sentences, 1.431 -> 1.429 on click's first 600 characters
    (the code model), +0.3 % on the first 600 of held-out play tails, which begin mid-text."""
    tail = context[-n:]
    return tail if len(tail) == n else START + tail


def _text(context) -> str:
    """`context`, which must be a str (a TypeError that says so, not one from deep inside)."""
    if not isinstance(context, str):
        raise TypeError(f"context must be a str, not {type(context).__name__}")
    return context


def _blank(context: str) -> bool:
    """Nothing but whitespace (str.isspace stops at the first other character: no copy of a long context)."""
    return not context or context.isspace()


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - np.maximum.reduce(logits))  # (the ufuncs' reductions: ndarray.max / sum without their Python wrappers)
    z /= np.add.reduce(z)
    return z


def load_completer(model: str | Path | None = None, device: str = "cpu", **kwargs) -> Completer:
    """A Completer for a shipped or user checkpoint name, or a path (default: the model `edit`
    opens notes with, `prose`; `attention` when that one is not installed).
    kwargs go to Completer (adapt=True for adaptation, save_history=True to keep what it learns).
    The model's corpus memory (`NAME.memory.safetensors` beside it, or `NAME.memory.packed`:
    memory_pack.py; a shipped wider network reads its narrower one's, registry.SHARED_MEMORY) is loaded when there
    is one, unless memory=False."""
    from charcomplete.checkpoint import load_checkpoint, load_weights
    from charcomplete.device import resolve_device, resolve_device_cheaply
    from charcomplete.registry import model_for_kind, model_name, resolve_model

    device = resolve_device_cheaply(device) or resolve_device(device)
    path = resolve_model(str(model or model_for_kind("prose")))
    if device == "cpu":  # numpy weights: torch is not imported (Completer.model builds it if asked)
        weights, meta, cfg, vocab = load_weights(path)
        net = NumpyNet(cfg, weights)
    else:
        net, meta, vocab = load_checkpoint(path, device=device)
    memory = kwargs.pop("memory", True)
    if memory is True:
        from charcomplete.memory import load_memory
        from charcomplete.memory_pack import memory_source

        mem_path = memory_source(path)  # beside it, or its packed memory unpacked (memory_pack.py)
        memory = load_memory(mem_path) if mem_path is not None else None
    return Completer(net, vocab, name=model_name(path), meta=meta, device=device, path=path, memory=memory or None, **kwargs)
