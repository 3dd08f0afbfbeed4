"""Checkpoints: safetensors weights + validated JSON metadata. Data, never code.

A checkpoint file holds the model's tensors; its safetensors metadata (string -> string)
holds JSON: format version, model kind and config, vocabulary, corpus, metrics, time and
charcomplete version. Nothing here ever unpickles: a pickle (or anything that is not a
valid safetensors file) is refused with a clear error.

Names: shipped checkpoints live in `checkpoints/` (inside the package when installed from a
wheel); the user's own in the platform data dir. Anywhere a model is asked for, a name or
a path works.
"""

from __future__ import annotations

import json
import os
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from charcomplete import __version__
from charcomplete.fileio import atomic_write

FORMAT = "charcomplete-checkpoint"
FORMAT_VERSION = 1
SUFFIX = ".safetensors"
RESUME_SUFFIX = ".resume.safetensors"
MAX_HEADER = 50 * 1024 * 1024  # a safetensors header above this is refused as corrupt or hostile


class CheckpointError(Exception):
    """A checkpoint that cannot be used; the message says why in one line."""


@dataclass
class CheckpointMeta:
    config: dict  # ModelConfig as a dict (kind, sizes, window)
    vocab: str  # Vocab.to_json()
    corpus: dict = field(default_factory=dict)  # what it was trained on (paths, sizes)
    metrics: dict = field(default_factory=dict)  # val_bpc, val_acc, steps, chars, seconds...
    train: dict = field(default_factory=dict)  # the training settings used
    created: str = ""  # ISO time of writing
    version: str = __version__  # charcomplete version that wrote it

    def to_metadata(self) -> dict[str, str]:
        return {
            "format": FORMAT,
            "format_version": str(FORMAT_VERSION),
            "config": json.dumps(self.config),
            "vocab": self.vocab,
            "corpus": json.dumps(self.corpus),
            "metrics": json.dumps(self.metrics),
            "train": json.dumps(self.train),
            "created": self.created or time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "charcomplete_version": self.version,
        }

    @classmethod
    def from_metadata(cls, md: dict | None, where: str) -> "CheckpointMeta":
        if not md or md.get("format") != FORMAT:
            raise CheckpointError(f"{where}: not a charcomplete checkpoint (no charcomplete metadata)")
        try:
            version = int(md.get("format_version", ""))
        except ValueError:
            raise CheckpointError(f"{where}: bad format version {md.get('format_version')!r}") from None
        if version > FORMAT_VERSION:
            raise CheckpointError(
                f"{where}: written by a newer charcomplete (format {version}, this one reads {FORMAT_VERSION}); upgrade"
            )
        try:
            parsed = {k: json.loads(md[k]) for k in ("config", "corpus", "metrics", "train")}
            vocab = md["vocab"]
            json.loads(vocab)
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"{where}: corrupt metadata ({type(e).__name__}: {e})") from None
        for k in parsed:
            if not isinstance(parsed[k], dict):
                raise CheckpointError(f"{where}: corrupt metadata ({k} is not an object)")
        return cls(vocab=vocab, created=str(md.get("created", "")), version=str(md.get("charcomplete_version", "")), **parsed)


# --- reading and writing safetensors without trusting the file -------------------------


def read_safetensors(path: str | os.PathLike) -> tuple[dict, dict]:
    """(tensors, metadata) of a safetensors file, after checking its header by hand."""
    where = str(path)
    if os.path.exists(path) and not os.path.isfile(path) and not os.path.isdir(path):
        raise CheckpointError(f"{where}: not a regular file, not a checkpoint")  # a FIFO or device would never end
    try:
        data = Path(path).read_bytes()
    except IsADirectoryError:
        raise CheckpointError(f"{where}: is a directory, not a checkpoint") from None
    except FileNotFoundError:
        raise CheckpointError(f"{where}: no such checkpoint") from None
    except OSError as e:
        raise CheckpointError(f"{where}: cannot read ({e.strerror})") from None
    if len(data) < 8:
        raise CheckpointError(f"{where}: empty or truncated file, not a checkpoint")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER or 8 + n > len(data):
        raise _refused(where, data, f"truncated or not a safetensors file (header of {n} bytes)")
    try:
        header = json.loads(data[8 : 8 + n])
    except (ValueError, UnicodeDecodeError):
        raise _refused(where, data, "not a safetensors file (unreadable header)") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{where}: not a safetensors file (bad header)")
    md = header.get("__metadata__") or {}
    if not isinstance(md, dict) or not all(isinstance(v, str) for v in md.values()):
        raise CheckpointError(f"{where}: corrupt metadata (values must be strings)")
    from safetensors.torch import load

    try:
        tensors = load(data)
    except Exception as e:  # safetensors' own errors: truncated data, bad offsets, dtypes
        raise CheckpointError(f"{where}: corrupt safetensors data ({str(e).splitlines()[0][:120]})") from None
    return tensors, md


def _refused(where: str, data: bytes, why: str) -> CheckpointError:
    """The error for bytes that are not safetensors; named as a pickle/zip when they look like one.

    Only asked once the header failed: a valid header's length may start with the same bytes.
    """
    if data[:2] == b"PK" or data[:1] == b"\x80":
        return CheckpointError(f"{where}: a pickle/zip file (torch.save?), refused: checkpoints must be safetensors")
    return CheckpointError(f"{where}: {why}")


def write_safetensors(path: str | os.PathLike, tensors: dict, metadata: dict[str, str]) -> Path:
    from safetensors.torch import save

    data = save({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, metadata=metadata)
    return atomic_write(path, data)


# --- models ----------------------------------------------------------------------------


def save_checkpoint(path: str | os.PathLike, model, meta: CheckpointMeta) -> Path:
    meta.config = model.cfg.to_dict()
    return write_safetensors(path, model.state_dict(), meta.to_metadata())


def load_checkpoint(path: str | os.PathLike, device: str = "cpu"):
    """(model in eval mode on `device`, CheckpointMeta, Vocab), or CheckpointError."""
    import torch

    from charcomplete.models import ModelConfig, build_model
    from charcomplete.vocab import Vocab

    where = str(path)
    tensors, md = read_safetensors(path)
    meta = CheckpointMeta.from_metadata(md, where)
    try:
        cfg = ModelConfig.from_dict(meta.config)
        vocab = Vocab.from_json(meta.vocab)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{where}: bad metadata ({e})") from None
    if cfg.vocab_size != len(vocab):
        raise CheckpointError(f"{where}: vocabulary mismatch ({len(vocab)} characters, model expects {cfg.vocab_size})")
    with torch.device("meta"):  # shapes only, no memory: the config may claim a huge model
        expected = build_model(cfg).state_dict()
    if set(tensors) != set(expected):
        missing, extra = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
        raise CheckpointError(f"{where}: tensors do not match a {cfg.kind} model (missing {missing[:3]}, unexpected {extra[:3]})")
    for k, v in tensors.items():
        if tuple(v.shape) != tuple(expected[k].shape):
            raise CheckpointError(f"{where}: tensor {k} has shape {tuple(v.shape)}, expected {tuple(expected[k].shape)}")
        if not v.is_floating_point():
            raise CheckpointError(f"{where}: tensor {k} is not floating point")
        if not torch.isfinite(v).all():
            raise CheckpointError(f"{where}: tensor {k} holds NaN or infinite values")
    model = build_model(cfg)  # the file's tensors match it, so it is no larger than the file
    model.load_state_dict({k: v.float() for k, v in tensors.items()})
    return model.to(device).eval(), meta, vocab


# --- resume state (optimizer, step, RNG, carried state): safetensors too ---------------


def resume_path_for(checkpoint: str | os.PathLike) -> Path:
    p = Path(checkpoint)
    if p.name.endswith(RESUME_SUFFIX):
        return p
    return p.with_name(p.name[: -len(SUFFIX)] + RESUME_SUFFIX if p.name.endswith(SUFFIX) else p.name + RESUME_SUFFIX)


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
    except (KeyError, ValueError):
        raise CheckpointError(f"{where}: corrupt resume metadata") from None
    if not isinstance(info, dict):
        raise CheckpointError(f"{where}: corrupt resume metadata")
    return tensors, info


# --- names -> paths ------------------------------------------------------------------


def shipped_dir() -> Path:
    """The shipped checkpoints: inside the package (wheel) or the repo's checkpoints/."""
    here = Path(__file__).resolve().parent
    inside = here / "checkpoints"
    return inside if inside.is_dir() else here.parent / "checkpoints"


def user_dir() -> Path:
    """Where the user's own models go (CHARCOMPLETE_DATA_DIR overrides the platform dir)."""
    base = os.environ.get("CHARCOMPLETE_DATA_DIR")
    root = Path(base) if base else platformdirs.user_data_path("charcomplete")
    return root / "models"


@dataclass
class ModelEntry:
    name: str  # what --model accepts
    path: Path  # the checkpoint file
    source: str  # "shipped" or "user"


def list_checkpoints() -> list[ModelEntry]:
    """Shipped then user checkpoints; a user model shadows a shipped one of the same name."""
    entries: dict[str, ModelEntry] = {}
    for source, folder in (("shipped", shipped_dir()), ("user", user_dir())):
        if folder.is_dir():
            for p in sorted(folder.glob("*" + SUFFIX)):
                if not p.name.endswith(RESUME_SUFFIX):
                    name = p.name[: -len(SUFFIX)]
                    entries[name] = ModelEntry(name, p, source)
    return list(entries.values())


def resolve_model(name_or_path: str) -> Path:
    """The checkpoint file for a name (user first, then shipped) or a path."""
    p = Path(name_or_path).expanduser()
    try:
        is_file, exists = p.is_file(), p.exists()
    except OSError as e:  # a name too long, a folder we may not enter
        raise CheckpointError(f"{name_or_path}: cannot open ({e.strerror or e})") from None
    if is_file or name_or_path.endswith(SUFFIX) or os.sep in name_or_path:
        if not exists:
            raise CheckpointError(f"{name_or_path}: no such checkpoint")
        return p
    for e in reversed(list_checkpoints()):
        if e.name == name_or_path:
            return e.path
    known = ", ".join(e.name for e in list_checkpoints()) or "none"
    raise CheckpointError(f"unknown model {name_or_path!r} (known: {known}; or give a path to a .safetensors file)")


def user_checkpoint_path(name: str) -> Path:
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise CheckpointError(f"bad model name {name!r} (use letters, digits, - and _)")
    return user_dir() / (name + SUFFIX)
