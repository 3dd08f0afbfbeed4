"""Checkpoints: safetensors weights + validated JSON metadata. Data, never code.

A checkpoint file holds the model's tensors; its safetensors metadata (string -> string)
holds JSON: format version, model kind and config, vocabulary, corpus, metrics, time and
charcomplete version. Nothing here ever unpickles: a pickle (or anything that is not a
valid safetensors file) is refused with a clear error.

The file format only: names and paths are registry.py's, resume files resume.py's.
"""

from __future__ import annotations

import json
import os
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

from charcomplete.version import __version__
from charcomplete.errors import CheckpointError
from charcomplete.fileio import atomic_write

FORMAT = "charcomplete-checkpoint"
FORMAT_VERSION = 1
MAX_HEADER = 50 * 1024 * 1024  # a safetensors header above this is refused as corrupt or hostile
# a file above this is refused before its body is read: far larger than any model (or its resume
# file) trained here; the tensors a header declares must also fill the file exactly
MAX_FILE = 16 * 1024**3


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
            parsed = {k: loads_shallow(md[k]) for k in ("config", "corpus", "metrics", "train")}
            vocab = md["vocab"]
            loads_shallow(vocab)
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"{where}: corrupt metadata ({type(e).__name__}: {e})") from None
        for k in parsed:
            if not isinstance(parsed[k], dict):
                raise CheckpointError(f"{where}: corrupt metadata ({k} is not an object)")
        return cls(vocab=vocab, created=str(md.get("created", "")), version=str(md.get("charcomplete_version", "")), **parsed)


# --- reading and writing safetensors without trusting the file -------------------------

MAX_JSON_DEPTH = 32  # our headers and metadata nest 3 deep; deeper is crafted (issue 15, item 12)


def loads_shallow(s: str | bytes):
    """json.loads for untrusted text, with ValueError (not RecursionError, and not a value that
    trips recursion later in repr, json.dumps or Rich) for anything nested deeper than MAX_JSON_DEPTH."""
    try:
        value = json.loads(s)
    except RecursionError:
        raise ValueError(f"JSON nested too deeply (more than {MAX_JSON_DEPTH} levels)") from None
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, (list, dict)):
            if depth > MAX_JSON_DEPTH:
                raise ValueError(f"JSON nested too deeply (more than {MAX_JSON_DEPTH} levels)")
            stack.extend((c, depth + 1) for c in (v.values() if isinstance(v, dict) else v))
    return value



def read_safetensors(path: str | os.PathLike, numpy: bool = False, header_only: bool = False) -> tuple[dict, dict]:
    """(tensors, metadata) of a safetensors file, after checking its header by hand.

    numpy: the tensors as numpy arrays (torch is not imported). header_only: only the header is
    read, and "tensors" is the header's {name: {"dtype", "shape", "data_offsets"}}."""
    where = str(path)
    if os.path.exists(path) and not os.path.isfile(path) and not os.path.isdir(path):
        raise CheckpointError(f"{where}: not a regular file, not a checkpoint")  # a FIFO or device would never end
    try:
        data = _read_header_bytes(path)  # the header first: the body is read only once it is checked
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
        header = loads_shallow(data[8 : 8 + n])
    except (ValueError, UnicodeDecodeError):
        raise _refused(where, data, "not a safetensors file (unreadable header)") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{where}: not a safetensors file (bad header)")
    md = header.get("__metadata__") or {}
    if not isinstance(md, dict) or not all(isinstance(v, str) for v in md.values()):
        raise CheckpointError(f"{where}: corrupt metadata (values must be strings)")
    if header_only:
        return {k: v for k, v in header.items() if k != "__metadata__"}, md
    data = _read_body(path, where, data, header)
    if numpy:
        from safetensors.numpy import load
    else:
        from safetensors.torch import load

    try:
        tensors = load(data)
    except Exception as e:  # safetensors' own errors: truncated data, bad offsets, dtypes
        raise CheckpointError(f"{where}: corrupt safetensors data ({str(e).splitlines()[0][:120]})") from None
    return tensors, md


def _read_header_bytes(path) -> bytes:
    """The 8-byte length and the JSON header of a safetensors file (all of it if shorter)."""
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            return head
        (n,) = struct.unpack("<Q", head)
        return head + f.read(min(n, MAX_HEADER + 1))


def _read_body(path, where: str, head: bytes, header: dict) -> bytes:
    """The whole file (`head` and the body the header declares), after checking that the body
    the header declares fills the file exactly and that the file is not absurdly large: a sparse
    3 GB file is refused at once, not after reading it all (issue 15)."""
    end = 0
    for name, t in header.items():
        if name == "__metadata__":
            continue
        offsets = t.get("data_offsets") if isinstance(t, dict) else None
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets)
                or offsets[0] > offsets[1]):
            raise CheckpointError(f"{where}: corrupt safetensors data (bad offsets of {str(name)[:60]!r})")
        end = max(end, offsets[1])
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_FILE:
                raise CheckpointError(f"{where}: {size / 1024**3:.1f} GiB, larger than any charcomplete model "
                                      f"({MAX_FILE // 1024**3} GiB at most): refused without reading it")
            if size != len(head) + end:
                raise CheckpointError(f"{where}: corrupt safetensors data (the header declares {end:,} bytes of tensors, "
                                      f"the file holds {max(size - len(head), 0):,}): truncated or padded")
            f.seek(len(head))
            body = f.read(end + 1)
    except OSError as e:
        raise CheckpointError(f"{where}: cannot read ({e.strerror})") from None
    if len(body) != end:
        raise CheckpointError(f"{where}: corrupt safetensors data (the file changed while it was read)")
    return head + body


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

    from charcomplete.models import build_model

    where = str(path)
    tensors, md = read_safetensors(path)
    meta, cfg, vocab = _validate(where, md, {k: (tuple(v.shape), v.is_floating_point()) for k, v in tensors.items()})
    for k, v in tensors.items():
        if not torch.isfinite(v).all():
            raise CheckpointError(f"{where}: tensor {k} holds NaN or infinite values")
    model = build_model(cfg)  # the file's tensors match it, so it is no larger than the file
    model.load_state_dict({k: v.float() for k, v in tensors.items()})
    return model.to(device).eval(), meta, vocab


FLOAT_DTYPES = ("F16", "F32", "F64", "BF16")  # safetensors' names of the floating-point dtypes
NUMPY_DTYPES = ("F16", "F32", "F64")  # ... those numpy reads (bfloat16 needs torch)


def _validate(where: str, md: dict, tensors: dict[str, tuple[tuple, bool]]):
    """(CheckpointMeta, ModelConfig, Vocab) after checking the metadata and every tensor's
    name, shape and floating-point dtype ({name: (shape, is_float)}) against param_shapes."""
    from charcomplete.config import ModelConfig, param_shapes
    from charcomplete.vocab import Vocab

    meta = CheckpointMeta.from_metadata(md, where)
    try:
        cfg = ModelConfig.from_dict(meta.config)
        vocab = Vocab.from_json(meta.vocab)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{where}: bad metadata ({e})") from None
    if cfg.vocab_size != len(vocab):
        raise CheckpointError(f"{where}: vocabulary mismatch ({len(vocab)} characters, model expects {cfg.vocab_size})")
    expected = param_shapes(cfg)  # names and shapes only: nothing is built before the file matches
    if set(tensors) != set(expected):
        missing, extra = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
        raise CheckpointError(f"{where}: tensors do not match a {cfg.kind} model (missing {missing[:3]}, unexpected {extra[:3]})")
    for k, (shape, is_float) in tensors.items():
        if tuple(shape) != expected[k]:
            raise CheckpointError(f"{where}: tensor {k} has shape {tuple(shape)}, expected {expected[k]}")
        if not is_float:
            raise CheckpointError(f"{where}: tensor {k} is not floating point")
    return meta, cfg, vocab


def _header_tensors(where: str, header: dict) -> dict[str, tuple[tuple, bool]]:
    out = {}
    for k, v in header.items():
        if not isinstance(v, dict) or not isinstance(v.get("shape"), list):
            raise CheckpointError(f"{where}: not a safetensors file (bad header entry {k!r})")
        out[k] = (tuple(v["shape"]), v.get("dtype") in FLOAT_DTYPES)
    return out


def inspect_checkpoint(path: str | os.PathLike):
    """(CheckpointMeta, ModelConfig, Vocab) from the header alone: the metadata and every tensor's
    name, shape and dtype are checked, no weights are read and nothing is built (fast, no torch).
    What `charcomplete edit` checks before the editor opens; the weights are checked on load."""
    where = str(path)
    header, md = read_safetensors(path, header_only=True)
    return _validate(where, md, _header_tensors(where, header))


def load_weights(path: str | os.PathLike):
    """(weights {name: float32 numpy array}, CheckpointMeta, ModelConfig, Vocab), validated as
    load_checkpoint does (names, shapes, dtypes, finite values), without importing torch."""
    import numpy as np

    where = str(path)
    header, md = read_safetensors(path, header_only=True)
    meta, cfg, vocab = _validate(where, md, _header_tensors(where, header))
    if any(v["dtype"] not in NUMPY_DTYPES for v in header.values()):  # bfloat16: numpy cannot read it
        model, meta, vocab = load_checkpoint(path)
        return {k: v.detach().float().numpy() for k, v in model.state_dict().items()}, meta, cfg, vocab
    tensors, md = read_safetensors(path, numpy=True)
    _validate(where, md, {k: (v.shape, v.dtype.kind == "f") for k, v in tensors.items()})  # the file may have changed
    weights = {}
    for k, v in tensors.items():
        v = np.ascontiguousarray(v, dtype=np.float32)
        if not np.isfinite(v).all():
            raise CheckpointError(f"{where}: tensor {k} holds NaN or infinite values")
        weights[k] = v
    return weights, meta, cfg, vocab
