"""DistributedDataParallel on the CPU (gloo): 2 processes match 1 with the same global batch,
only rank 0 writes, an interrupted run resumes exactly (in 2 processes or in 1), a hung rank
ends the run with a clear message instead of a hang.

Tolerance: 1e-5 (absolute, on every weight) between a 2-process and a 1-process run of the
same global batch. The two compute the same gradient in exact arithmetic (DDP averages the
two half-batch mean gradients, which is the full-batch mean); they differ only in float32
summation order, about 1e-7 per step (measured: 6e-7 after 44 steps). A real difference,
such as a rank training on the wrong streams or a missing gradient average, moves weights by
the learning rate per step, ~1e-2: `test_..._match_one_process` checks that a run with half
the batch is that far off, so the tolerance separates right from wrong by 1000x.
One weight is left out: the attention's key bias. It cannot change any output (softmax
ignores a score shift shared by all keys), so its gradient is zero plus float noise, which
Adam scales up to steps of ~lr: it differs by ~1e-4 between any two summation orders.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from charcomplete.corpus import load_corpus, steps_per_epoch
from charcomplete.models import ModelConfig
from charcomplete.prepare import prepare_corpus
from charcomplete.trainer import TrainConfig, TrainingInterrupted, train

REPO = Path(__file__).resolve().parents[1]
TOL = 1e-5  # see the module docstring
TEXT = "the quick brown fox jumps over the lazy dog. a lazy dog sleeps while the fox runs.\n" * 60

torch.set_num_threads(1)


@pytest.fixture
def text_dir(tmp_path) -> Path:
    d = tmp_path / "text"
    d.mkdir()
    (d / "a.txt").write_text(TEXT)
    (d / "b.txt").write_text(TEXT.upper()[:2500])
    return d


def _cfg(corpus, steps: int, batch_size: int = 8) -> TrainConfig:
    spe = steps_per_epoch(len(corpus.train), batch_size, 16)
    return TrainConfig(epochs=steps / spe, batch_size=batch_size, seq_len=16, lr=1e-2, eval_every=10, seed=0, device="cpu")


def _mcfg(kind: str = "attention") -> ModelConfig:
    return ModelConfig(kind=kind, embed=8, hidden=16, layers=2, window=4)


def _max_diff(a: Path, b: Path) -> float:
    """Largest difference of any weight of two checkpoints but the key bias (see the module docstring)."""
    ta, tb = load_file(a), load_file(b)
    assert ta.keys() == tb.keys()
    return max((ta[k] - tb[k]).abs().max().item() for k in ta if k != "attn_linear.bias")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_under_torchrun_match_one_process(text_dir, tmp_path):
    data = tmp_path / "prepared"
    corpus = prepare_corpus([str(text_dir)], data)
    steps = 16
    out = tmp_path / "runs"
    out.mkdir()
    args = ["--model", "lstm", "--batch-size", "8", "--seq-len", "16", "--embed", "8", "--hidden", "16", "--layers", "2", "--window", "4", "--lr", "1e-2",
            "--eval-every", "10", "--device", "cpu", "--threads", "1", "--data", str(data),
            "--epochs", repr(steps / steps_per_epoch(len(corpus.train), 8, 16)), "--out", str(out / "ddp.safetensors")]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", str(_free_port()),
           "-m", "charcomplete", "train", *args]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("saved ") == 1  # rank 0 alone reports
    assert "2 processes, 4 streams each" in r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["ddp.memory.safetensors", "ddp.safetensors"]  # one checkpoint and its corpus memory, no resume file, no temp files

    one = train(_mcfg("lstm"), _cfg(corpus, steps), corpus, tmp_path / "one.safetensors")
    assert one.steps == steps
    assert _max_diff(out / "ddp.safetensors", tmp_path / "one.safetensors") < TOL
    half = train(_mcfg("lstm"), _cfg(corpus, steps, batch_size=4), corpus, tmp_path / "half.safetensors")
    assert half.steps > 0 and _max_diff(out / "ddp.safetensors", tmp_path / "half.safetensors") > 1000 * TOL


# --- in-process ranks (spawned): interrupt + resume, a dead rank ---------------------------


def _rank(rank: int, port: int, text_dir: str, out: str, steps: int, stop_at: int | None, fail_at: int | None,
          resume: bool, report: str, how: str = "dies") -> None:
    """One rank of a 2-process gloo run of train(); writes what happened to `report`.json.

    stop_at: rank 1 asks to stop at this call of should_stop; fail_at: rank 1 dies (or hangs) there.
    """
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank),
                      CHARCOMPLETE_DIST_TIMEOUT="5")
    torch.set_num_threads(1)
    from charcomplete import distributed

    dist, device = distributed.setup("cpu")
    calls = []

    def should_stop() -> bool:
        calls.append(1)
        if fail_at is not None and rank == 1 and len(calls) == fail_at:
            if how == "hangs":
                time.sleep(60)  # stops answering (the test kills it)
            os._exit(3)  # a rank that crashes mid-run
        return stop_at is not None and rank == 1 and len(calls) == stop_at  # only rank 1 is asked to stop

    corpus = load_corpus([text_dir])
    result = {"rank": rank}
    try:
        res = train(_mcfg(), _cfg(corpus, steps), corpus, out, should_stop=should_stop, resume=out if resume else None, dist=dist)
        result.update(outcome="done", steps=res.steps)
    except TrainingInterrupted as e:
        result.update(outcome="interrupted", step=e.step, path=str(e.resume_path))
    except Exception as e:
        failure = distributed.failure(dist, e)
        result.update(outcome="error", message=str(failure or e))
    finally:
        distributed.teardown(dist)
    Path(f"{report}.{rank}.json").write_text(json.dumps(result))


def _spawn(tmp_path, name: str, wait_for=(0, 1), timeout: float = 90, **kw) -> list[dict | None]:
    """Run `_rank` twice; wait for the ranks `wait_for` to end (kill the rest); their reports."""
    ctx = torch.multiprocessing.get_context("spawn")
    report = str(tmp_path / name)
    port = _free_port()
    procs = [ctx.Process(target=_rank, kwargs=dict(rank=r, port=port, report=report, **kw)) for r in (0, 1)]
    for p in procs:
        p.start()
    deadline = time.monotonic() + timeout
    for r in wait_for:
        procs[r].join(max(0.1, deadline - time.monotonic()))
    hung = [r for r in wait_for if procs[r].is_alive()]
    for p in procs:
        p.kill()
    assert not hung, f"rank(s) {hung} hung"
    return [json.loads(Path(f"{report}.{r}.json").read_text()) if Path(f"{report}.{r}.json").exists() else None for r in (0, 1)]


def test_interrupted_two_process_run_resumes_exactly(text_dir, tmp_path):
    corpus = load_corpus([str(text_dir)])
    steps, stop_at = 14, 6  # stop inside an epoch: the carried state (h, c and attention memory) must resume too
    assert steps_per_epoch(len(corpus.train), 8, 16) > stop_at
    full = train(_mcfg(), _cfg(corpus, steps), corpus, tmp_path / "full.safetensors")
    out = tmp_path / "ddp.safetensors"
    common = dict(text_dir=str(text_dir), out=str(out), steps=steps, fail_at=None)

    first = _spawn(tmp_path, "first", stop_at=stop_at, resume=False, **common)
    assert [r["outcome"] for r in first] == ["interrupted", "interrupted"]  # rank 1 asked; both stopped at the same step
    assert first[0]["step"] == first[1]["step"] == stop_at - 1
    shutil.copy(first[0]["path"], tmp_path / "one.resume.safetensors")

    second = _spawn(tmp_path, "second", stop_at=None, resume=True, **common)
    assert [r["outcome"] for r in second] == ["done", "done"] and second[0]["steps"] == full.steps == steps
    assert _max_diff(out, tmp_path / "full.safetensors") < TOL

    one = train(_mcfg(), _cfg(corpus, steps), corpus, tmp_path / "one.safetensors", resume=tmp_path / "one.resume.safetensors")
    assert one.steps == steps and _max_diff(tmp_path / "one.safetensors", tmp_path / "full.safetensors") < TOL  # 2 -> 1 process


def test_a_hung_rank_ends_the_run_with_a_clear_message(text_dir, tmp_path):
    # The process group's timeout is 5 s: rank 0 must give up well before the 60 s. (A rank
    # that dies outright is noticed sooner, "Connection reset by peer"; torchrun also ends
    # the others then.)
    reports = _spawn(tmp_path, "r", wait_for=(0,), timeout=60, text_dir=str(text_dir), out=str(tmp_path / "ddp.safetensors"),
                     steps=14, stop_at=None, fail_at=4, resume=False, how="hangs")
    assert reports[1] is None  # rank 1 hung without a word
    message = reports[0]["message"]
    assert message.startswith("rank 0: lost contact with the other processes (Timed out") and "\n" not in message
