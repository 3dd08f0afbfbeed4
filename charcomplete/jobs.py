"""A training job: where the model goes, whether it may go there, what it learns from, and the
run itself (with pause and resume). `charcomplete train` and the editor's Ctrl+T both use it;
they only differ in how they show progress and how they are stopped.

- The CLI writes straight to its target (`--name`/`--out`, replaced only with `--force`).
- The editor writes to `<name>.safetensors.partial` and renames it when the run finishes, so
  a cancelled run never leaves a half-trained model under the name; a cancelled run is kept
  in the paused-runs store (resume.py) and resumed from the palette.

Training that improves: by default a job fine-tunes the model in use (`init`) with settings
for small texts (FINETUNE_LR, the budget of `TrainRequest`), then scores the old and the new
model on the same held-out tail of the text (bits per character and KSR, no adaptation);
the editor switches only when the new one is better (lower bpc, KSR not lower). A text shorter
than MIN_TRAIN_CHARS is refused with a notice: it cannot tell a better model from a worse one.
"""

from __future__ import annotations

import os
import stat
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from charcomplete.errors import CheckpointError, CorpusError, TrainingError, TrainingInterrupted
from charcomplete.fileio import probe_folder
from charcomplete.paths import make_folder
from charcomplete.registry import MAX_NAME_BYTES, MEMORY_SUFFIX, SUFFIX, same_file, user_checkpoint_path
from charcomplete.resume import (
    checkpoint_of_resume,
    drop_paused_run,
    keep_paused_run,
    paused_run_dir,
    read_paused_request,
    resume_path_for,
)


FINETUNE_LR = 3e-4  # Adam's learning rate when fine-tuning (bench/finetune.py: 1e-3 for the first attention model; 3e-4 beats it at 2, 20 and 200 KB with the stronger prose network)
SCRATCH_LR = 3e-3  # and from scratch (the notebook's)
MAX_UNKNOWN = 0.01  # a text with more characters outside a model's vocabulary is not fine-tuned on by default (a new model is)


def unknown_fraction(corpus) -> float:
    """The share of the training text that the corpus's vocabulary maps to <unk> (id 0)."""
    import numpy as np

    return float(np.count_nonzero(np.asarray(corpus.train) == 0)) / max(1, len(corpus.train))


MIN_TRAIN_CHARS = 2000  # less text than this is refused: its held-out tail (5 %) is under 100 characters, too few to judge a model by


def check_writable(path: Path) -> None:
    """Fail before training (or any long work) if `path` cannot be written."""
    folder = path.parent
    try:
        make_folder(folder)
        probe_folder(folder)
    except OSError as e:
        raise CheckpointError(f"cannot write to {folder} ({e.strerror or e})") from None
    try:
        st = os.stat(path)  # a name the file system refuses (too long) fails now, not after training
    except FileNotFoundError:
        st = None
        if os.path.islink(path) and not Path(os.path.realpath(path)).parent.is_dir():
            raise CheckpointError(f"cannot write {path}: it is a symlink into a missing folder ({os.readlink(path)})") from None
    except OSError as e:
        raise CheckpointError(f"cannot write {path} ({e.strerror or e})") from None
    if st is not None and not stat.S_ISREG(st.st_mode):  # a FIFO, a device (a link to /dev/zero), a folder
        raise CheckpointError(f"cannot write {path}: it is not a regular file")
    stem = path.name.removesuffix(SUFFIX)
    if len(os.fsencode(stem + MEMORY_SUFFIX)) > 255:  # its memory and resume files must fit too (the longest suffixes)
        raise CheckpointError(f"{path.name}: name too long for the files beside it ({stem}{MEMORY_SUFFIX}); "
                              f"at most {255 - len(MEMORY_SUFFIX)} bytes before {SUFFIX}")


def missing_folders(out: str | None) -> list[Path]:
    """The folders above `out` that do not exist yet, deepest first (check_writable makes them)."""
    made, folder = [], Path(out).parent if out else None
    while folder is not None and not os.path.lexists(folder) and folder != folder.parent:
        made.append(folder)
        folder = folder.parent
    return made


def remove_empty_folders(folders: list[Path]) -> None:
    """Remove those of `folders` (deepest first) that are still empty: a run that failed leaves none behind."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # not empty (a resume file was kept there), or gone
            return


def corpus_stem(path: str) -> str:
    """A model name part from a corpus path: `notes/` -> notes, `a/b.md` -> b, `*.md` -> corpus."""
    stem = Path(path.rstrip("/")).name.split(".")[0][:40]
    stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in stem).strip("-")
    return stem or "corpus"


def cli_target(kind: str, sources: list[str], name: str | None, out: str | None, resume: str | None, force: bool) -> Path:
    """The checkpoint `charcomplete train` writes, checked to be writable and not taken."""
    if resume and not os.path.lexists(resume_path_for(resume)):  # it said "m.resume.safetensors: no such checkpoint"
        hint = f"; to train the finished model further: --init {resume}" if os.path.isfile(resume) else ""
        raise CheckpointError(f"--resume {resume}: no resume file {resume_path_for(resume).name} (a run leaves one only "
                              f"when it stops before its end){hint}")
    if resume:
        target = Path(out) if out else (user_checkpoint_path(name) if name else checkpoint_of_resume(resume))
    elif out:
        target = Path(out)
    else:
        target = user_checkpoint_path(name or f"{kind}-{corpus_stem(sources[0])}")
    if out and os.path.exists(out) and not os.path.isfile(out):  # /dev/null would have become /dev/null.safetensors
        raise CheckpointError(f"--out {out}: not a regular file; a model is saved as a file, e.g. --out my-model.safetensors")
    if target.suffix != SUFFIX:
        target = target.with_name(target.name + SUFFIX)
    check_writable(target)
    # a resumed run replaces its own checkpoint; another file it names by --out/--name is kept as any run keeps it
    if target.exists() and not force and not (resume and same_file(target, checkpoint_of_resume(resume))):
        raise CheckpointError(f"{target} exists; use --force to replace it or choose another --name/--out")
    return target


def load_data(corpus: list[str], data_dir: str | None, val_fraction: float, init: str | None):
    """(Corpus, the model to fine-tune or None): text from files or a prepared folder, read with
    the fine-tuned model's vocabulary when there is one."""
    from charcomplete.checkpoint import load_checkpoint
    from charcomplete.corpus import load_corpus
    from charcomplete.prepare import load_prepared
    from charcomplete.registry import resolve_model

    init_model, vocab = None, None
    if init:
        init_model, _, vocab = load_checkpoint(resolve_model(init), device="cpu")
        init_model.train()
    if data_dir:
        data = load_prepared(data_dir)
        if vocab is not None and vocab != data.vocab:
            raise CorpusError(f"--init: {data_dir} was prepared with another vocabulary than the model's; fine-tune with --corpus")
        return data, init_model
    return load_corpus(corpus, val_fraction=val_fraction, vocab=vocab), init_model


def save_memory(checkpoint: Path, corpus, mixer_texts: list[str] | None = None, mixer_what: str = "",
                cfg=None, network: Path | None = None) -> Path:
    """Build the corpus memory of `corpus`'s training text (never its held-out tails) and save it
    beside `checkpoint` (registry.memory_path_for); the corpus must be in the model's vocabulary.
    The mixer's starting weights are learned, by the network at `network` (default: `checkpoint`),
    on `mixer_texts` (described by `mixer_what`), by default on the corpus's held-out tails.
    cfg: a MemoryConfig (default: its defaults)."""
    from charcomplete.memory import build_memory_ids
    from charcomplete.mixer_start import held_out_text

    memory = build_memory_ids(corpus.train, corpus.vocab, cfg, description=corpus.description)
    if mixer_texts is None:
        mixer_texts, mixer_what = [held_out_text(corpus.val, corpus.vocab)], "the corpus's held-out tails"
    memory.mixer = learned_mixer(network or checkpoint, memory, mixer_texts, mixer_what)
    return _save_beside(memory, checkpoint)


def _save_beside(memory, checkpoint: Path) -> Path:
    """Save `memory` as `checkpoint`'s (unpacked; a packed one beside it goes: one memory per model)."""
    from charcomplete.memory_pack import packed_path_for
    from charcomplete.registry import memory_path_for

    path = memory_path_for(checkpoint)
    memory.save(path)
    packed_path_for(checkpoint).unlink(missing_ok=True)
    return path


def learned_mixer(checkpoint: Path, memory, texts: list[str], what: str) -> tuple | None:
    """(the mixer's starting weights learned by the model at `checkpoint` with `memory` on `texts`,
    their description for the memory's file), or None when the texts are too short to learn from."""
    from charcomplete.adapt import AdaptiveModel
    from charcomplete.completion import load_completer
    from charcomplete.mixer_start import learn_start, pieces

    completer = load_completer(checkpoint, memory=memory, adapt=AdaptiveModel())  # the document only: no user history
    start = learn_start(completer, texts)
    return None if start is None else (start, {"text": what, "chars": sum(map(len, pieces(texts)))})


def give_memory(checkpoint: Path, corpus, init: str | None = None) -> Path:
    """The corpus memory of a newly trained model: a fine-tuned model keeps the memory of the
    model it started from (same vocabulary; linked, or copied across file systems), so tuning a
    shipped model on a few notes does not lose what it remembers of its large corpus; a model
    with no such memory gets one of its own training text (`save_memory`). A packed memory stays
    packed (memory_pack.py: both models then read the same unpacked file in the cache)."""
    from charcomplete.fileio import replace_file
    from charcomplete.memory_pack import is_packed, memory_file, packed_path_for
    from charcomplete.registry import memory_path_for, resolve_model

    source = memory_file(resolve_model(init)) if init else None
    if source is None:
        return save_memory(checkpoint, corpus)
    target = (packed_path_for if is_packed(source) else memory_path_for)(checkpoint)
    if target.resolve() != source.resolve():
        for stale in (memory_path_for(checkpoint), packed_path_for(checkpoint)):
            stale.unlink(missing_ok=True)
        try:
            os.link(source, target)
        except OSError:  # another file system: a copy, whole or not at all (a part-copied memory breaks the model)
            replace_file(target, source.read_bytes(), 0o644)
    return target


def build_memory_for(model: str, sources: list[str], data_dir: str | None = None, val_fraction: float = 0.05,
                     out: str | None = None, mixer_sources: list[str] | None = None, cfg=None) -> Path:
    """`charcomplete memory`: the corpus memory of an existing checkpoint (name or path), from the
    training part of `sources` (or a prepared corpus), read in the model's vocabulary, built with
    the MemoryConfig `cfg` (default: its defaults); the mixer's starting weights learned on the
    files of `mixer_sources` when given, else on the held-out tails. With neither sources nor a
    prepared corpus: only the starting weights of the memory it has."""
    from charcomplete.checkpoint import inspect_checkpoint
    from charcomplete.corpus import load_corpus, read_corpus
    from charcomplete.memory import load_memory
    from charcomplete.memory_pack import memory_source
    from charcomplete.prepare import load_prepared
    from charcomplete.registry import refuse_shipped_by_name, resolve_model

    path = resolve_model(model)
    if out is None:
        refuse_shipped_by_name(model, path, "rebuilding its memory")
    _, _, vocab = inspect_checkpoint(path)
    target = Path(out) if out else path
    check_writable(target)
    mixer_texts = [d.text for d in read_corpus(mixer_sources).documents] if mixer_sources else None
    what = ", ".join(mixer_sources or [])
    if not sources and not data_dir:  # the starting weights only, the tables as they are
        source = memory_source(path)
        if source is None:
            raise CorpusError(f"{model} has no corpus memory yet: build it with --corpus PATH (or --data DIR)")
        memory = load_memory(source)
        memory.mixer = learned_mixer(path, memory, mixer_texts or [], what)
        if memory.mixer is None:
            raise CorpusError(f"{what}: no sentence of 40 characters or more to learn from")
        return _save_beside(memory, target)
    if data_dir:
        corpus = load_prepared(data_dir)
        if corpus.vocab != vocab:
            raise CorpusError(f"{data_dir} was prepared with another vocabulary than the model's; use --corpus")
    else:
        corpus = load_corpus(sources, val_fraction=val_fraction, vocab=vocab)
    return save_memory(target, corpus, mixer_texts, what, cfg, network=path)  # (--out: no checkpoint need be there)


def pack_memory_for(model: str, out: str | None = None) -> tuple[Path, int]:
    """`charcomplete memory --pack`: pack the memory beside the checkpoint (`out`'s, else `model`'s)
    into NAME.memory.packed (memory_pack.py) and remove the unpacked file; (packed path, its size before)."""
    from charcomplete.memory_pack import pack, packed_path_for
    from charcomplete.registry import memory_path_for, refuse_shipped_by_name, resolve_model

    if out is None:
        target = resolve_model(model)
        refuse_shipped_by_name(model, target, "packing its memory")
    else:
        target = Path(out)
    plain = memory_path_for(target)
    if not plain.is_file():
        raise CorpusError(f"{plain}: no unpacked memory to pack (build one with --corpus PATH)")
    check_writable(target)
    size = plain.stat().st_size
    try:
        packed = pack(plain, packed_path_for(target))
    except OSError as e:  # a write that fails midway (a full disk): the unpacked memory stays
        raise CheckpointError(f"cannot write {packed_path_for(target)} ({e.strerror or e})") from None
    plain.unlink()
    return packed, size


# --- the editor's jobs ------------------------------------------------------------------------


@dataclass
class TrainRequest:
    """One training run started from the editor (the defaults suit a few KB to a few MB of text)."""

    corpus: list[str]  # files or folders to read
    name: str  # the model name it is saved as
    kind: str = "attention"  # "attention" or "lstm" (from scratch; fine-tuning keeps the model's)
    init: str | None = None  # fine-tune this checkpoint (the model in use); None: from scratch
    max_minutes: float = 2.0  # wall-clock budget
    epochs: float | None = 20.0  # the run ends at whichever of epochs / minutes comes first
    embed: int = 64  # embedding width
    hidden: int = 256  # LSTM width
    window: int = 32  # attention window
    seq_len: int = 128  # characters per chunk (lowered for small texts, see `fit_batch`)
    batch_size: int = 64  # parallel streams (lowered for small texts, see `fit_batch`)
    eval_every: int = 50  # steps between validations
    lr: float = SCRATCH_LR  # Adam learning rate (FINETUNE_LR when fine-tuning)
    device: str = "cpu"  # where it trains
    seed: int = 0  # same seed, same run
    min_chars: int = MIN_TRAIN_CHARS  # less text than this is refused with a notice
    description: str = ""  # what the title says is trained on
    resume: bool = False  # continue this name's cancelled run (its paused state) instead of starting anew
    cleanup: list[Path] = field(default_factory=list)  # temp files to delete afterwards


def fit_batch(n_chars: int, batch_size: int, seq_len: int) -> tuple[int, int]:
    """A batch size and chunk length that give a small text several steps per epoch."""
    seq = max(8, min(seq_len, n_chars // 32))
    batch = max(1, min(batch_size, n_chars // (seq * 8)))
    return batch, seq


def unique_model_name(base: str) -> str:
    """`base`, or `base-2`, ...: a name with neither a model nor a paused run."""
    base = "".join(c if c.isalnum() or c in "-_" else "-" for c in base).strip("-.") or "model"
    while len(base.encode("utf-8")) > MAX_NAME_BYTES - 4:  # room for "-99"
        base = base[:-1]
    name, i = base, 2
    while user_checkpoint_path(name).exists() or paused_run_dir(name).exists():
        name, i = f"{base}-{i}", i + 1
    return name


def new_name_problem(name: str) -> str | None:
    """Why a model trained from the editor cannot take the name `name` (None: it can): a bad
    name, one of a model or a paused run of yours (never overwritten: the CLI asks for --force),
    or a shipped model's (yours would hide it)."""
    from charcomplete.registry import shipped_hidden_by

    try:
        path = user_checkpoint_path(name)
    except CheckpointError as e:
        return str(e)
    if path.exists() or paused_run_dir(name).exists():
        return f"A model named {name!r} exists already; choose another name."
    if shipped_hidden_by(path) is not None:
        return f"{name!r} is a shipped model's name (yours would hide it); choose another name."
    return None


def load_paused(name: str) -> TrainRequest:
    """The request of a cancelled run, ready to resume (ValueError if it is damaged)."""
    data = read_paused_request(name)
    try:
        known = {f.name for f in fields(TrainRequest)} - {"cleanup"}
        req = TrainRequest(**{k: v for k, v in data.items() if k in known})
    except TypeError as e:
        raise ValueError(f"cannot resume '{name}': {e}") from None
    req.resume = True
    return req


@dataclass
class TailScores:
    """How well a model predicts the held-out tail of the text it was (or was not) trained on."""

    bpc: float  # bits per character, the network alone
    ksr: float  # keystroke savings, no adaptation
    precision: float | None  # ghosts taken / shown (None: none shown)

    def __str__(self) -> str:
        shown = "-" if self.precision is None else f"{self.precision:.3f}"
        return f"{self.bpc:.3f} bpc, KSR {self.ksr:.3f}, precision {shown}"


def score_tail(path: Path, corpus, ksr_chars: int = 3000, val_fraction: float = 0.05, max_chars: int = 200_000) -> TailScores:
    """Scores of the checkpoint at `path` on `corpus`'s held-out tails (each file's last
    `val_fraction`, as load_corpus split it; bpc on at most `max_chars` of them)."""
    from charcomplete.completion import load_completer
    from charcomplete.corpus import split_text
    from charcomplete.evaluate import completion_metrics, score_text

    tails = [t for t in (split_text(d.text, val_fraction)[1] for d in corpus.files.documents) if t]
    completer = load_completer(str(path), adapt=False)
    share = max(1, max_chars // max(1, len(tails)))
    scored = [score_text(completer.model, completer.vocab, t[:share]) for t in tails]
    n = sum(s["chars"] for s in scored) or 1
    bpc = sum(s["bpc"] * s["chars"] for s in scored if s["chars"]) / n
    texts, left = [], ksr_chars
    for t in tails:
        if left > 0:
            texts.append(t[:left])
            left -= len(texts[-1])
    m = completion_metrics(completer, texts, latency_chars=0)
    return TailScores(bpc, m["ksr"] or 0.0, m["precision"])


@dataclass
class TrainOutcome:
    """A finished editor job: the new model and how it compares with the one it would replace."""

    path: Path  # the new checkpoint (saved whatever the scores)
    new: TailScores  # the new model on the held-out tail
    old: TailScores | None  # the model in use, on the same tail (None: there was none to compare)
    note: str = ""  # what the user should know (e.g. a new model was trained instead of fine-tuning)

    @property
    def better(self) -> bool:
        """The new model predicts the held-out tail better than the old one: lower bpc, and its
        ghosts save at least as many keys (on 2 KB notes a fine-tune once lowered bpc 2.738 ->
        2.413 while KSR fell 0.170 -> 0.130: a user would have seen worse ghosts)."""
        return self.old is None or (self.new.bpc < self.old.bpc and self.new.ksr >= self.old.ksr)


def run_training(req: TrainRequest, callback, should_stop, compare_with: str | None = None) -> TrainOutcome:
    """Train as asked (fine-tuning `req.init` when set); returns the new checkpoint scored against
    `compare_with` (the model in use) on the held-out tail. Raises TrainingInterrupted on Cancel,
    after keeping the run to be resumed."""
    from charcomplete.checkpoint import load_checkpoint
    from charcomplete.config import ModelConfig
    from charcomplete.corpus import load_corpus
    from charcomplete.registry import resolve_model
    from charcomplete.trainer import TrainConfig, train

    init_model, vocab, note = None, None, ""
    if req.init:
        init_model, _, vocab = load_checkpoint(resolve_model(req.init), device="cpu")
        init_model.train()
    corpus = load_corpus(req.corpus, vocab=vocab)
    if init_model is not None and not req.resume and unknown_fraction(corpus) > MAX_UNKNOWN:  # another alphabet
        note = f"{unknown_fraction(corpus):.0%} of the text is outside the model's characters: trained a new model instead"
        init_model, req.init, req.lr = None, None, SCRATCH_LR
        corpus = load_corpus(req.corpus)
    if corpus.files.chars < req.min_chars:
        raise TrainingError(f"{corpus.files.chars:,} characters is too little to learn from: a model trained on it cannot be "
                            f"told from a worse one (give at least {req.min_chars:,}: a longer file or a folder of notes)")
    final = user_checkpoint_path(req.name)
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = paused_run_dir(req.name) / "model.safetensors" if req.resume else final.with_name(final.name + ".partial")
    batch, seq = fit_batch(len(corpus.train), req.batch_size, req.seq_len)
    cfg = TrainConfig(epochs=req.epochs, max_minutes=req.max_minutes, batch_size=batch, seq_len=seq, lr=req.lr,
                      eval_every=req.eval_every, seed=req.seed, device=req.device)
    model_cfg = init_model.cfg if init_model is not None else ModelConfig(kind=req.kind, embed=req.embed, hidden=req.hidden,
                                                                          window=req.window)
    try:
        train(model_cfg, cfg, corpus, partial, callback=callback, should_stop=should_stop,
              resume=partial if req.resume else None, init_model=init_model)
    except TrainingInterrupted:  # cancelled: keep it to resume later
        request = {k: v for k, v in asdict(req).items() if k not in ("cleanup", "resume")}
        keep_paused_run(req.name, partial, request, [Path(p) for p in req.cleanup])
        raise
    except BaseException:  # failed: leave nothing half-trained behind (a paused run stays as it was)
        if not req.resume:
            for p in (partial, resume_path_for(partial)):
                p.unlink(missing_ok=True)
        raise
    if final.exists():  # a model of this name came while it trained or was paused (`train --name`): never replaced
        taken, final = req.name, user_checkpoint_path(unique_model_name(req.name))
        moved = f"A model named '{taken}' appeared while this one trained: saved as '{final.stem}'."
        note = f"{note} {moved}" if note else moved
    os.replace(partial, final)
    if req.resume:
        drop_paused_run(req.name)
    give_memory(final, corpus, req.init)
    old = score_tail(resolve_model(compare_with), corpus) if compare_with else None
    return TrainOutcome(final, score_tail(final, corpus), old, note)
