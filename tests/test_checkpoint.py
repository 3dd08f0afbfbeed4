"""Checkpoints: save -> load gives the same model; anything not a valid charcomplete
safetensors file is refused with a clear one-line error and nothing is ever unpickled."""

from __future__ import annotations

import json
import pickle
import struct

import pytest
import torch

from charcomplete.checkpoint import FORMAT_VERSION, CheckpointMeta, load_checkpoint, read_safetensors, save_checkpoint, write_safetensors
from charcomplete.errors import CheckpointError
from charcomplete.paths import models_dir as user_dir
from charcomplete.registry import list_checkpoints, resolve_model, user_checkpoint_path
from charcomplete.models import ModelConfig, build_model
from charcomplete.vocab import Vocab

VOCAB = Vocab.build("hello world, how are you?\n")


def _model(kind="attention"):
    torch.manual_seed(0)
    return build_model(ModelConfig(kind=kind, vocab_size=len(VOCAB), embed=8, hidden=16, window=4)).eval()


def _save(path, model=None, **meta_kw):
    model = model or _model()
    meta = CheckpointMeta(config=model.cfg.to_dict(), vocab=VOCAB.to_json(), metrics={"val_bpc": 1.5}, **meta_kw)
    save_checkpoint(path, model, meta)
    return model


def _expect_error(path, match):
    with pytest.raises(CheckpointError, match=match) as info:
        load_checkpoint(path)
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg
    return msg


@pytest.mark.parametrize("kind", ["lstm", "attention"])
def test_save_load_gives_identical_logits(tmp_path, kind):
    path = tmp_path / "m.safetensors"
    model = _save(path, _model(kind), corpus={"paths": "notes/"})
    loaded, meta, vocab = load_checkpoint(path)
    assert vocab == VOCAB
    assert meta.config == model.cfg.to_dict() and meta.metrics == {"val_bpc": 1.5}
    assert meta.corpus == {"paths": "notes/"} and meta.created and meta.version
    ids = torch.from_numpy(VOCAB.encode("hello how are you").astype("int64"))[None]
    with torch.no_grad():
        assert torch.equal(model(ids)[0], loaded(ids)[0])
    assert not loaded.training


def test_metadata_is_json_strings_with_a_format_version(tmp_path):
    path = tmp_path / "m.safetensors"
    _save(path)
    _, md = read_safetensors(path)
    assert md["format"] == "charcomplete-checkpoint" and md["format_version"] == str(FORMAT_VERSION)
    assert json.loads(md["config"])["kind"] == "attention"
    assert Vocab.from_json(md["vocab"]) == VOCAB


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "m.safetensors"
    _save(path)
    _save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


class _Evil:
    """Unpickling this creates the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("writer", ["pickle", "torch.save", "pickle-protocol-0"])
@pytest.mark.parametrize("name", ["evil.pt", "evil.safetensors"])
def test_a_pickle_is_refused_and_never_unpickled(tmp_path, writer, name):
    marker = tmp_path / "PWNED"
    path = tmp_path / name
    payload = {"weights": _Evil(marker)}
    if writer == "torch.save":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=0 if writer == "pickle-protocol-0" else 4))
    assert not marker.exists()
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value)
    with pytest.raises(CheckpointError):
        read_safetensors(path)
    assert not marker.exists()
    # the sanity check of the test itself: unpickling really would create it
    if writer != "torch.save":
        pickle.loads(path.read_bytes())
        assert marker.exists()


@pytest.mark.parametrize("prefix, modulus", [(b"\x80", 256), (b"PK", 65536)])
def test_a_valid_checkpoint_whose_header_length_looks_like_a_pickle_loads(tmp_path, prefix, modulus):
    # the first bytes of a safetensors file are its header length: 0x80 or "PK" there is legitimate
    path = tmp_path / "m.safetensors"
    target = int.from_bytes(prefix, "little")
    _save(path, corpus={"pad": ""})
    (n0,) = struct.unpack("<Q", path.read_bytes()[:8])
    model = _save(path, corpus={"pad": "x" * ((target - n0) % modulus)})
    assert path.read_bytes().startswith(prefix)
    loaded, meta, _ = load_checkpoint(path)
    assert torch.equal(loaded.fc.weight, model.fc.weight)


def test_empty_and_truncated_files(tmp_path):
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    _expect_error(empty, "empty or truncated")
    good = tmp_path / "good.safetensors"
    _save(good)
    data = good.read_bytes()
    for n in (4, 20, len(data) // 2, len(data) - 1):
        cut = tmp_path / f"cut{n}.safetensors"
        cut.write_bytes(data[:n])
        _expect_error(cut, "truncated|corrupt")


def test_non_safetensors_files(tmp_path):
    text = tmp_path / "notes.safetensors"
    text.write_text("just some text that is long enough to have a header length\n")
    _expect_error(text, "not a safetensors file|truncated")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(struct.pack("<Q", 10) + b"{not json}")
    _expect_error(junk, "not a safetensors file")
    arr = tmp_path / "array.safetensors"
    arr.write_bytes(struct.pack("<Q", 2) + b"[]")
    _expect_error(arr, "not a safetensors file")
    _expect_error(tmp_path, "directory")
    _expect_error(tmp_path / "missing.safetensors", "no such")


def test_huge_header_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "huge.safetensors"
    path.write_bytes(struct.pack("<Q", 2**62) + b"{}")
    _expect_error(path, "header")


def test_foreign_safetensors_and_bad_metadata(tmp_path):
    foreign = tmp_path / "foreign.safetensors"
    write_safetensors(foreign, {"w": torch.zeros(2)}, {"format": "pt"})
    _expect_error(foreign, "not a charcomplete checkpoint")
    no_md = tmp_path / "nomd.safetensors"
    write_safetensors(no_md, {"w": torch.zeros(2)}, {})
    _expect_error(no_md, "not a charcomplete checkpoint")


def _rewrite(src, dst, tensors=None, **md_changes):
    tensors_src, md = read_safetensors(src)
    md.update(md_changes)
    write_safetensors(dst, tensors if tensors is not None else tensors_src, md)
    return dst


def test_non_string_metadata_is_refused(tmp_path):
    good = tmp_path / "good.safetensors"
    _save(good)
    data = good.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    header["__metadata__"]["config"] = {"kind": "lstm"}  # an object, not a JSON string
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n :])
    _expect_error(bad, "metadata")


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"format_version": str(FORMAT_VERSION + 1)}, "newer charcomplete"),
        ({"format_version": "one"}, "format version"),
        ({"config": "{not json"}, "corrupt metadata"),
        ({"config": "[1, 2]"}, "corrupt metadata"),
        ({"config": json.dumps({"kind": "transformer", "vocab_size": 5})}, "unknown model kind"),
        ({"config": json.dumps({"kind": "lstm", "vocab_size": 5, "hidden": "big"})}, "hidden"),
        ({"config": json.dumps({"kind": "lstm", "vocab_size": 5, "__class__": "x"})}, "unknown fields"),
        ({"vocab": "[1]"}, "vocabulary"),
        ({"metrics": "3"}, "corrupt metadata"),
    ],
)
def test_bad_metadata_values(tmp_path, changes, match):
    good = tmp_path / "good.safetensors"
    _save(good)
    _expect_error(_rewrite(good, tmp_path / "bad.safetensors", **changes), match)


@pytest.mark.parametrize("layers, match", [(1, "largest supported"), (3, "largest supported")])
def test_a_config_claiming_a_huge_model_is_refused_without_allocating_it(tmp_path, layers, match):
    good = tmp_path / "good.safetensors"
    model = _save(good)
    huge = dict(model.cfg.to_dict(), hidden=200_000, layers=layers)  # 0.6 to 2 TB of float32 weights
    _expect_error(_rewrite(good, tmp_path / "huge.safetensors", config=json.dumps(huge)), match)


def test_vocabulary_size_mismatch(tmp_path):
    good = tmp_path / "good.safetensors"
    _save(good)
    _expect_error(_rewrite(good, tmp_path / "bad.safetensors", vocab=Vocab.build("abc").to_json()), "vocabulary mismatch")


def test_wrong_shapes_missing_tensors_nan_and_integer_weights(tmp_path):
    good = tmp_path / "good.safetensors"
    _save(good)
    tensors, _ = read_safetensors(good)

    wrong = dict(tensors, **{"fc.bias": torch.zeros(3)})
    _expect_error(_rewrite(good, tmp_path / "shape.safetensors", wrong), "shape")

    missing = {k: v for k, v in tensors.items() if k != "attn_linear.weight"}
    _expect_error(_rewrite(good, tmp_path / "missing.safetensors", missing), "do not match")

    extra = dict(tensors, sneaky=torch.zeros(1))
    _expect_error(_rewrite(good, tmp_path / "extra.safetensors", extra), "do not match")

    nan = dict(tensors)
    nan["fc.weight"] = nan["fc.weight"].clone()
    nan["fc.weight"][0, 0] = float("nan")
    _expect_error(_rewrite(good, tmp_path / "nan.safetensors", nan), "NaN")

    inf = dict(tensors, **{"fc.bias": torch.full_like(tensors["fc.bias"], float("inf"))})
    _expect_error(_rewrite(good, tmp_path / "inf.safetensors", inf), "infinite")

    ints = dict(tensors, **{"fc.bias": tensors["fc.bias"].to(torch.int32)})
    _expect_error(_rewrite(good, tmp_path / "int.safetensors", ints), "floating point")


def test_half_precision_weights_load(tmp_path):
    good = tmp_path / "good.safetensors"
    model = _save(good)
    tensors, _ = read_safetensors(good)
    half = _rewrite(good, tmp_path / "half.safetensors", {k: v.half() for k, v in tensors.items()})
    loaded, _, _ = load_checkpoint(half)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    assert torch.allclose(loaded.fc.bias, model.fc.bias, atol=1e-2)


def test_names_and_paths(tmp_path):
    path = user_checkpoint_path("my-notes")
    assert path.parent == user_dir() and path.name == "my-notes.safetensors"
    path.parent.mkdir(parents=True)
    _save(path)
    (path.parent / "my-notes.resume.safetensors").write_bytes(b"")  # a resume file is not a model
    names = {e.name: e for e in list_checkpoints()}
    assert names["my-notes"].source == "user" and "my-notes.resume" not in names
    assert resolve_model("my-notes") == path
    assert resolve_model(str(path)) == path
    other = tmp_path / "elsewhere.safetensors"
    _save(other)
    assert resolve_model(str(other)) == other
    with pytest.raises(CheckpointError, match="unknown model 'nope'.*my-notes"):
        resolve_model("nope")
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        resolve_model(str(tmp_path / "gone.safetensors"))
    for bad in ("", "../x", "a/b", ".hidden"):
        with pytest.raises(CheckpointError, match="bad model name"):
            user_checkpoint_path(bad)


def test_user_dir_follows_charcomplete_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CHARCOMPLETE_DATA_DIR", str(tmp_path / "d"))
    assert user_dir() == tmp_path / "d" / "models"
    monkeypatch.delenv("CHARCOMPLETE_DATA_DIR")
    assert "charcomplete" in str(user_dir())


def test_a_user_model_shadows_a_shipped_one(tmp_path, monkeypatch):
    import charcomplete.registry as ck

    shipped = tmp_path / "shipped"
    shipped.mkdir()
    monkeypatch.setattr(ck, "shipped_dir", lambda: shipped)
    _save(shipped / "attention.safetensors")
    _save(shipped / "lstm.safetensors", _model("lstm"))
    assert resolve_model("lstm") == shipped / "lstm.safetensors"
    mine = user_checkpoint_path("lstm")
    mine.parent.mkdir(parents=True)
    _save(mine, _model("lstm"))
    entries = {e.name: e for e in list_checkpoints()}
    assert entries["lstm"].source == "user" and entries["attention"].source == "shipped"
    assert resolve_model("lstm") == mine


def test_a_failed_write_leaves_the_old_checkpoint_and_no_temp_file(tmp_path, monkeypatch):
    import charcomplete.fileio as fileio

    path = tmp_path / "m.safetensors"
    _save(path)
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fileio.os, "replace", broken_replace)
    with pytest.raises(OSError):
        _save(path, _model("lstm"))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def test_writes_keep_the_mode_and_follow_a_symlink(tmp_path):
    real = tmp_path / "real.safetensors"
    _save(real)
    real.chmod(0o600)
    link = tmp_path / "link.safetensors"
    link.symlink_to(real)
    _save(link, _model("lstm"))
    assert link.is_symlink() and (real.stat().st_mode & 0o777) == 0o600
    _, meta, _ = load_checkpoint(link)
    assert meta.config["kind"] == "lstm"


def test_the_model_for_a_file_follows_its_kind_and_falls_back_to_the_default(tmp_path, monkeypatch):
    import charcomplete.registry as reg

    assert [reg.file_kind(n) for n in ("a.py", "Makefile", "x.RS", "notes.md", "notes", "README.rst", "a.txt")] == \
        ["code", "code", "code", "prose", "prose", "prose", "prose"]
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    monkeypatch.setattr(reg, "shipped_dir", lambda: shipped)
    _save(shipped / "attention.safetensors")
    assert reg.model_for_file("a.py") == reg.model_for_file("n.md") == reg.DEFAULT_MODEL  # no prose/code model: the default
    _save(shipped / "code.safetensors")
    _save(shipped / "prose.safetensors")
    assert reg.model_for_file("a.py") == "code" and reg.model_for_file("n.md") == "prose" and reg.model_for_file("n") == "prose"
    assert reg.model_for_file("a.py", large=True) == "code"  # no wider network installed: the usual one
    _save(shipped / "code-large.safetensors")
    assert reg.model_for_file("a.py", large=True) == "code-large" and reg.model_for_file("n.md", large=True) == "prose"
    assert reg.model_for_file("a.py") == "code"  # never picked without asking


def test_a_config_claiming_100000_layers_is_refused_in_one_line_at_once(tmp_path):
    """Issue 15 item 9: it used to make `complete` run for minutes (building the layers)."""
    import time

    from click.testing import CliRunner

    from charcomplete.cli import cli

    good = tmp_path / "good.safetensors"
    model = _save(good)
    bad = _rewrite(good, tmp_path / "deep.safetensors", config=json.dumps(dict(model.cfg.to_dict(), layers=100_000)))
    t0 = time.perf_counter()
    r = CliRunner().invoke(cli, ["complete", "--model", str(bad), "the qu"])
    assert r.exit_code == 1 and "largest supported" in r.output and len(r.output.strip().splitlines()) == 1
    assert time.perf_counter() - t0 < 10
