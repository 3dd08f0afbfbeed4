"""The file being edited: opening, saving and recovering it without ever losing the user's text.

- Opening decodes with the asked-for encoding (UTF-8 by default, a BOM is remembered), and
  remembers the line-ending style, so an unedited buffer saves byte-identical (the original
  bytes are written back as they were). Binary files, folders, unreadable files and bytes that
  do not decode are refused with one line that says what to do (`--encoding`).
- Saving is atomic (`fileio.atomic_write`: temp file, fsync, mode kept, rename; a symlink stays
  a symlink), except where a rename would harm the file (a folder we cannot write, more than
  one hard link, another user's file): then it is written in place, after a safety copy of the
  buffer in the data dir (`in_place_reason`). A file that changed on disk since it was opened or last saved is detected
  (mtime + size, then a hash) so the editor can ask before overwriting it.
- A recovery file `.NAME.charcomplete-recovery` next to the file holds the buffer when the
  editor is killed (SIGTERM, SIGHUP) or crashes with unsaved changes; the next edit offers it.
  A session writes only its own recovery file: one it was offered and kept for later stays as
  it is, and the new one takes the next slot (`-2`, `-3`, ...); each is offered in turn.
"""

from __future__ import annotations

import codecs
import errno
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from charcomplete.errors import DocumentError
from charcomplete.fileio import atomic_write, looks_binary, name_cut, remove_stale_temps, replace_file, write_in_place
from charcomplete.paths import make_folder, recovery_dir
from charcomplete.vocab import normalize_newlines

MAX_BYTES = 8 * 1024 * 1024  # larger files are refused: Textual's TextArea takes seconds per MB to open
LONG_LINE = 10_000  # a line longer than this turns soft wrap off (wrapping it costs O(line) per keystroke)
RECOVERY_SUFFIX = ".charcomplete-recovery"
SAVING_SUFFIX = ".charcomplete-saving"  # the safety copy kept while a file is written in place
MAX_RECOVERY_BYTES = 4 * MAX_BYTES  # a larger "recovery file" is not one we wrote from an editable buffer
RECOVERY_SLOTS = 8  # recovery files a file may have in each place (next to it, the data dir): one per session that closed with text nowhere else


@dataclass(frozen=True)
class Fingerprint:
    """What the file on disk looked like when we last read or wrote it."""

    mtime_ns: int
    size: int
    sha256: str

    @classmethod
    def of(cls, path: Path, data: bytes | None = None) -> "Fingerprint | None":
        try:
            st = path.stat()
            if data is None:
                data = path.read_bytes()
        except FileNotFoundError:
            return None
        return cls(st.st_mtime_ns, st.st_size, hashlib.sha256(data).hexdigest())


NEWLINE_NAMES = {"\n": "LF", "\r\n": "CRLF", "\r": "CR"}


def newline_counts(text: str) -> dict[str, int]:
    """How many of each line ending `text` has: {"\\n": .., "\\r\\n": .., "\\r": ..}."""
    crlf = text.count("\r\n")
    return {"\n": text.count("\n") - crlf, "\r\n": crlf, "\r": text.count("\r") - crlf}


def dominant_newline(counts: dict[str, int]) -> str:
    """The commonest line ending of `newline_counts` ("\\n" on a tie or when there is none)."""
    newline, count = max(counts.items(), key=lambda kv: kv[1])  # a tie: the first, "\\n"
    return newline if count else "\n"


def _slot(n: int) -> str:
    return "" if n == 1 else f"-{n}"


def recovery_path_for(path: Path, slot: int = 1) -> Path:
    return path.parent / f".{path.name}{RECOVERY_SUFFIX}{_slot(slot)}"


def fallback_recovery_path_for(path: Path, slot: int = 1) -> Path:
    """Where the recovery file goes when the file's folder cannot take it (read-only, full):
    the user data dir, named by a hash of the file's absolute path."""
    key = hashlib.sha256(str(path.absolute()).encode("utf-8", "surrogatepass")).hexdigest()[:16]
    name = path.name
    if len(os.fsencode(f"{key}-{name}{RECOVERY_SUFFIX}-8")) > 255:  # a long name would not fit: the key names the file
        name = name_cut(name)
    return recovery_dir() / f"{key}-{name}{RECOVERY_SUFFIX}{_slot(slot)}"


def saving_path_for(path: Path) -> Path:
    """The safety copy of the buffer while `path` is written in place (Document.save), beside the
    fallback recovery file."""
    fallback = fallback_recovery_path_for(path)
    return fallback.with_name(fallback.name.removesuffix(RECOVERY_SUFFIX) + SAVING_SUFFIX)


class Document:
    """One file on disk and how to write it back exactly as it came."""

    def __init__(self, path: Path, text: str, encoding: str, bom: bool, newline: str,
                 original: bytes | None, fingerprint: Fingerprint | None, read_only_reason: str | None):
        self.path = path  # as given (a symlink stays a symlink)
        self.text = text  # the buffer's starting text, newlines as "\n"
        self.encoding = encoding  # a codec name
        self.bom = bom  # the file started with a byte-order mark
        self.newline = newline  # the line ending used when saving an edited buffer
        self.mixed_newlines: list[str] = []  # the line endings of a file that mixes them (kept until it is edited)
        self._original = original  # the bytes on disk (None for a new file)
        self._saved_text = text  # the buffer text that matches the file on disk
        self._saved_is_original = True  # ...and the file on disk still holds the original bytes
        self.fingerprint = fingerprint  # None: the file does not exist (yet)
        self.read_only_reason = read_only_reason  # why it cannot be saved, or None
        self.recovery_refused: str | None = None  # why a recovery file found was not read (read_recovery)
        self.recovery_from: Path | None = None  # the recovery file read_recovery offered
        self.recovery_others = 0  # ...and how many more there are, offered after it (one per open)
        self._own_recovery: list[Path] = []  # the recovery files of this session (written, or restored from): a save ends them
        self._link = _link_target(path)  # where `path` pointed when opened or last saved (None: not a symlink)

    # --- opening -------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike, encoding: str = "utf-8") -> "Document":
        p = Path(path).expanduser()
        try:
            codec = codecs.lookup(encoding).name
            "".encode(codec)  # a text encoding: base64, rot13 or zlib are codecs but not encodings
        except LookupError:
            raise DocumentError(f"unknown encoding {encoding!r} (try utf-8, latin-1, cp1252, utf-16)") from None
        try:
            p.lstat()
        except (FileNotFoundError, NotADirectoryError):
            pass  # a new file, or a folder that is not there: said below
        except OSError as e:  # a name too long, a folder we may not enter
            raise DocumentError(f"cannot open {p}: {e.strerror or e}") from None
        if p.is_dir():
            raise DocumentError(f"{p} is a directory; give a file to edit")
        remove_stale_temps(Path(os.path.realpath(p)).parent)  # left by killed saves (an hour old; never followed)
        if not p.exists():
            if p.is_symlink():
                raise DocumentError(f"{p} is a symlink to a missing file ({os.readlink(p)})")
            folder = p.parent
            if not folder.is_dir():
                raise DocumentError(f"cannot create {p}: the folder {folder} does not exist")
            reason = None if os.access(folder, os.W_OK) else f"the folder {folder} is not writable"
            return cls(p, "", codec, False, "\n", None, None, reason)
        if not p.is_file():
            raise DocumentError(f"{p} is not a regular file")
        size = p.stat().st_size
        if size > MAX_BYTES:
            raise DocumentError(
                f"{p} is {size:,} bytes; the editor opens files up to {MAX_BYTES >> 20} MiB ({MAX_BYTES:,} bytes)"
            )
        try:
            data = p.read_bytes()
        except PermissionError:
            raise DocumentError(f"cannot read {p}: permission denied") from None
        except OSError as e:
            raise DocumentError(f"cannot read {p}: {e.strerror or e}") from None
        try:
            text, bom = _decode(p, data, codec)
        except DocumentError as e:
            if _is_trusted(saving_path_for(p)):  # a save in place was cut short: NULs or half a character
                raise DocumentError(f"{e}; a save cut short left your text in {saving_path_for(p)}: copy it over {p.name}") from None
            raise
        counts = newline_counts(text)
        doc = cls(p, normalize_newlines(text), codec, bom, dominant_newline(counts), data, Fingerprint.of(p, data), _read_only_reason(p))
        present = [nl for nl, n in counts.items() if n]
        doc.mixed_newlines = present if len(present) > 1 else []
        return doc

    def save_as_target(self, raw: str) -> "Document":
        """A Document for the path `raw` names (Save as) that writes as this one does (encoding,
        BOM, line ending); nothing is read or written yet. DocumentError says why not."""
        if not raw.strip():
            raise DocumentError("Save as: give a file name")
        if "\0" in raw:  # a paste can hold one; no file system takes it
            raise DocumentError("Save as: a file name cannot hold a NUL character")
        p = Path(os.path.expanduser(raw.strip()))
        try:
            p.lstat()
        except (FileNotFoundError, NotADirectoryError):
            pass  # a new file, or a folder that is not there: said below
        except OSError as e:  # a name too long (255 bytes), a folder we may not enter
            raise DocumentError(f"Save as: cannot use {p}: {e.strerror or e}") from None
        if p.is_dir():
            raise DocumentError(f"Save as: {p} is a folder; give a file name")
        if not p.parent.is_dir():
            raise DocumentError(f"Save as: the folder {p.parent} does not exist")
        if os.path.lexists(p) and not p.is_file():  # a FIFO, a device, a dangling symlink
            raise DocumentError(f"Save as: {p} is not a regular file")
        return type(self)(p, "", self.encoding, self.bom, self.newline, None, None, None)

    # --- state ---------------------------------------------------------------------------

    @property
    def exists(self) -> bool:
        return self.fingerprint is not None

    @property
    def read_only(self) -> bool:
        return self.read_only_reason is not None

    def is_modified(self, text: str) -> bool:
        return text != self._saved_text

    @property
    def has_long_lines(self) -> bool:
        """A line longer than LONG_LINE characters (the editor opens such a file without soft wrap)."""
        return len(self.text) > LONG_LINE and max(map(len, self.text.split("\n"))) > LONG_LINE

    def changed_on_disk(self) -> str | None:
        """Why the file on disk differs from what we last read or wrote, or None."""
        link = _link_target(self.path)
        if link is not None and link != self._link:  # a swapped-in (maybe dangling) symlink: never write through it unasked
            return f"it was replaced by a symlink to {link} (saving replaces the link with the file)"
        real = Path(os.path.realpath(self.path))
        if self.fingerprint is None:
            return "it was created by another program" if real.exists() else None
        try:
            st = real.stat()
        except FileNotFoundError:
            return "it was deleted"
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):  # reading a FIFO to compare it would never return
            return "it was replaced by something that is not a regular file"
        if (st.st_mtime_ns, st.st_size) == (self.fingerprint.mtime_ns, self.fingerprint.size):
            return None
        now = Fingerprint.of(real)
        if now is None:
            return "it was deleted"
        if now.sha256 != self.fingerprint.sha256:
            return "it was changed by another program"
        self.fingerprint = now  # touched but identical: nothing to ask about
        return None

    # --- saving --------------------------------------------------------------------------

    def encode(self, text: str) -> bytes:
        """The bytes to write for the buffer `text` (the original bytes when it is unedited)."""
        if self._original is not None and text == self._saved_text and self._saved_is_original:
            return self._original
        body = text if self.newline == "\n" else text.replace("\n", self.newline)
        try:
            data = body.encode(self.encoding)
        except UnicodeEncodeError as e:
            bad = e.object[e.start : e.end]
            raise DocumentError(f"cannot save: {bad!r} cannot be written in {self.encoding} (the file's encoding)") from None
        if self.bom and not data.startswith(codecs.BOM_UTF8) and self.encoding == "utf-8":
            data = codecs.BOM_UTF8 + data
        return data

    def save(self, text: str) -> Path:
        """Write `text` atomically (or in place, see `in_place_reason`). On failure DocumentError
        says why; the file is untouched (in place: the buffer is in the safety copy it names)."""
        data = self.encode(text)
        follow = _link_target(self.path) == self._link  # a symlink that appeared or changed is replaced, not followed
        target = Path(os.path.realpath(self.path)) if follow else self.path
        if in_place_reason(target):
            written = self._save_in_place(target, text, data)
        else:
            try:
                written = atomic_write(self.path, data, follow_symlinks=follow, replace_special=True)  # asked first
            except OSError as e:
                why = e.strerror or str(e)
                if not self.path.parent.is_dir():  # removed while open (rm -r, a checkout of another branch)
                    why = f"its folder {self.path.parent} no longer exists"
                elif e.errno == errno.ENOENT:  # /proc, /sys: no file can be made beside it (it said "No such file or directory")
                    why = f"{self.path.parent} takes no new files, and a save writes a new file beside it first ({why})"
                unchanged = "the file on disk is unchanged" if os.path.lexists(self.path) else "nothing was written"
                raise DocumentError(f"could not save {self.path.name}: {why}; {unchanged}") from None
        self._saved_is_original = data == self._original
        self._saved_text = text
        self.fingerprint = Fingerprint.of(written, data)
        self.read_only_reason = None
        self._link = _link_target(self.path)
        remove_stale_temps(written.parent)  # those of saves killed since the open (an hour old; never followed)
        return written

    def _save_in_place(self, target: Path, text: str, data: bytes) -> Path:
        """Keep `text` in the safety copy first (read back as a recovery file should the write
        be cut short), write `data` over `target` in place, then drop the copy."""
        safety = saving_path_for(self.path)
        try:
            make_folder(safety.parent, private=True)
            _write_private(safety, text.encode("utf-8", "surrogatepass"))
        except OSError as e:
            why = e.strerror or str(e)
            raise DocumentError(f"could not save {self.path.name}: no room for a safety copy in {safety.parent} ({why}); "
                                "the file on disk is unchanged") from None
        try:
            write_in_place(target, data)
        except OSError as e:
            why = e.strerror or str(e)
            if safety not in self._own_recovery:  # this session's text: the next good save ends it
                self._own_recovery.append(safety)
            raise DocumentError(f"could not save {self.path.name}: {why}; your text is kept in {safety}", kept=safety) from None
        try:
            safety.unlink()
        except OSError:
            pass
        return target

    # --- recovery ------------------------------------------------------------------------

    @property
    def recovery_paths(self) -> list[Path]:
        """Next to the file (each slot), then the fallback in the user data dir (each slot), then
        the safety copy of a save in place (left only when that save failed or was killed)."""
        near = [recovery_path_for(self.path, n) for n in range(1, RECOVERY_SLOTS + 1)]
        far = [fallback_recovery_path_for(self.path, n) for n in range(1, RECOVERY_SLOTS + 1)]
        return near + far + [saving_path_for(self.path)]

    @property
    def recovery_path(self) -> Path:
        """The recovery file this session wrote, else the one offered, else where one would go."""
        written = [p for p in self._own_recovery if p != saving_path_for(self.path)]
        return (written or [self.recovery_from or recovery_path_for(self.path)])[-1]

    def write_recovery(self, text: str) -> Path:
        """Keep `text` (the unsaved buffer) in this session's recovery file; always UTF-8, mode
        0600. A recovery file of ours that this session did not write or restore from (one it was
        offered and kept for later, another editor's) is never overwritten: the next free slot is
        taken. If the file's folder cannot take it, it goes to the user data dir instead. Whatever
        else is at a slot (a planted symlink, a FIFO, someone's 0666 file) is replaced, never
        followed or written through: see `_write_private`."""
        data = text.encode("utf-8", "surrogatepass")
        error: OSError | None = None
        for where in (recovery_path_for, fallback_recovery_path_for):
            slots = [where(self.path, n) for n in range(1, RECOVERY_SLOTS + 1)]
            mine = [p for p in slots if p in self._own_recovery]
            free = mine or [p for p in slots if not _is_trusted(p)]  # one of ours is someone's kept text
            if not free:
                error = OSError(errno.EEXIST, f"all {RECOVERY_SLOTS} recovery files of {self.path.name} are in use")
                continue
            try:
                if where is fallback_recovery_path_for:
                    make_folder(free[0].parent, private=True)
                written = _write_private(free[0], data)
            except OSError as e:
                error = e
                continue
            if written not in self._own_recovery:
                self._own_recovery.append(written)
            return written
        raise error

    def read_recovery(self) -> str | None:
        """The newest recovered buffer that differs from the file, if a recovery file holds one
        (`recovery_from` names it, `recovery_others` counts the rest). A recovery file that holds
        just the file's text is removed (nothing in it is lost). A recovery path that is not a
        regular file owned by the user (a symlink, a FIFO, a device, another user's file) or is
        larger than MAX_RECOVERY_BYTES is ignored and never opened for reading
        (`self.recovery_refused` says why)."""
        self.recovery_refused, self.recovery_from, self.recovery_others = None, None, 0
        found: list[tuple[float, int, Path, str]] = []
        for order, path in enumerate(self.recovery_paths):
            try:
                data = _read_private(path)
                when = os.lstat(path).st_mtime
            except _Untrusted as e:
                self.recovery_refused = f"{path} was ignored: {e}"
                continue
            except OSError:
                continue
            try:
                text = data.decode("utf-8", "surrogatepass")
            except UnicodeDecodeError:
                continue
            if text == self.text:
                _remove(path)
            else:
                found.append((-when, order, path, text))
        if not found:
            return None
        found.sort()
        self.recovery_from, self.recovery_others = found[0][2], len(found) - 1
        return found[0][3]

    def claim_recovery(self) -> None:
        """The offered recovery file is restored into this session: a save now ends it."""
        if self.recovery_from is not None and self.recovery_from not in self._own_recovery:
            self._own_recovery.append(self.recovery_from)

    def discard_recovery(self) -> None:
        """Delete the offered recovery file (the others stay, for the next open)."""
        if self.recovery_from is not None:
            _remove(self.recovery_from)
            if self.recovery_from in self._own_recovery:
                self._own_recovery.remove(self.recovery_from)
            self.recovery_from = None

    def remove_recovery(self) -> None:
        """The buffer is saved: delete this session's recovery files (never one it kept for later)."""
        for path in self._own_recovery:
            _remove(path)
        self._own_recovery = []


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass  # gone already, or not ours to remove (a folder of that name): never fail a save over it


def _link_target(path: Path) -> str | None:
    """What the symlink at `path` points to, or None when `path` is not a symlink (or is not there)."""
    try:
        return os.readlink(path)
    except (OSError, ValueError):
        return None


class _Untrusted(Exception):
    """A recovery path holds something we did not write: never read it."""


def _untrusted_reason(path: Path, st: os.stat_result | None = None) -> str | None:
    """Why the entry at `path` (lstat: a symlink is not followed) is not a recovery file we can
    trust, or None. OSError when nothing is there."""
    st = st or os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return "it is a symlink"
    if not stat.S_ISREG(st.st_mode):
        return "it is not a regular file"
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return "it is owned by another user"
    if st.st_mode & 0o022:  # ours are 0600: this one was not written by the editor, and others could change it
        return "others can write to it"
    if st.st_size > MAX_RECOVERY_BYTES:
        return f"it is larger than {MAX_RECOVERY_BYTES // 2**20} MiB"
    return None


def _is_trusted(path: Path) -> bool:
    try:
        return _untrusted_reason(path) is None
    except OSError:
        return False


def _read_private(path: Path) -> bytes:
    """The bytes of the recovery file at `path`: checked with lstat before it is opened (a FIFO is
    never opened, a symlink never followed), opened with O_NOFOLLOW|O_NONBLOCK, checked again with
    fstat (the same file, still regular and ours) and read with a size cap. _Untrusted says why not."""
    reason = _untrusted_reason(path)  # OSError (FileNotFoundError) when nothing is there
    if reason:
        raise _Untrusted(reason)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        if e.errno == errno.ELOOP:  # swapped for a symlink between the lstat and the open
            raise _Untrusted("it is a symlink") from None
        raise
    try:
        reason = _untrusted_reason(path, os.fstat(fd))
        if reason:
            raise _Untrusted(reason)
        chunks, left = [], MAX_RECOVERY_BYTES + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        if left <= 0:
            raise _Untrusted(f"it is larger than {MAX_RECOVERY_BYTES // 2**20} MiB")
        return b"".join(chunks)
    finally:
        os.close(fd)


def _write_private(path: Path, data: bytes) -> Path:
    """Write `data` to `path` as a new 0600 file of ours (fileio.replace_file: a fresh temp file
    renamed over whatever entry is at `path`, never written through a symlink or FIFO)."""
    return replace_file(path, data, 0o600)


def _decode(p: Path, data: bytes, codec: str) -> tuple[str, bool]:
    if looks_binary(data) and not codec.startswith(("utf-16", "utf-32")):
        raise DocumentError(f"{p} looks like a binary file (a NUL byte in its first 8 KB); not opening it")
    bom = codec == "utf-8" and data.startswith(codecs.BOM_UTF8)
    try:
        text = data[len(codecs.BOM_UTF8) :].decode(codec) if bom else data.decode(codec)
    except UnicodeDecodeError as e:
        raise DocumentError(
            f"{p} is not valid {codec} (byte 0x{data[e.start]:02x} at offset {e.start}); "
            f"open it with --encoding ENCODING, e.g. --encoding latin-1"
        ) from None
    if codec.startswith(("utf-16", "utf-32")) and text.startswith("\ufeff"):
        text = text[1:]
        bom = True
    return text, bom


def _read_only_reason(p: Path) -> str | None:
    real = Path(os.path.realpath(p))
    try:
        mode = real.stat().st_mode
    except OSError:
        return None
    if not os.access(real, os.W_OK) or not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        return "the file is read-only"
    return None


def in_place_reason(target: Path) -> str | None:
    """Why the existing regular file `target` must be written in place rather than replaced by a
    renamed temp file, or None (no file there, or a rename is fine): the folder cannot take a
    temp file; the file has other hard links (a rename would leave them the old text); it is
    another user's (a rename would make it ours, and chown is not allowed)."""
    try:
        st = os.lstat(target)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    if not _folder_writable(target.parent):
        return "its folder is not writable"
    if st.st_nlink > 1:
        return "it has other hard links"
    if hasattr(os, "geteuid") and os.geteuid() != 0 and st.st_uid != os.geteuid():
        return "it is another user's file"
    return None


def _folder_writable(folder: Path) -> bool:
    """A temp file can be created (and renamed) in `folder`."""
    return os.access(folder, os.W_OK | os.X_OK)
