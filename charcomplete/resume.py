"""Resume state: everything a stopped training run needs to continue exactly where it stopped.

- The resume file `<checkpoint>.resume.safetensors` (safetensors + JSON info, never pickle):
  the model, the optimizer's state, the step, the carried recurrent state, the RNG, the run's
  history. Written when a run stops on request (Ctrl+C, SIGTERM, Cancel); read back with every
  value checked, so a damaged file cannot steer a run.
- The editor's paused runs: a run cancelled in the editor is kept in
  `<data dir>/models/paused/<name>/` (its model so far, resume file, request and a copy of the
  text it read) until it is resumed from the palette.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import asdict
from pathlib import Path

from charcomplete.checkpoint import FORMAT, FORMAT_VERSION, read_safetensors, write_safetensors
from charcomplete.errors import CheckpointError, TrainingError
from charcomplete.fileio import atomic_write
from charcomplete.paths import make_folder, paused_dir
from charcomplete.registry import RESUME_SUFFIX, SUFFIX

# --- the resume file ----------------------------------------------------------------------


def resume_path_for(checkpoint: str | os.PathLike) -> Path:
    """The resume file that belongs to a checkpoint path (or the resume file itself)."""
    p = Path(checkpoint)
    if p.name.endswith(RESUME_SUFFIX):
        return p
    return p.with_name(p.name[: -len(SUFFIX)] + RESUME_SUFFIX if p.name.endswith(SUFFIX) else p.name + RESUME_SUFFIX)


def checkpoint_of_resume(resume: str | os.PathLike) -> Path:
    """The checkpoint a resume file (or a checkpoint path given for --resume) continues."""
    p = Path(resume)
    if p.name.endswith(RESUME_SUFFIX):
        _, info = load_resume(p)
        checkpoint = info.get("checkpoint")
        return Path(checkpoint if isinstance(checkpoint, str) and checkpoint else p.with_name(p.name[: -len(RESUME_SUFFIX)] + SUFFIX))
    return p


def save_resume(path: str | os.PathLike, tensors: dict, info: dict) -> Path:
    """Write the resume file: tensors by name, `info` as JSON."""
    return write_safetensors(path, tensors, {"format": FORMAT + "-resume", "format_version": str(FORMAT_VERSION), "info": json.dumps(info)})


def load_resume(path: str | os.PathLike) -> tuple[dict, dict]:
    where = str(path)
    tensors, md = read_safetensors(path)
    if md.get("format") != FORMAT + "-resume":
        raise CheckpointError(f"{where}: not a charcomplete resume file")
    try:
        info = json.loads(md["info"])
    except (KeyError, ValueError, RecursionError):
        raise CheckpointError(f"{where}: corrupt resume metadata") from None
    if not isinstance(info, dict):
        raise CheckpointError(f"{where}: corrupt resume metadata")
    return tensors, info


def save_run_state(out, model, opt, cfg, model_cfg, corpus, step, elapsed, state, best_bpc, best_acc, history,
                   path: str | os.PathLike | None = None) -> Path:
    """Write the resume file of a run stopped after `step` steps (beside `out`, or at `path`)."""
    import torch

    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    params = list(model.parameters())
    for i, p in enumerate(params):
        for k, v in opt.state.get(p, {}).items():
            tensors[f"opt.{i}.{k}"] = v if torch.is_tensor(v) else torch.tensor(v)
    if state is not None:
        for i, s in enumerate(state):
            tensors[f"state.{i}"] = s
    tensors["rng.cpu"] = torch.get_rng_state()
    info = {
        "step": step, "elapsed": elapsed, "best_val_bpc": best_bpc, "best_val_acc": best_acc, "history": history,
        "model_config": model_cfg.to_dict(), "train_config": asdict(cfg), "vocab": corpus.vocab.to_json(),
        "checkpoint": str(out), "state_len": 0 if state is None else len(state),
        "param_groups": [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups],
    }
    return save_resume(resume_path_for(out) if path is None else path, tensors, info)


def _check_resume_info(info: dict, opt, n_state: int) -> None:
    """Types and ranges of a resume file's values (ValueError): a damaged file must not steer the run."""

    def like(v, ref) -> bool:  # v (from JSON) may stand where the optimizer holds ref
        if ref is None or isinstance(ref, bool):
            return v == ref and type(v) is type(ref)  # a mode (amsgrad, fused...) the run was not made with breaks it
        if isinstance(ref, (int, float)):
            return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
        if isinstance(ref, (tuple, list)):
            return isinstance(v, list) and len(v) == len(ref) and all(like(a, b) for a, b in zip(v, ref))
        return False

    checks = {
        "step": isinstance(info["step"], int) and like(info["step"], 0),
        "elapsed": like(info["elapsed"], 0.0),
        "best_val_bpc": info["best_val_bpc"] is None or like(info["best_val_bpc"], 0.0),
        "best_val_acc": info["best_val_acc"] is None or like(info["best_val_acc"], 0.0),
        "history": isinstance(info["history"], list) and all(isinstance(h, dict) for h in info["history"]),
        "state_len": info["state_len"] == n_state and not isinstance(info["state_len"], bool),
        "param_groups": isinstance(info["param_groups"], list) and len(info["param_groups"]) == len(opt.param_groups)
        and all(isinstance(saved, dict) and all(k in g and like(v, g[k]) for k, v in saved.items())
                for g, saved in zip(opt.param_groups, info["param_groups"])),
    }
    bad = [k for k, ok in checks.items() if not ok]
    if bad:
        raise ValueError(f"bad {bad[0]} {info[bad[0]]!r}"[:100])


def restore_run_state(resume, model, opt, cfg, model_cfg, corpus, device):
    """Load a resume file into `model` and `opt`: (step, elapsed, state, best bpc, best acc, history)."""
    import torch

    path = resume_path_for(resume)
    tensors, info = load_resume(path)
    try:
        if info["vocab"] != corpus.vocab.to_json():
            raise TrainingError(f"{path}: the corpus has a different vocabulary than the run being resumed (use the same --corpus)")
        if info["model_config"] != model_cfg.to_dict():
            raise TrainingError(f"{path}: the model settings differ from the run being resumed ({info['model_config']})")
        before = info.get("train_config") if isinstance(info.get("train_config"), dict) else {}
        for key, option in (("batch_size", "--batch-size"), ("seq_len", "--seq-len")):  # the streams and their states
            if key in before and before[key] != getattr(cfg, key):
                raise TrainingError(f"{path}: {option} {getattr(cfg, key)} differs from the run being resumed ({before[key]}); "
                                    f"resume with {option} {before[key]} or leave it out")
        _check_resume_info(info, opt, sum(k.startswith("state.") for k in tensors))
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        params = list(model.parameters())
        for i, p in enumerate(params):
            # Adam keeps its step counter on the CPU; the moments go where the parameters are
            st = {k.split(".", 2)[2]: v if k.endswith(".step") else v.to(device)
                  for k, v in tensors.items() if k.startswith(f"opt.{i}.")}
            if st:
                opt.state[p] = st
        for g, saved in zip(opt.param_groups, info["param_groups"]):
            g.update(saved)
        n = info["state_len"]
        state = tuple(tensors[f"state.{i}"].to(device) for i in range(n)) if n else None
        torch.set_rng_state(tensors["rng.cpu"])
        return info["step"], float(info["elapsed"]), state, info["best_val_bpc"], info["best_val_acc"], list(info["history"])
    except (KeyError, RuntimeError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot resume from this file ({type(e).__name__}: {str(e).splitlines()[0][:100]})") from None


# --- the editor's paused runs ---------------------------------------------------------------


def paused_run_dir(name: str) -> Path:
    """Where the editor keeps the cancelled run of model `name`."""
    return paused_dir() / name


def paused_runs() -> list[str]:
    """Names of the cancelled runs that can be resumed."""
    return sorted(p.parent.name for p in paused_dir().glob("*/request.json"))


def read_paused_request(name: str) -> dict:
    """The saved request (a dict of the job's settings) of a cancelled run (ValueError if damaged)."""
    try:
        data = json.loads((paused_run_dir(name) / "request.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as e:
        raise ValueError(f"cannot resume '{name}': {e}") from None
    if not isinstance(data, dict):
        raise ValueError(f"cannot resume '{name}': request.json is not an object")
    return data


def keep_paused_run(name: str, partial: Path, request: dict, temp_files: list[Path]) -> None:
    """Keep a cancelled run: the model so far and its resume file, the text it read (temporary
    copies of a buffer are moved in), and `request` (its `corpus` pointed at what was kept)."""
    folder = paused_run_dir(name)
    make_folder(folder)
    model = folder / "model.safetensors"
    for src, dst in ((partial, model), (resume_path_for(partial), resume_path_for(model))):
        if src.exists() and src != dst:
            os.replace(src, dst)
    corpus = []
    for i, path in enumerate(request["corpus"]):
        if Path(path) in temp_files:  # a temp copy of the buffer: keep it with the run
            kept = folder / f"text-{i}.txt"
            shutil.move(path, kept)
            corpus.append(str(kept))
        else:
            corpus.append(path)
    atomic_write(folder / "request.json", json.dumps({**request, "corpus": corpus}, indent=2).encode("utf-8"))


def drop_paused_run(name: str) -> None:
    shutil.rmtree(paused_run_dir(name), ignore_errors=True)
