"""The peers bench/quality.py measures the models against, run as external programs:

- PPMd: 7-Zip's `7z a -m0=PPMd:o=8:mem=1g`, primed with the training text (the size difference
  of archive(train + text) and archive(train), in bits per character of the text);
- Presage (a word n-gram predictor, 2009-): its n-gram database built by its own `text2ngram`
  (1-, 2- and 3-grams, case kept) from the training text, asked through libpresage's C API
  (ctypes) for its single best word, shown as a ghost: the word's remainder, or the remainder
  and a space.

Both are bench dependencies, never package dependencies: `apt-get install -y p7zip-full
presage libpresage-dev` (Debian 12: p7zip-full 16.02, presage/libpresage1v5 0.9.1). The
databases and primed archive sizes are cached under $XDG_CACHE_HOME/charcomplete-bench (keyed
by a hash of the training text): building a database from 20 MB takes a minute or two.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "charcomplete-bench"


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# --- PPMd -----------------------------------------------------------------------------------

PPMD_ARGS = ["-m0=PPMd:o=8:mem=1g"]


def _archive_size(text: str, d: str, name: str) -> int:
    src, arc = Path(d) / f"{name}.txt", Path(d) / f"{name}.7z"
    src.write_text(text, encoding="utf-8")
    subprocess.run(["7z", "a", *PPMD_ARGS, str(arc), str(src)], check=True, capture_output=True)
    size = arc.stat().st_size
    src.unlink()
    arc.unlink()
    return size


def ppmd_train_size(train: str) -> int:
    """The size of archive(train) (cached)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    f = CACHE / f"ppmd-{_key(train)}.size"
    if f.exists():
        return int(f.read_text())
    with tempfile.TemporaryDirectory() as d:
        size = _archive_size(train, d, "train")
    f.write_text(str(size))
    return size


def ppmd_bits(train: str, text: str, train_size: int | None = None) -> float:
    """Bits PPMd (order 8, 1 GB) spends on `text` after the training text: 8 * (size of
    archive(train + text) - size of archive(train)). The text is a separate file's worth after
    the training text: PPMd primed, then reading it."""
    if train_size is None:
        train_size = ppmd_train_size(train)
    with tempfile.TemporaryDirectory() as d:
        return 8.0 * (_archive_size(train + text, d, "both") - train_size)


def have_7z() -> bool:
    return shutil.which("7z") is not None


# --- Presage --------------------------------------------------------------------------------

CONFIG = """<?xml version="1.0" encoding="UTF-8" standalone="no" ?>
<Presage>
  <PredictorRegistry><LOGGER>ERROR</LOGGER><PREDICTORS>{predictors}</PREDICTORS></PredictorRegistry>
  <ContextTracker><LOGGER>ERROR</LOGGER><SLIDING_WINDOW_SIZE>80</SLIDING_WINDOW_SIZE>
    <LOWERCASE_MODE>no</LOWERCASE_MODE><ONLINE_LEARNING>no</ONLINE_LEARNING></ContextTracker>
  <Selector><LOGGER>ERROR</LOGGER><SUGGESTIONS>6</SUGGESTIONS><REPEAT_SUGGESTIONS>yes</REPEAT_SUGGESTIONS>
    <GREEDY_SUGGESTION_THRESHOLD>0</GREEDY_SUGGESTION_THRESHOLD></Selector>
  <PredictorActivator><LOGGER>ERROR</LOGGER><PREDICT_TIME>1000</PREDICT_TIME>
    <MAX_PARTIAL_PREDICTION_SIZE>60</MAX_PARTIAL_PREDICTION_SIZE><COMBINATION_POLICY>Meritocracy</COMBINATION_POLICY></PredictorActivator>
  <ProfileManager><LOGGER>ERROR</LOGGER><AUTOPERSIST>false</AUTOPERSIST></ProfileManager>
  <Predictors>
    <NgramPredictor><PREDICTOR>SmoothedNgramPredictor</PREDICTOR><LOGGER>ERROR</LOGGER>
      <DBFILENAME>{db}</DBFILENAME><DELTAS>0.01 0.1 0.89</DELTAS><LEARN>false</LEARN>
      <DatabaseConnector><LOGGER>ERROR</LOGGER></DatabaseConnector></NgramPredictor>
    <RecencyPredictor><PREDICTOR>RecencyPredictor</PREDICTOR><LOGGER>ERROR</LOGGER>
      <LAMBDA>1</LAMBDA><N_0>1</N_0><CUTOFF_THRESHOLD>20</CUTOFF_THRESHOLD></RecencyPredictor>
  </Predictors>
</Presage>
"""


def have_presage() -> bool:
    return shutil.which("text2ngram") is not None and ctypes.util.find_library("presage") is not None


def presage_database(train: str) -> Path:
    """Presage's n-gram database (1- to 3-grams, case kept) of `train`, built by `text2ngram` (cached)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    db = CACHE / f"presage-{_key(train)}.db"
    if db.exists():
        return db
    with tempfile.TemporaryDirectory() as d:
        src, tmp = Path(d) / "train.txt", Path(d) / "ngrams.db"
        src.write_text(train, encoding="utf-8")
        for n in (1, 2, 3):
            subprocess.run(["text2ngram", "-n", str(n), "-a", "-f", "sqlite", "-o", str(tmp), str(src)],
                           check=True, capture_output=True)
        shutil.move(str(tmp), db)
    return db


_CB = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p)


class Presage:
    """libpresage through its C API: the single best word for the text before the cursor.
    With `recency`, its recency predictor (words of the text so far) is combined with the
    n-gram predictor (Presage's default combination), as the editor's adaptation is on."""

    def __init__(self, db: Path, recency: bool = True, window: int = 400):
        lib = ctypes.CDLL(ctypes.util.find_library("presage"))
        lib.presage_new_with_config.argtypes = [_CB, ctypes.c_void_p, _CB, ctypes.c_void_p, ctypes.c_char_p,
                                                ctypes.POINTER(ctypes.c_void_p)]
        lib.presage_predict.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.POINTER(ctypes.c_char_p))]
        lib.presage_prefix.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)]
        lib.presage_free_string_array.argtypes = [ctypes.POINTER(ctypes.c_char_p)]
        lib.presage_free_string.argtypes = [ctypes.c_void_p]
        lib.presage_free.argtypes = [ctypes.c_void_p]
        self.lib, self.window = lib, window
        self._dir = tempfile.TemporaryDirectory()
        cfg = Path(self._dir.name) / "presage.xml"
        predictors = "NgramPredictor RecencyPredictor" if recency else "NgramPredictor"
        cfg.write_text(CONFIG.format(predictors=predictors, db=db))
        self._buf = ctypes.create_string_buffer(b"")
        self._empty = ctypes.create_string_buffer(b"")
        self._past_cb = _CB(lambda _: ctypes.addressof(self._buf))
        self._future_cb = _CB(lambda _: ctypes.addressof(self._empty))
        self._h = ctypes.c_void_p()
        rc = lib.presage_new_with_config(self._past_cb, None, self._future_cb, None, str(cfg).encode(), ctypes.byref(self._h))
        if rc != 0:
            raise RuntimeError(f"presage_new_with_config failed: error {rc}")
        self.cache: dict[str, str] = {}

    def best(self, context: str) -> tuple[str, str]:
        """(Presage's prefix, its best word) for the text before the cursor (cached by context)."""
        past = context[-self.window :]
        hit = self.cache.get(past)
        if hit is not None:
            return hit
        self._buf = ctypes.create_string_buffer(past.encode("utf-8"))
        words = ctypes.POINTER(ctypes.c_char_p)()
        word = ""
        if self.lib.presage_predict(self._h, ctypes.byref(words)) == 0 and words:
            if words[0] is not None:
                word = words[0].decode("utf-8", "replace")
            self.lib.presage_free_string_array(words)
        p = ctypes.c_void_p()
        prefix = ""
        if self.lib.presage_prefix(self._h, ctypes.byref(p)) == 0 and p.value:
            prefix = ctypes.string_at(p.value).decode("utf-8", "replace")
            self.lib.presage_free_string(p)
        self.cache[past] = (prefix, word)
        return prefix, word

    def ghost(self, context: str, space: bool) -> str:
        """The ghost: the rest of the best word (and a space with `space`); "" for none."""
        prefix, word = self.best(context)
        if not word or not context.endswith(prefix) or not word.startswith(prefix) or len(word) == len(prefix):
            return ""
        return word[len(prefix) :] + (" " if space else "")

    def close(self) -> None:
        if self._h:
            self.lib.presage_free(self._h)
            self._h = ctypes.c_void_p()
        self._dir.cleanup()
