"""Model names <-> checkpoint paths: shipped models, the user's own, and paths given as is.

Anywhere a model is asked for, a name or a path works; a user model shadows a shipped one of
the same name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from charcomplete.errors import CheckpointError
from charcomplete.paths import models_dir, shipped_dir

SUFFIX = ".safetensors"
RESUME_SUFFIX = ".resume.safetensors"
MEMORY_SUFFIX = ".memory.safetensors"  # a model's corpus memory (memory.py), beside its checkpoint
DEFAULT_MODEL = "attention"  # the default when no model for the file's kind is installed
PROSE_MODEL = "prose"  # `edit` on notes, Markdown, reStructuredText, plain text
CODE_MODEL = "code"  # `edit` on source code
# the wider network of each kind, for a fast machine (`edit --large`; never picked by itself)
LARGE_MODELS = {PROSE_MODEL: "prose-large", CODE_MODEL: "code-large"}
# shipped models that read another shipped model's corpus memory (the same tables and mixer start,
# one file in the package): each wider network reads its narrower one's
SHARED_MEMORY = {large: small for small, large in LARGE_MODELS.items()}
# what each shipped model is for, in a few words (the palette's Switch model and `models` show it)
SHIPPED_ABOUT = {
    "prose": "notes, text (edit's pick)",
    "code": "source code (edit's pick)",
    "prose-large": "better prose, slower keys",
    "code-large": "better code, slower keys",
    "attention": "network alone, no memory",
    "lstm": "LSTM alone, no memory",
}
CODE_SUFFIXES = frozenset(
    ".py .pyi .pyx .js .mjs .cjs .ts .tsx .jsx .c .h .cc .cpp .cxx .hpp .hh .rs .go .java .kt .kts .scala .rb .php .pl .pm "
    ".lua .sh .bash .zsh .fish .ps1 .swift .m .mm .cs .fs .r .jl .hs .ml .ex .exs .erl .clj .dart .sql .vim .el .lisp .scm "
    ".toml .yaml .yml .json .ini .cfg .mk .cmake .gradle .proto .css .scss .html .xml".split())
CODE_NAMES = frozenset({"Makefile", "Dockerfile", "CMakeLists.txt", "Rakefile", "Gemfile", "Justfile"})


@dataclass
class ModelEntry:
    name: str  # what --model accepts
    path: Path  # the checkpoint file
    source: str  # "shipped" or "user"

    @property
    def about(self) -> str | None:
        """What a shipped model is for (SHIPPED_ABOUT); None for the user's own."""
        return SHIPPED_ABOUT.get(self.name) if self.source == "shipped" else None


def list_checkpoints() -> list[ModelEntry]:
    """Shipped then user checkpoints; a user model shadows a shipped one of the same name."""
    entries: dict[str, ModelEntry] = {}
    for source, folder in (("shipped", shipped_dir()), ("user", models_dir())):
        if folder.is_dir():
            for p in sorted(folder.glob("*" + SUFFIX), key=lambda p: p.name.removesuffix(SUFFIX)):  # code before code-large
                if not p.name.endswith((RESUME_SUFFIX, MEMORY_SUFFIX)):
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


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name the same file or folder (False when either cannot be resolved)."""
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


def shipped_hidden_by(checkpoint: str | os.PathLike) -> Path | None:
    """The shipped checkpoint that `checkpoint` hides, when it is a user model of a shipped
    model's name (`charcomplete train --name prose`), else None."""
    p = Path(checkpoint)
    shipped = shipped_dir() / p.name
    return shipped if same_file(p.parent, models_dir()) and shipped.is_file() else None


def refuse_shipped_by_name(model: str, path: Path, what: str) -> None:
    """CheckpointError when `model` (resolved to `path`) is the bare name of a shipped model, not
    a path: its files are part of the installed package, which `what` (e.g. "rebuilding its
    memory") must not change in place; a path to the shipped checkpoint (as a developer
    rebuilding it gives) is let through."""
    if same_file(path.parent, shipped_dir()) and model == path.stem:
        raise CheckpointError(
            f"{model} is a shipped model: {what} would change the installed package; fine-tune it on your text instead "
            f"(charcomplete train --corpus PATH --name NAME keeps its corpus memory) or give --out PATH")


def file_kind(path: str | os.PathLike) -> str:
    """"code" for source files (by suffix or well-known name), else "prose" (.md, .txt, .rst,
    no suffix, anything unknown)."""
    p = Path(path)
    return "code" if p.suffix.lower() in CODE_SUFFIXES or p.name in CODE_NAMES else "prose"


def model_for_kind(kind: str, large: bool = False) -> str:
    """The code model for "code", the prose model for "prose" (with `large`, its wider network when
    that is installed); the default model when neither is (a user model of that name counts)."""
    wanted = CODE_MODEL if kind == "code" else PROSE_MODEL
    installed = {e.name for e in list_checkpoints()}
    if large and LARGE_MODELS[wanted] in installed:
        return LARGE_MODELS[wanted]
    return wanted if wanted in installed else DEFAULT_MODEL


def model_for_file(path: str | os.PathLike, large: bool = False) -> str:
    """The model `edit` opens a file with: `model_for_kind` of the file's kind."""
    return model_for_kind(file_kind(path), large)


def model_for_corpus(paths: list[str]) -> str:
    """The model `train` fine-tunes by default for a corpus: the code model when most of its
    files' bytes are source code (`file_kind`, file by file: a folder of Python is code), else
    the prose model (`model_for_kind`)."""
    from charcomplete.corpus import expand_paths
    from charcomplete.errors import CharcompleteError

    try:
        files = expand_paths(list(paths))
    except CharcompleteError:  # named wrongly: reading the corpus says so in a moment
        return model_for_file(paths[0])
    size = {"code": 0, "prose": 0}
    for f in files:
        try:
            size[file_kind(f)] += f.stat().st_size
        except OSError:
            continue
    return model_for_kind("code" if size["code"] > size["prose"] else "prose")


def memory_path_for(checkpoint: str | os.PathLike) -> Path:
    """Where the corpus memory of the checkpoint at `checkpoint` is (or goes)."""
    p = Path(checkpoint)
    return p.with_name(model_name(p) + MEMORY_SUFFIX)


def shared_memory_of(checkpoint: str | os.PathLike) -> Path | None:
    """The shipped checkpoint whose corpus memory the shipped `checkpoint` reads (`SHARED_MEMORY`),
    else None (a user model of such a name has a memory of its own, or none)."""
    p = Path(checkpoint)
    other = SHARED_MEMORY.get(model_name(p))
    return shipped_dir() / (other + SUFFIX) if other is not None and same_file(p.parent, shipped_dir()) else None


def model_name(path: Path) -> str:
    """The name a checkpoint file goes by (its file name without .safetensors)."""
    return path.name[: -len(SUFFIX)] if path.name.endswith(SUFFIX) else path.name


MAX_NAME_BYTES = 100  # a model's longest name: its files (NAME.memory.safetensors, a save's temp file) stay under 255 bytes


def user_checkpoint_path(name: str) -> Path:
    """Where the user's model `name` is (or will be) saved."""
    if not name or "/" in name or "\\" in name or name.startswith(".") or not name.isprintable():
        raise CheckpointError(f"bad model name {name!r} (use letters, digits, - and _)")
    if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
        raise CheckpointError(f"model name too long ({len(name)} characters; at most {MAX_NAME_BYTES} bytes)")
    return models_dir() / (name + SUFFIX)
