"""The trainer: it learns, it resumes exactly, it stops cleanly on divergence, it is repeatable."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from charcomplete.checkpoint import load_checkpoint
from charcomplete.resume import resume_path_for
from charcomplete.corpus import load_corpus, steps_per_epoch
from charcomplete.models import ModelConfig, build_model
from charcomplete.trainer import TrainConfig, TrainingError, TrainingInterrupted, train

REPETITIVE = "abcabd the cat sat on the mat. " * 60

torch.set_num_threads(1)


@pytest.fixture
def rep_corpus(tmp_path):
    folder = tmp_path / "rep"
    folder.mkdir()
    (folder / "a.txt").write_text(REPETITIVE)
    return load_corpus([str(folder)], val_fraction=0.1)


def _cfg(corpus, steps: int, **kw) -> TrainConfig:
    """A CPU TrainConfig whose epoch budget is `steps` steps."""
    kw.setdefault("batch_size", 4)
    kw.setdefault("seq_len", 16)
    spe = steps_per_epoch(len(corpus.train), kw["batch_size"], kw["seq_len"])
    base = dict(epochs=steps / spe, lr=1e-2, eval_every=10_000, seed=0, device="cpu")
    base.update(kw)
    return TrainConfig(**base)


def _mcfg(kind="lstm"):
    return ModelConfig(kind=kind, embed=16, hidden=32, window=6)


@pytest.mark.parametrize("kind", ["lstm", "attention"])
def test_a_tiny_model_really_learns_a_repetitive_text(rep_corpus, tmp_path, kind):
    out = tmp_path / f"{kind}.safetensors"
    events = []
    res = train(_mcfg(kind), _cfg(rep_corpus, 120, eval_every=40), rep_corpus, out, callback=events.append)
    uniform = math.log2(len(rep_corpus.vocab))
    first = res.history[0]["val_bpc"]
    assert res.best_val_bpc < 0.4 * uniform, (res.best_val_bpc, uniform)
    assert res.best_val_bpc < first
    assert res.best_val_acc > 0.7
    assert res.steps == 120 and len(res.history) == 3
    assert out.exists()
    model, meta, vocab = load_checkpoint(out)
    assert meta.metrics["val_bpc"] == pytest.approx(res.best_val_bpc)
    assert meta.config["kind"] == kind and vocab == rep_corpus.vocab
    kinds = [e.kind for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and kinds.count("eval") == 3
    assert kinds.count("step") == 120
    assert events[-1].fraction == pytest.approx(1.0)


def _record_losses(losses):
    """A callback that records every step's training loss (eval_every=1 clears the running mean)."""

    def cb(p):
        if p.kind == "step":
            losses[p.step] = p.train_bpc

    return cb


@pytest.mark.parametrize("kind", ["lstm", "attention"])
def test_resume_after_interrupt_continues_exactly(rep_corpus, tmp_path, kind):
    steps, stop_at = 24, 11
    mcfg = dict(kind=kind, embed=16, hidden=32, window=6, dropout=0.1, layers=2)  # dropout: RNG must resume too

    full_losses = {}
    full = train(ModelConfig(**mcfg), _cfg(rep_corpus, steps, eval_every=1), rep_corpus, tmp_path / "full.safetensors",
                 callback=_record_losses(full_losses))

    out = tmp_path / "part.safetensors"
    part_losses = {}
    calls = {"n": 0}

    def should_stop():
        calls["n"] += 1
        return calls["n"] > stop_at

    with pytest.raises(TrainingInterrupted) as info:
        train(ModelConfig(**mcfg), _cfg(rep_corpus, steps, eval_every=1), rep_corpus, out,
              callback=_record_losses(part_losses), should_stop=should_stop)
    assert info.value.step == stop_at
    assert info.value.resume_path == resume_path_for(out) and info.value.resume_path.exists()
    assert str(info.value.resume_path) in str(info.value)

    # a fresh process would start from scratch: another seed's torch RNG must not matter
    torch.manual_seed(12345)
    resumed = train(ModelConfig(**mcfg), _cfg(rep_corpus, steps, eval_every=1), rep_corpus, out,
                    callback=_record_losses(part_losses), resume=info.value.resume_path)
    assert resumed.steps == full.steps == steps
    assert sorted(part_losses) == list(range(1, steps + 1))
    for s in range(1, steps + 1):
        assert part_losses[s] == pytest.approx(full_losses[s], abs=1e-5), s
    assert resumed.best_val_bpc == pytest.approx(full.best_val_bpc, abs=1e-5)
    assert [h["step"] for h in resumed.history] == [h["step"] for h in full.history]

    assert not info.value.resume_path.exists()  # the finished run's resume file is gone

    a, _, _ = load_checkpoint(tmp_path / "full.safetensors")
    b, _, _ = load_checkpoint(out)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.allclose(va, vb, atol=1e-5), ka


def test_resume_can_also_be_given_the_checkpoint_path(rep_corpus, tmp_path):
    out = tmp_path / "m.safetensors"
    with pytest.raises(TrainingInterrupted):
        train(_mcfg(), _cfg(rep_corpus, 10, eval_every=3), rep_corpus, out, should_stop=iter([False] * 5 + [True]).__next__)
    res = train(_mcfg(), _cfg(rep_corpus, 10, eval_every=3), rep_corpus, out, resume=out)
    assert res.steps == 10


def test_resume_with_a_different_corpus_or_model_is_refused(rep_corpus, tmp_path):
    out = tmp_path / "m.safetensors"
    with pytest.raises(TrainingInterrupted) as info:
        train(_mcfg(), _cfg(rep_corpus, 10), rep_corpus, out, should_stop=lambda: True)
    with pytest.raises(TrainingError, match="model settings differ"):
        train(ModelConfig(kind="lstm", embed=16, hidden=40), _cfg(rep_corpus, 10), rep_corpus, out, resume=info.value.resume_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / "x.txt").write_text("xyz 123 " * 100)
    oc = load_corpus([str(other)])
    with pytest.raises(TrainingError, match="different vocabulary"):
        train(_mcfg(), _cfg(oc, 10), oc, out, resume=info.value.resume_path)


def test_same_seed_same_run_other_seed_other_run(rep_corpus, tmp_path):
    def run(seed, name):
        losses = {}
        train(_mcfg("attention"), _cfg(rep_corpus, 8, eval_every=1, seed=seed), rep_corpus, tmp_path / name,
              callback=_record_losses(losses))
        return losses

    a, b, c = run(0, "a.safetensors"), run(0, "b.safetensors"), run(1, "c.safetensors")
    assert a == b
    assert a != c


def _poisoned_run(rep_corpus, out, poison_step, eval_every):
    """Train with the output bias turned to NaN right after step `poison_step` (the callback)."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind="lstm", vocab_size=len(rep_corpus.vocab), embed=16, hidden=32))

    def poison(p):
        if p.kind == "step" and p.step == poison_step:
            with torch.no_grad():
                model.fc.bias.fill_(float("nan"))

    with pytest.raises(TrainingError) as info:
        train(model.cfg, _cfg(rep_corpus, 40, eval_every=eval_every), rep_corpus, out, callback=poison, init_model=model)
    msg = str(info.value)
    assert "diverged" in msg and "lower --lr" in msg and "\n" not in msg
    return msg


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_last_good_checkpoint(rep_corpus, tmp_path):
    out = tmp_path / "m.safetensors"
    msg = _poisoned_run(rep_corpus, out, poison_step=12, eval_every=10)
    assert "step 12" in msg and f"kept at {out}" in msg
    saved, meta, _ = load_checkpoint(out)  # loads: load_checkpoint refuses NaN weights
    assert meta.metrics["steps"] == 10


@pytest.mark.parametrize("poison_step", [10, 20])
def test_nan_weights_at_a_validation_are_never_saved(rep_corpus, tmp_path, poison_step):
    # the weights turn NaN just before a validation: with no checkpoint yet (step 10) nothing
    # may be written; with one (step 20) it must stay the good one from step 10
    out = tmp_path / "m.safetensors"
    msg = _poisoned_run(rep_corpus, out, poison_step=poison_step, eval_every=10)
    if poison_step == 10:
        assert not out.exists() and "no checkpoint was written" in msg
    else:
        _, meta, _ = load_checkpoint(out)
        assert meta.metrics["steps"] == 10


def test_absurd_learning_rate_is_survived_or_stopped_cleanly(rep_corpus, tmp_path):
    out = tmp_path / "m.safetensors"
    try:
        train(_mcfg(), _cfg(rep_corpus, 30, lr=1e6, eval_every=5), rep_corpus, out)
    except TrainingError as e:
        assert "diverged" in str(e)
    if out.exists():
        load_checkpoint(out)  # refuses NaN weights, so this proves they are finite


def test_time_budget_stops_the_run(rep_corpus, tmp_path):
    cfg = TrainConfig(epochs=None, max_minutes=0.002, batch_size=4, seq_len=16, eval_every=10_000, device="cpu")
    res = train(_mcfg(), cfg, rep_corpus, tmp_path / "t.safetensors")
    assert res.steps >= 1 and res.seconds >= 0.12
    assert (tmp_path / "t.safetensors").exists()


def test_fine_tuning_keeps_the_vocabulary(rep_corpus, tmp_path):
    base = tmp_path / "base.safetensors"
    train(_mcfg(), _cfg(rep_corpus, 20), rep_corpus, base)
    model, _, vocab = load_checkpoint(base)
    model.train()
    new = tmp_path / "new"
    new.mkdir()
    (new / "n.txt").write_text("the cat sat on the hat! ZZZ " * 30)  # '!' and 'Z' and 'h' are new
    corpus = load_corpus([str(new)], vocab=vocab)
    assert corpus.vocab == vocab and (corpus.train == 0).any()
    res = train(model.cfg, _cfg(corpus, 15), corpus, tmp_path / "tuned.safetensors", init_model=model)
    tuned, meta, tuned_vocab = load_checkpoint(res.path)
    assert tuned_vocab == vocab
    assert meta.config == model.cfg.to_dict()


def test_fine_tuning_on_a_corpus_with_another_vocabulary_is_refused(rep_corpus, tmp_path):
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind="lstm", vocab_size=len(rep_corpus.vocab) + 3, embed=8, hidden=16))
    with pytest.raises(TrainingError, match="model's vocabulary"):
        train(model.cfg, _cfg(rep_corpus, 5), rep_corpus, tmp_path / "m.safetensors", init_model=model)
    assert model.cfg.vocab_size == len(rep_corpus.vocab) + 3  # the model's config is left alone


def test_the_output_folder_is_created_before_training(rep_corpus, tmp_path):
    out = tmp_path / "new" / "folder" / "m.safetensors"
    train(_mcfg(), _cfg(rep_corpus, 3), rep_corpus, out)
    assert out.exists()
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(TrainingError, match="cannot create"):
        train(_mcfg(), _cfg(rep_corpus, 3), rep_corpus, blocker / "m.safetensors")


def test_text_shorter_than_one_batch_is_a_clear_error(tmp_path):
    (tmp_path / "a.txt").write_text("tiny text " * 3)
    corpus = load_corpus([str(tmp_path)])
    with pytest.raises(TrainingError, match="shorter than one batch"):
        train(_mcfg(), TrainConfig(batch_size=64, device="cpu"), corpus, tmp_path / "x.safetensors")


@pytest.mark.parametrize(
    "bad", [dict(epochs=0), dict(epochs=-1), dict(epochs=float("inf")), dict(epochs=float("nan")), dict(max_minutes=0),
            dict(lr=0), dict(lr=float("nan")), dict(batch_size=0), dict(seq_len=0)]
)
def test_bad_train_config(bad):
    with pytest.raises(ValueError):
        TrainConfig(**bad).validate()


def test_validation_of_a_large_held_out_set_is_spread_over_all_of_it():
    from charcomplete.trainer import validation_sample

    val = np.arange(1000)
    assert validation_sample(val, 2000) is val  # small: all of it
    sample = validation_sample(val, 160, pieces=16)
    assert len(sample) == 160 and sample[0] == 0 and sample[-1] == 999  # from the first to the last folder's tail
    assert len(set(sample // 100)) == 10  # every tenth of it is represented


def _kl_from(teacher, student, ids) -> float:
    """Mean KL(teacher || student) in nats over the text `ids`."""
    x = torch.from_numpy(ids[None, :200].astype(np.int64))
    with torch.no_grad():
        t, _ = teacher.eval()(x, None)
        s, _ = student.eval()(x, None)
    return float((t.softmax(-1) * (t.log_softmax(-1) - s.log_softmax(-1))).sum(-1).mean())


def test_a_student_learns_its_teachers_predictions(rep_corpus, tmp_path):
    torch.manual_seed(1)
    teacher = build_model(ModelConfig(kind="attention", vocab_size=len(rep_corpus.vocab), embed=16, hidden=48, window=6))
    plain = train(_mcfg(), _cfg(rep_corpus, 60), rep_corpus, tmp_path / "plain.safetensors")
    taught = train(_mcfg(), _cfg(rep_corpus, 60), rep_corpus, tmp_path / "taught.safetensors", teacher=teacher, teacher_weight=1.0)
    kl_plain = _kl_from(teacher, load_checkpoint(plain.path)[0], rep_corpus.val)
    kl_taught = _kl_from(teacher, load_checkpoint(taught.path)[0], rep_corpus.val)
    assert kl_taught < 0.5 * kl_plain, (kl_taught, kl_plain)  # a random teacher: only distilling can match it
    other = build_model(ModelConfig(kind="lstm", vocab_size=len(rep_corpus.vocab) + 1, embed=8, hidden=16))
    with pytest.raises(TrainingError, match="teacher"):
        train(_mcfg(), _cfg(rep_corpus, 5), rep_corpus, tmp_path / "m.safetensors", teacher=other)
