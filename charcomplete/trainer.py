"""The one training loop: `charcomplete train`, `compare` and the editor all call `train()`.

Truncated BPTT: the training text is cut into `batch_size` contiguous streams; step k feeds
chunk k (seq_len characters) of every stream and carries the recurrent state (detached) into
chunk k+1, so every position predicts its next character and the model sees context longer
than one chunk. Validation runs every `eval_every` steps on the held-out tails and reports
bits per character and top-1 accuracy; the best model so far is written atomically.

Everything the loop does at step k is a function of (seed, k) and the saved state, so a run
stopped at a step boundary (Ctrl+C, Cancel) and resumed continues exactly.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch
import torch.nn.functional as F

from charcomplete.checkpoint import CheckpointMeta, save_checkpoint
from charcomplete.config import ModelConfig
from charcomplete.corpus import Corpus, as_streams, steps_per_epoch
from charcomplete.device import resolve_device
from charcomplete.errors import ConfigError, TrainingError, TrainingInterrupted
from charcomplete.models import build_model, count_parameters, detach_state
from charcomplete.paths import make_folder
from charcomplete.resume import restore_run_state, resume_path_for, save_run_state

if TYPE_CHECKING:
    from charcomplete.distributed import Dist

LN2 = math.log(2.0)


@dataclass
class TrainConfig:
    epochs: float | None = 1.0  # passes over the training text (fractions allowed); None: time budget only
    max_minutes: float | None = None  # wall-clock budget in minutes (fractions allowed); None: no limit
    batch_size: int = 64  # B parallel streams
    seq_len: int = 128  # T characters per chunk (truncated BPTT length)
    lr: float = 3e-3  # Adam learning rate (the notebook's)
    lr_final: float = 0.1  # cosine decay over the budget (epochs or minutes) down to lr * lr_final
    grad_clip: float = 1.0  # max global gradient norm
    eval_every: int = 200  # steps between validations (and one at the end)
    val_max_chars: int = 262_144  # validate on at most this many held-out characters (evenly spread pieces)
    seed: int = 0  # seeds the initial weights (and dropout): same seed, same run
    device: str = "auto"  # auto (cuda, mps, cpu), cpu, cuda or mps

    def validate(self) -> "TrainConfig":
        if self.epochs is not None and not 0 < self.epochs < math.inf:
            raise ConfigError("epochs must be a number > 0")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise ConfigError("max-minutes must be > 0")
        for name in ("batch_size", "seq_len", "eval_every", "val_max_chars"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name.replace('_', '-')} must be >= 1")
        if not self.lr > 0 or not math.isfinite(self.lr):
            raise ConfigError("lr must be a positive number")
        return self


@dataclass
class Progress:
    """One event of a run, passed to the callback after every step and every validation."""

    kind: str  # "start", "step", "eval" or "done"
    step: int  # steps done so far
    total_steps: int | None  # with an epoch budget; None when only time bounds the run
    epoch: float  # passes over the training text so far
    elapsed: float  # seconds of training so far (across resumes)
    chars: int  # characters of supervision so far
    chars_per_s: float  # training speed of this run
    train_bpc: float | None  # recent training loss in bits per character
    val_bpc: float | None = None  # the latest validation (for "eval")
    val_acc: float | None = None  # top-1 accuracy of the latest validation
    best_val_bpc: float | None = None  # best validation so far
    fraction: float = 0.0  # how much of the budget is spent, 0..1
    eta: float | None = None  # seconds left, estimated


@dataclass
class TrainResult:
    path: Path  # the best checkpoint
    best_val_bpc: float | None
    best_val_acc: float | None
    steps: int
    chars: int
    seconds: float
    chars_per_s: float
    parameters: int
    history: list[dict] = field(default_factory=list)  # one dict per validation


@torch.no_grad()
def score_ids(model, ids: np.ndarray, streams: int, seq_len: int, device: str, dist: Dist | None = None) -> dict:
    """bpc, top-1 and top-3 accuracy of `model` predicting every next id of `ids`.

    `ids` is cut into `streams` contiguous pieces read in parallel, chunk by chunk
    (`seq_len`) with the state carried over, so any length works; the first id of each piece
    has no context and is not scored. dist: in a distributed run each rank scores its share
    of the streams and the sums are added.
    """
    was_training = model.training
    model.eval()
    rows = dist.rows(streams) if dist is not None else slice(None)
    x_all = torch.from_numpy(as_streams(ids, streams)[rows].astype(np.int64)).to(device)  # (S, L)
    nll, top1, top3, count, state = 0.0, 0, 0, 0, None
    for start in range(0, x_all.shape[1] - 1 if len(x_all) else 0, seq_len):
        x = x_all[:, start : min(start + seq_len, x_all.shape[1] - 1)]  # (S, t)
        y = x_all[:, start + 1 : start + 1 + x.shape[1]]  # (S, t)
        logits, state = model(x, state)  # (S, t, V)
        nll += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum").item()
        best3 = logits.topk(min(3, logits.shape[-1]), dim=-1).indices  # (S, t, 3)
        top1 += (best3[..., 0] == y).sum().item()
        top3 += (best3 == y.unsqueeze(-1)).any(-1).sum().item()
        count += y.numel()
    model.train(was_training)
    if dist is not None:
        nll, top1, top3, count = dist.sum([nll, top1, top3, count])
    if count == 0:
        return {"bpc": float("nan"), "top1": float("nan"), "top3": float("nan"), "chars": 0}
    return {"bpc": nll / count / LN2, "top1": top1 / count, "top3": top3 / count, "chars": int(count)}


def validation_sample(val: np.ndarray, max_chars: int, pieces: int = 16) -> np.ndarray:
    """At most `max_chars` held-out ids: all of them, or `pieces` evenly spaced runs, so that a
    corpus of several folders is validated on each of them, not on the first one only."""
    if len(val) <= max_chars:
        return val
    run = max_chars // pieces
    starts = np.linspace(0, len(val) - run, pieces).astype(np.int64)
    return np.concatenate([np.asarray(val[s : s + run]) for s in starts])  # (pieces * run,)


def validation_streams(n: int, batch_size: int, seq_len: int) -> int:
    """How many streams the trainer's validation reads `n` held-out ids in."""
    return max(1, min(batch_size, (n - 1) // max(seq_len, 1)))


def train(
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    corpus: Corpus,
    out: str | Path,
    callback: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    resume: str | Path | None = None,
    init_model=None,
    dist: Dist | None = None,
    teacher=None,
    teacher_weight: float = 0.5,
) -> TrainResult:
    """Train a model on `corpus`, writing the best one to `out` (atomically).

    (One long function on purpose, as nanoGPT's train.py: the loop, its budget, validation and
    stop share one state; the nested helpers read it, and split apart they would pass it around.)

    callback: called with a Progress after every step and validation.
    should_stop: polled between steps; when it returns True the run saves a resume file and
        raises TrainingInterrupted (Ctrl+C in the CLI, Cancel in the editor).
    resume: a resume file (or the checkpoint beside it) to continue exactly where it stopped.
    init_model: a loaded model to start from (fine-tuning); its config and vocabulary are kept.
    dist: this process's place in a torchrun run (see distributed.py); None: a single process.
        Each rank trains its share of the B streams under DDP; only rank 0 writes files.
    teacher: a loaded model in the same vocabulary to distil (training/gpu.py --teacher): the loss
        is (1 - teacher_weight) x cross-entropy on the text + teacher_weight x cross-entropy on
        the teacher's predicted distribution (its KL divergence plus a constant). Not resumable.
    """
    from charcomplete.distributed import Dist

    dist = dist or Dist()
    cfg.validate()
    out = Path(out)
    device = resolve_device(cfg.device)
    spe = steps_per_epoch(len(corpus.train), cfg.batch_size, cfg.seq_len)
    if spe < 1:
        need = cfg.batch_size * 2
        raise TrainingError(
            f"the training text ({len(corpus.train)} characters) is shorter than one batch "
            f"({need} characters for --batch-size {cfg.batch_size}); use more text or a smaller --batch-size"
        )
    if cfg.batch_size % dist.world:
        raise TrainingError(f"--batch-size {cfg.batch_size} does not split evenly over {dist.world} processes")
    if teacher is not None and (teacher.cfg.vocab_size != len(corpus.vocab) or resume is not None):
        raise TrainingError("a teacher must read the corpus's vocabulary, and a distilling run cannot be resumed")
    if init_model is not None and init_model.cfg.vocab_size != len(corpus.vocab):
        raise TrainingError(f"the model to fine-tune knows {init_model.cfg.vocab_size} ids, the corpus has {len(corpus.vocab)}: "
                            "load the corpus with the model's vocabulary")
    try:
        make_folder(out.parent)  # fail now, not at the first checkpoint minutes later
    except OSError as e:
        raise TrainingError(f"cannot create {out.parent} ({e.strerror or e})") from None
    model_cfg.vocab_size = len(corpus.vocab)
    torch.manual_seed(cfg.seed)
    model = init_model if init_model is not None else build_model(model_cfg)
    model_cfg = model.cfg
    model.to(device).train()
    net = dist.wrap(model)  # what the steps run: DDP averages the gradients over the ranks
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    total_steps = max(1, math.ceil(cfg.epochs * spe)) if cfg.epochs is not None else None
    streams = as_streams(corpus.train, cfg.batch_size)[dist.rows(cfg.batch_size)]  # (B / ranks, L) numpy view, maybe memory-mapped
    val_ids = validation_sample(corpus.val, cfg.val_max_chars)
    if len(val_ids) and int(val_ids.max()) >= model_cfg.vocab_size:
        raise TrainingError(_bad_id(int(val_ids.max()), "validation", model_cfg.vocab_size))

    step, elapsed_before, state, teacher_state = 0, 0.0, None, None
    if teacher is not None:
        teacher.to(device).eval()
    best_bpc, best_acc, history = None, None, []
    if resume is not None:
        step, elapsed_before, state, best_bpc, best_acc, history = restore_run_state(resume, model, opt, cfg, model_cfg, corpus, device)
        state = dist.share_state(state, cfg.batch_size)

    meta = CheckpointMeta(
        config=model_cfg.to_dict(),
        vocab=corpus.vocab.to_json(),
        corpus={"paths": corpus.description, "files": len(corpus.files.documents), "train_chars": int(len(corpus.train)), "val_chars": int(len(corpus.val))},
        train=asdict(cfg),
    )
    n_params = count_parameters(model)
    t0 = time.perf_counter()
    chars_this_run = 0
    recent = []  # training losses (nats) since the last validation

    def elapsed() -> float:
        return elapsed_before + time.perf_counter() - t0

    def budget_fraction(now: float | None = None) -> float:
        fr = []
        if total_steps is not None:
            fr.append(step / total_steps)
        if cfg.max_minutes is not None:
            fr.append((elapsed() if now is None else now) / (cfg.max_minutes * 60))
        return min(1.0, max(fr)) if fr else 0.0

    def progress(kind: str, **kw) -> Progress:
        rate = chars_this_run / max(time.perf_counter() - t0, 1e-9)
        frac = budget_fraction()
        eta = None
        if 0 < frac < 1:
            eta = (time.perf_counter() - t0) * (1 - frac) / max(frac - start_fraction, 1e-9)
        p = Progress(
            kind=kind, step=step, total_steps=total_steps, epoch=step / spe, elapsed=elapsed(),
            chars=step * cfg.batch_size * cfg.seq_len, chars_per_s=rate,
            train_bpc=(float(np.mean(recent)) / LN2) if recent else None,
            best_val_bpc=best_bpc, fraction=frac, eta=eta, **kw,
        )
        if callback is not None:
            callback(p)
        return p

    def diverged(what: str) -> TrainingError:
        kept = f"the best checkpoint so far is kept at {out}" if out.exists() else "no checkpoint was written"
        return TrainingError(f"training diverged: {what} at step {step}; {kept} (try a lower --lr)")

    def keep_run(run_state, now: float) -> Path:
        """The resume file beside `out`; where that cannot be written (a full disk), one in the
        user's data dir. OSError (the last one) when neither can be written."""
        try:
            return save_run_state(out, model, opt, cfg, model_cfg, corpus, step, now, run_state, best_bpc, best_acc, history)
        except OSError:
            from charcomplete.paths import rescue_dir

            folder = rescue_dir()
            make_folder(folder)
            return save_run_state(out, model, opt, cfg, model_cfg, corpus, step, now, run_state, best_bpc, best_acc, history,
                                  path=folder / resume_path_for(out).name)

    def write_failed(e: OSError, previous_best) -> TrainingError:
        """One line for a checkpoint that could not be written (a full disk), with the run kept where it can be."""
        nonlocal best_bpc, best_acc
        best_bpc, best_acc = previous_best  # the resumed run must still write this checkpoint
        history.pop()
        why = e.strerror or str(e)
        old = "; the previous checkpoint there is kept" if out.exists() else ""
        if dist.active:
            return TrainingError(f"cannot write the checkpoint {out} ({why}){old}; the run's state was not saved (a distributed run)")
        try:
            path = keep_run(state, elapsed())
        except OSError as e2:
            return TrainingError(f"cannot write the checkpoint {out} ({why}){old}; the run's state could not be saved "
                                 f"either ({e2.strerror or e2}): it is lost after {step} steps")
        return TrainingError(f"cannot write the checkpoint {out} ({why}){old}; the run so far is kept: free some space and "
                             f"resume with  charcomplete train ... --resume {path}")

    def validate_and_save():
        nonlocal best_bpc, best_acc
        if recent and dist.active:
            recent[:] = [dist.sum([float(np.mean(recent))])[0] / dist.world]  # the training loss over every rank's streams
        bpc, acc = None, None
        if len(val_ids) > 1:
            scores = score_ids(model, val_ids, validation_streams(len(val_ids), cfg.batch_size, cfg.seq_len), cfg.seq_len, device, dist)
            bpc, acc = scores["bpc"], scores["top1"]
        train_bpc = (float(np.mean(recent)) / LN2) if recent else None
        row = {"step": step, "epoch": step / spe, "elapsed": elapsed(), "train_bpc": train_bpc, "val_bpc": bpc, "val_acc": acc}
        history.append(row)
        if bpc is not None and not math.isfinite(bpc):
            raise diverged(f"validation loss became {bpc}")  # never write NaN weights over a good checkpoint
        improved = bpc is not None and (best_bpc is None or bpc < best_bpc)
        previous_best = (best_bpc, best_acc)
        if improved or (bpc is None and step > 0):
            if improved:
                best_bpc, best_acc = bpc, acc
            meta.metrics = {
                "val_bpc": best_bpc, "val_acc": best_acc, "steps": step, "epochs": step / spe,
                "chars": step * cfg.batch_size * cfg.seq_len, "seconds": round(elapsed(), 1), "parameters": n_params,
            }
            if dist.is_main:
                try:
                    save_checkpoint(out, model, meta)
                except OSError as e:
                    raise write_failed(e, previous_best) from None
        progress("eval", val_bpc=bpc, val_acc=acc)
        recent.clear()

    start_fraction = budget_fraction()
    progress("start")
    while True:
        if total_steps is not None and step >= total_steps:
            break
        now, stop = dist.agree(elapsed(), should_stop is not None and should_stop())  # the same on every rank
        if cfg.max_minutes is not None and now >= cfg.max_minutes * 60:
            break
        if stop:
            full_state = dist.gather_state(state)  # every stream's state, so any number of ranks can resume
            path = resume_path_for(out)
            if dist.is_main:
                try:
                    path = keep_run(full_state, now)
                except OSError as e:
                    raise TrainingError(f"stopped at step {step}, but the resume file could not be written beside {out} "
                                        f"nor in the data dir ({e.strerror or e}): the run's state is lost") from None
            dist.barrier()  # no rank exits before the file is written
            raise TrainingInterrupted(path, step)
        k = step % spe
        if k == 0:
            state = teacher_state = None  # a new pass over the text starts with a fresh state
        chunk = streams[:, k * cfg.seq_len : (k + 1) * cfg.seq_len + 1]  # (B, T+1) view: only this chunk is read
        if chunk.size and int(chunk.max()) >= model_cfg.vocab_size:
            raise TrainingError(_bad_id(int(chunk.max()), f"training (step {step})", model_cfg.vocab_size))
        x = torch.from_numpy(chunk.astype(np.int64)).to(device)  # (B, T+1)
        inputs, targets = x[:, :-1], x[:, 1:]
        lr = cfg.lr * (cfg.lr_final + (1 - cfg.lr_final) * 0.5 * (1 + math.cos(math.pi * budget_fraction(now))))
        for g in opt.param_groups:
            g["lr"] = lr
        logits, state = net(inputs, state)  # (B, T, V)
        hard = loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        if teacher is not None:
            with torch.no_grad():
                t_logits, teacher_state = teacher(inputs, teacher_state)  # (B, T, V)
            soft = -(F.softmax(t_logits, -1) * F.log_softmax(logits, -1)).sum(-1).mean()
            loss = (1 - teacher_weight) * hard + teacher_weight * soft
        if not torch.isfinite(loss):
            raise diverged(f"loss became {loss.item()}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        state = detach_state(state)
        step += 1
        chars_this_run += inputs.numel() * dist.world
        recent.append(hard.item())  # the text's cross-entropy, distilling or not
        progress("step")
        if step % cfg.eval_every == 0:
            validate_and_save()
    if not history or history[-1]["step"] != step:
        validate_and_save()
    seconds = elapsed()
    for stale in {resume_path_for(out), *([resume_path_for(resume)] if resume is not None else [])}:
        stale.unlink(missing_ok=True)  # the run is finished: an old resume file must not restart it
    progress("done")
    return TrainResult(
        path=out, best_val_bpc=best_bpc, best_val_acc=best_acc, steps=step, chars=step * cfg.batch_size * cfg.seq_len,
        seconds=seconds, chars_per_s=chars_this_run / max(time.perf_counter() - t0, 1e-9), parameters=n_params, history=history,
    )


def _bad_id(i: int, where: str, vocab_size: int) -> str:
    return f"the {where} data holds id {i}, beyond the vocabulary's {vocab_size}: a damaged prepared corpus? prepare it again"
