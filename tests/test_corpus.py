"""Corpus: files, folders and globs; text only (binary / non-UTF-8 skipped and counted);
a contiguous split where validation text never appears in training; batches."""

from __future__ import annotations

import numpy as np
import pytest

from charcomplete.corpus import (
    CorpusError,
    as_streams,
    expand_paths,
    load_corpus,
    read_corpus,
    split_text,
    stream_batches,
    steps_per_epoch,
)


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_train_and_validation_never_overlap(tmp_path):
    # every line is unique, so any overlap between the parts would show as a shared line
    a = "".join(f"alpha line {i:04d}\n" for i in range(200))
    b = "".join(f"beta line {i:04d}\n" for i in range(100))
    _write(tmp_path / "a.txt", a)
    _write(tmp_path / "b.txt", b)
    c = load_corpus([str(tmp_path)], val_fraction=0.1)
    train, val = c.vocab.decode(c.train), c.vocab.decode(c.val)
    assert len(c.train) + len(c.val) == len(a) + len(b)
    # the validation part is exactly the contiguous tail of each file
    assert val == a[-len(a) // 10 :] + b[-len(b) // 10 :]
    assert train == a[: -len(a) // 10] + b[: -len(b) // 10]
    train_lines = set(train.split("\n"))
    val_lines = {ln for ln in val.split("\n")[1:-1]}  # whole lines only (the first may be cut)
    assert val_lines and not (val_lines & train_lines)


def test_binary_and_non_utf8_files_are_skipped_and_counted(tmp_path):
    _write(tmp_path / "good.txt", "hello world\n" * 20)
    (tmp_path / "image.bin").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (tmp_path / "late_nul.dat").write_bytes(b"text " * 10 + b"\x00" + b"more")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 cr\xe8me br\xfbl\xe9e\n".encode("latin-1"))
    files = read_corpus([str(tmp_path)])
    assert [d.path.endswith("good.txt") for d in files.documents] == [True]
    assert files.skipped_binary == 2
    assert files.skipped_encoding == 1
    s = files.summary()
    assert "2 binary" in s and "1 not UTF-8" in s and "1 files" in s
    c = load_corpus([str(tmp_path)])
    assert "2 binary" in c.summary()
    assert set(c.vocab.chars) == set("helo wrd\n")


def test_only_binary_files_is_an_error_that_says_why(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"\x00\x01\x02" * 10)
    with pytest.raises(CorpusError, match="no text files.*1 binary"):
        load_corpus([str(tmp_path)])


def test_empty_folder_and_empty_files_are_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="no text files"):
        load_corpus([str(tmp_path / "empty")])
    _write(tmp_path / "blank" / "x.txt", "")
    with pytest.raises(CorpusError, match="too small"):
        load_corpus([str(tmp_path / "blank")])


def test_missing_path_is_an_error(tmp_path):
    with pytest.raises(CorpusError, match="not found"):
        load_corpus([str(tmp_path / "nope")])
    with pytest.raises(CorpusError, match="no files match"):
        load_corpus([str(tmp_path / "*.nothing")])
    with pytest.raises(CorpusError):
        load_corpus([])


def test_globs_folders_and_files_hidden_skipped_duplicates_once(tmp_path):
    _write(tmp_path / "notes" / "a.md", "aaa\n")
    _write(tmp_path / "notes" / "sub" / "b.md", "bbb\n")
    _write(tmp_path / "notes" / "c.txt", "ccc\n")
    _write(tmp_path / "notes" / ".hidden.md", "hhh\n")
    _write(tmp_path / "notes" / ".git" / "d.md", "ddd\n")
    names = lambda ps: sorted(p.name for p in ps)  # noqa: E731
    assert names(expand_paths([str(tmp_path / "notes")])) == ["a.md", "b.md", "c.txt"]
    assert names(expand_paths([str(tmp_path / "notes" / "*.md")])) == ["a.md"]
    assert names(expand_paths([str(tmp_path / "notes" / "**" / "*.md")])) == ["a.md", "b.md"]
    # a file named twice (as a file, through a glob and in a folder) is read once
    both = expand_paths([str(tmp_path / "notes" / "a.md"), str(tmp_path / "notes" / "*.md"), str(tmp_path / "notes")])
    assert names(both) == ["a.md", "b.md", "c.txt"]


def test_a_double_star_glob_never_goes_into_links_to_folders(tmp_path):
    """Two links to the folder itself (`ln -s . l1; ln -s . l2`): `notes/**/*.md` ran for ever
    (glob.glob followed them, 2^depth paths until the names grew too long)."""
    import threading

    _write(tmp_path / "notes" / "a.md", "aaa\n")
    _write(tmp_path / "notes" / "sub" / "b.md", "bbb\n")
    for link in ("l1", "l2"):
        (tmp_path / "notes" / link).symlink_to(".")
    found = []
    worker = threading.Thread(target=lambda: found.append(expand_paths([str(tmp_path / "notes" / "**" / "*.md")])), daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert found and sorted(p.name for p in found[0]) == ["a.md", "b.md"]
    assert [p.name for p in expand_paths([str(tmp_path / "notes" / "**a.md")])] == ["a.md"]  # not a `**` folder: glob's `*`


def test_crlf_and_bom_are_normalised(tmp_path):
    (tmp_path / "win.txt").write_bytes(b"\xef\xbb\xbf" + b"line one\r\nline two\r\n" * 10)
    c = load_corpus([str(tmp_path)])
    assert "\r" not in c.vocab.chars and "\ufeff" not in c.vocab.chars
    assert c.vocab.decode(c.train).startswith("line one\nline two\n")


def test_ids_are_compact_arrays(tmp_path):
    _write(tmp_path / "a.txt", "abc" * 100)
    c = load_corpus([str(tmp_path)])
    assert isinstance(c.train, np.ndarray) and c.train.dtype == np.uint8
    assert c.val.dtype == np.uint8


def test_given_vocabulary_is_kept_and_new_characters_are_unk(tmp_path):
    from charcomplete.vocab import Vocab

    _write(tmp_path / "a.txt", "abcxyz" * 50)
    v = Vocab.build("abc")
    c = load_corpus([str(tmp_path)], vocab=v)
    assert c.vocab is v
    assert c.train[:6].tolist() == [1, 2, 3, 0, 0, 0]


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, 1.5])
def test_bad_val_fraction(tmp_path, bad):
    _write(tmp_path / "a.txt", "abc" * 100)
    with pytest.raises(CorpusError, match="val_fraction"):
        load_corpus([str(tmp_path)], val_fraction=bad)


def test_split_text_is_a_contiguous_tail():
    assert split_text("0123456789", 0.3) == ("0123456", "789")


def test_stream_batches_carry_on_across_chunks():
    ids = np.arange(103, dtype=np.uint16)
    B, T = 4, 7
    chunks = list(stream_batches(ids, B, T))
    assert len(chunks) == steps_per_epoch(len(ids), B, T)
    streams = as_streams(ids, B)  # (4, 25)
    assert streams.shape == (4, 25)
    xs = np.concatenate([x for x, _ in chunks], axis=1)
    ys = np.concatenate([y for _, y in chunks], axis=1)
    # chunk k+1 follows chunk k in every stream; y is x shifted by one
    assert (xs == streams[:, :-1]).all()
    assert (ys == streams[:, 1:]).all()
    assert all(x.dtype == np.int64 and x.shape[0] == B for x, _ in chunks)
