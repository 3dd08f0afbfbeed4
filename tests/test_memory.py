"""The corpus memory: predictions, the file round trip, and hostile files refused in one line."""

import json
import struct

import numpy as np
import pytest

from charcomplete.memory import MemoryConfig, MemoryFileError, build_memory, context_keys, load_memory
from charcomplete.vocab import Vocab

TEXT = ("the quick brown fox jumps over the lazy dog. " * 3 + "a stitch in time saves nine. "
        "to be or not to be, that is the question. " * 2 + "def main():\n    return 0\n")
VOCAB = Vocab.build(TEXT + "Z")
CFG = MemoryConfig(orders=(1, 2, 3, 4, 6, 8, 12, 24), min_count=(1, 1, 1, 1, 2, 2, 2, 2))  # the tiny text's long contexts kept


@pytest.fixture(scope="module")
def mem():
    return build_memory(TEXT, VOCAB, CFG, description="test text")


def test_probabilities_sum_to_one(mem):
    for tail in ["", "t", "the quick br", "zzzz unseen", "to be or not to b", "Z" * 40]:
        p, info = mem.predict_text(tail)
        assert p.shape == (len(VOCAB),)
        assert abs(p.sum() - 1) < 1e-9 and p.min() > 0
        assert 0 <= info["order"] <= mem.max_order


def test_recent_answers_are_given_again_read_only_and_bounded(mem):
    """predict_text keeps its latest answers (a suggestion's path is asked again on the next key):
    the same as predict over the ids, read-only, and no more than RECENT of them."""
    from charcomplete.memory import RECENT

    tails = [TEXT[: i] for i in range(1, len(TEXT))] * 2 + [f"tail {i}" for i in range(RECENT + 5)]
    for tail in tails:
        p, info = mem.predict_text(tail)
        want, want_info = mem.predict([VOCAB._index.get(ch, 0) for ch in tail[-mem.max_order :]])
        assert np.array_equal(p, want) and info == want_info
        assert not p.flags.writeable
    assert mem.predict_text(tails[-1])[0] is mem.predict_text(tails[-1])[0]  # given again, not recomputed
    assert len(mem._recent) == RECENT


def test_seen_context_is_predicted(mem):
    p, info = mem.predict_text("the quick brown fox jumps over the la")
    assert VOCAB.token(int(np.argmax(p))) == "z"
    assert p[VOCAB.id("z")] > 0.9
    assert info["order"] == 24 and info["count"] >= 2  # the longest table matched, seen 3 times


def test_unseen_context_falls_back(mem):
    p, info = mem.predict_text("qqqq")
    assert info["order"] <= 1
    assert p[VOCAB.id(" ")] > p[VOCAB.id("Z")]  # the unigram: spaces are common, Z never seen


def test_min_count_prunes_long_contexts():
    cfg = MemoryConfig(orders=(1, 2, 3, 8), min_count=(1, 1, 1, 3))
    m = build_memory(TEXT, VOCAB, cfg)
    _, info = m.predict_text("a stitch in time")  # seen once: order 8 pruned
    assert info["order"] == 3
    _, info = m.predict_text("the lazy")  # seen three times
    assert info["order"] == 8


def test_context_keys_match_build(mem):
    # the keys a query computes are the ones the build stored
    ids = VOCAB.encode("over the lazy dog")
    keys = context_keys(ids, mem.orders)
    for j, key in enumerate(keys):
        assert key in set(mem.tables[j].keys.tolist())


def test_round_trip_identical(mem, tmp_path):
    path = tmp_path / "m.safetensors"
    mem.save(path)
    back = load_memory(path)
    assert back.cfg == mem.cfg and back.vocab == mem.vocab and back.corpus["description"] == "test text"
    for tail in ["the quick brown f", "to be or", "def main():\n   ", "nothing like it"]:
        p1, i1 = mem.predict_text(tail)
        p2, i2 = back.predict_text(tail)
        assert i1 == i2
        np.testing.assert_array_equal(p1, p2)


def _header_and_body(path):
    data = path.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8 : 8 + n]), data[8 + n :]


def _write(path, header, body):
    h = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(h)) + h + body)


def _rejected(path):
    with pytest.raises(MemoryFileError) as e:
        load_memory(path)
    msg = str(e.value)
    assert msg and "\n" not in msg and str(path) in msg
    return msg


def test_hostile_files_rejected(mem, tmp_path):
    good = tmp_path / "good.safetensors"
    mem.save(good)
    header, body = _header_and_body(good)
    bad = tmp_path / "bad.safetensors"

    bad.write_bytes(b"")
    _rejected(bad)
    bad.write_bytes(b"\x00" * 4)
    _rejected(bad)
    bad.write_bytes(struct.pack("<Q", 1 << 40) + b"{}")  # a huge header size
    _rejected(bad)
    bad.write_bytes(struct.pack("<Q", 5) + b"{nope")
    _rejected(bad)
    bad.write_bytes(b"\x80\x03cos\nsystem\nq\x00.")  # a pickle
    _rejected(bad)
    bad.write_bytes(good.read_bytes()[:-10])  # truncated
    assert "bad tensor" in _rejected(bad)
    _rejected(tmp_path / "missing.safetensors")
    _rejected(tmp_path)  # a folder

    def variant(change):
        h = json.loads(json.dumps(header))
        change(h)
        _write(bad, h, body)
        return _rejected(bad)

    variant(lambda h: h["__metadata__"].update(format="charcomplete-checkpoint"))
    variant(lambda h: h["__metadata__"].update(format_version="99"))
    variant(lambda h: h["__metadata__"].update(config="[1, 2]"))
    variant(lambda h: h["__metadata__"].update(config=json.dumps({**json.loads(h["__metadata__"]["config"]), "orders": [3, 2, 1]})))
    variant(lambda h: h["__metadata__"].update(vocab="42"))
    variant(lambda h: h["__metadata__"].pop("corpus"))
    variant(lambda h: h.pop("keys.0"))
    variant(lambda h: h["keys.0"].update(dtype="F64"))
    variant(lambda h: h["keys.0"].update(dtype="U16"))
    variant(lambda h: h["keys.0"].update(shape=[10**9]))
    variant(lambda h: h["syms.2"].update(data_offsets=h["keys.2"]["data_offsets"]))  # overlapping
    variant(lambda h: h.update(extra={"dtype": "U8", "shape": [0], "data_offsets": [0, 0]}))


def test_corrupt_values_rejected(mem, tmp_path):
    good = tmp_path / "good.safetensors"
    mem.save(good)
    header, body = _header_and_body(good)
    bad = tmp_path / "bad.safetensors"

    def poke(name, value, index=0):
        lo = header[name]["data_offsets"][0]
        b = bytearray(body)
        b[lo + index] = value
        _write(bad, header, bytes(b))
        return _rejected(bad)

    assert "out of range" in poke("syms.3", 255)  # a character id beyond the vocabulary
    assert "out of range" in poke("cnts.3", 0)  # a zero count
    assert "add up" in poke("nsym.3", 200)  # entries per context do not sum to the entries
    assert "sorted" in poke("keys.3", 255, index=3)  # keys no longer sorted (the first key's top byte)


def test_bad_config_refused():
    with pytest.raises(ValueError):
        build_memory(TEXT, VOCAB, MemoryConfig(orders=(1, 2), min_count=(2, 1)))
    with pytest.raises(ValueError):
        build_memory(TEXT, VOCAB, MemoryConfig(orders=(2, 1), min_count=(1, 1)))


def _with_mixer(mem):
    from charcomplete.memory import CorpusMemory
    from charcomplete.mixer import MixerStart

    rng = np.random.default_rng(0)
    start = MixerStart([rng.normal(size=(4, 3)), rng.normal(size=(2, 3))], np.array([0.6, 0.4]))
    return CorpusMemory(mem.cfg, mem.vocab, mem.unigram_counts, mem.tables, mem.corpus, mem.words, (start, {"text": "notes/"}))


def test_the_mixers_start_round_trips_and_bad_ones_are_refused(mem, tmp_path):
    good = tmp_path / "good.safetensors"
    _with_mixer(mem).save(good)
    back = load_memory(good)
    start, info = back.mixer
    want = _with_mixer(mem).mixer[0]
    for a, b in zip([*start.weights, start.second], [*want.weights, want.second]):
        np.testing.assert_allclose(a, b, rtol=1e-6)  # stored as float32
    assert info["text"] == "notes/" and start.weights[1].shape == (2, 3)
    mem.save(tmp_path / "none.safetensors")
    assert load_memory(tmp_path / "none.safetensors").mixer is None  # a memory without one: the mixer's init

    header, body = _header_and_body(good)
    bad = tmp_path / "bad.safetensors"

    def variant(change, data=body):
        h = json.loads(json.dumps(header))
        change(h)
        _write(bad, h, data)
        return _rejected(bad)

    assert "mixer" in variant(lambda h: h["__metadata__"].update(mixer=json.dumps({"key_sizes": [4, 3], "n_inputs": 3})))
    assert "mixer" in variant(lambda h: h["__metadata__"].update(mixer="[]"))
    assert "mixer" in variant(lambda h: h.pop("mixer.second"))
    variant(lambda h: h["__metadata__"].pop("mixer"))  # weights without their shapes: unexpected tensors
    lo = header["mixer.0"]["data_offsets"][0]
    nan = bytearray(body)
    nan[lo : lo + 4] = struct.pack("<f", float("nan"))
    assert "mixer weights" in variant(lambda h: None, bytes(nan))


def test_match_is_the_searchsorted_lookup_of_context_keys(mem):
    # match's inlined keys, bisected lookups and kept short-context lookups are the plain lookup, asked twice
    ids = VOCAB.encode(TEXT[:400] + "zqx the qu").tolist()
    for _ in range(2):
        for end in range(1, len(ids) + 1):
            tail = ids[max(0, end - mem.max_order) : end]
            want = []
            for j, key in enumerate(context_keys(tail, mem.orders)):
                keys = mem.tables[j].keys
                i = int(keys.searchsorted(np.uint32(key)))
                if i == len(keys) or keys[i] != key:
                    break
                want.append((j, i))
            assert mem.match(tail) == want
            p, _ = mem.predict(tail)
            assert abs(p.sum() - 1.0) < 1e-12
