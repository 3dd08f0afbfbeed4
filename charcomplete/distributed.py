"""Training on several processes: PyTorch's DistributedDataParallel, started by torchrun.

    torchrun --nproc-per-node 4 -m charcomplete train --data data/ ...

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK in every process; `setup()` reads them and
joins the process group (gloo on the CPU, nccl on GPUs, one GPU per process). Without them
it returns the single-process `Dist()`, whose methods do nothing, so the trainer has one
code path. What the trainer asks of a run of N processes:

- rows(B): this rank's contiguous share of the B streams (the global batch is split);
- wrap(model): DDP, which averages the gradients, so N processes of B/N streams take the
  same steps as one process of B streams;
- agree(clock, stop): one small all-reduce per step, so every rank uses the same clock
  (time budget, learning rate) and stops at the same step (Ctrl+C on any rank);
- sum(values): validation's nll sums and counts added over the ranks;
- gather_state / share_state: the carried recurrent state of all streams, for the resume
  file (written by rank 0) and back, so a run resumes with any number of processes.

Every collective has the process group's timeout: a rank that dies or hangs ends the run
with a DistributedError naming the rank, not a hang.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as tdist

from charcomplete.errors import DistributedError, TrainingError

TIMEOUT_ENV = "CHARCOMPLETE_DIST_TIMEOUT"  # seconds a collective may wait for the other ranks
DEFAULT_TIMEOUT_S = 300.0
BACKEND_MARKS = ("gloo", "nccl", "NCCL", "ProcessGroup", "c10d")  # gloo raises plain RuntimeErrors that name it
STATE_BATCH_DIMS = (1, 1, 0)  # batch dim of each carried state tensor: h, c (layers, B, H); attention's memory (B, M, H)


@dataclass
class Dist:
    """This process's place in a run; the default is the single process (rank 0 of 1)."""

    rank: int = 0  # this process, 0..world-1 (RANK)
    world: int = 1  # processes in the run (WORLD_SIZE)
    local_rank: int = 0  # this process on its host (LOCAL_RANK): its GPU

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that prints and writes files."""
        return self.rank == 0

    def rows(self, n: int) -> slice:
        """This rank's contiguous share of `n` rows (equal shares when world divides n)."""
        return slice(self.rank * n // self.world, (self.rank + 1) * n // self.world)

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """The module to train: DDP over `model` (already on its device), or `model` itself."""
        if not self.active:
            return model
        from torch.nn.parallel import DistributedDataParallel

        on_gpu = next(model.parameters()).is_cuda
        return DistributedDataParallel(model, device_ids=[self.local_rank] if on_gpu else None)

    def agree(self, clock: float, stop: bool) -> tuple[float, bool]:
        """(latest clock, any rank asked to stop) over all ranks."""
        if not self.active:
            return clock, stop
        t = torch.tensor([clock, float(stop)], dtype=torch.float64, device=self._device())
        tdist.all_reduce(t, op=tdist.ReduceOp.MAX)
        return float(t[0]), bool(t[1] > 0)

    def sum(self, values: list[float]) -> list[float]:
        """Each of `values` added over all ranks (float64)."""
        if not self.active:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self._device())
        tdist.all_reduce(t, op=tdist.ReduceOp.SUM)
        return t.tolist()

    def barrier(self) -> None:
        if self.active:
            tdist.barrier()

    def gather_state(self, state):
        """The carried state of every rank's streams, in stream order (on every rank)."""
        if not self.active or state is None:
            return state
        full = []
        for s, dim in zip(state, STATE_BATCH_DIMS):
            parts = [torch.empty_like(s) for _ in range(self.world)]
            tdist.all_gather(parts, s.contiguous())
            full.append(torch.cat(parts, dim=dim))
        return tuple(full)

    def share_state(self, state, batch_size: int):
        """This rank's rows of a state that covers all `batch_size` streams."""
        if not self.active or state is None:
            return state
        rows = self.rows(batch_size)
        return tuple(s.narrow(dim, rows.start, rows.stop - rows.start) for s, dim in zip(state, STATE_BATCH_DIMS))

    def _device(self) -> str:
        return f"cuda:{self.local_rank}" if tdist.get_backend() == "nccl" else "cpu"


def setup(device: str) -> tuple[Dist, str]:
    """(Dist, this process's device): joins torchrun's process group when launched by it.

    `device` is a resolved device name; under torchrun "cuda" becomes "cuda:LOCAL_RANK".
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(), device
    if device == "mps":
        raise TrainingError("distributed training runs on CPUs (gloo) or CUDA GPUs (nccl), not on mps")
    dist = Dist(rank=int(os.environ["RANK"]), world=world, local_rank=int(os.environ.get("LOCAL_RANK", "0")))
    timeout = timedelta(seconds=float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S)))
    if device.startswith("cuda"):
        device = f"cuda:{dist.local_rank}"
        torch.cuda.set_device(device)
    try:
        tdist.init_process_group("nccl" if device.startswith("cuda") else "gloo", timeout=timeout)
    except (tdist.DistError, RuntimeError, ValueError) as e:
        raise DistributedError(f"rank {dist.rank}: cannot join the process group ({_first_line(e)})") from None
    return dist, device


def teardown(dist: Dist) -> None:
    if dist.active and tdist.is_initialized():
        tdist.destroy_process_group()


def failure(dist: Dist, e: BaseException) -> DistributedError | None:
    """A one-line DistributedError for a backend error (lost rank, timeout), else None."""
    backend = isinstance(e, tdist.DistError) or (isinstance(e, RuntimeError) and any(m in str(e) for m in BACKEND_MARKS))
    if not dist.active or not backend:
        return None
    return DistributedError(
        f"rank {dist.rank}: lost contact with the other processes ({_first_line(e)}); "
        "another rank failed or hung: see its message above"
    )


def _first_line(e: BaseException) -> str:
    """The first line of an error, without gloo's "[file.cc:553] " prefix."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    line = re.sub(r"^\[[^\]]*\]\s*", "", lines[0]) if lines else type(e).__name__
    return line.split(". ")[0][:200]
