"""Training at scale on this machine (issue 7): DDP throughput with 1 and 2 processes, and
the peak memory of `prepare` and `train --data` on a generated 1 GB corpus.

1. Throughput: ../shared/corpus/shakespeare (4.7 MB) prepared with --val-fraction 0.002
   (so the final validation, ~9k characters, costs nothing), the default attention model
   (embed 64, hidden 256, window 32), global batch 64 x 128, --seconds of training each:
   1 process x 1 thread, 1 process x 2 threads, and `torchrun --nproc-per-node 2` x 1
   thread each. chars/s is the trainer's own figure: characters of supervision over the
   training loop's time (process start-up excluded).
2. Memory: a corpus of --gb GB written in a temp dir (64 files; each is the Shakespeare text
   again and again from a different starting line), then `charcomplete prepare` of it and
   `charcomplete train --data` on it (1 process, 1 thread, --seconds); peak RSS of each
   from /usr/bin/time -v, and its wall time (with start-up and the final validation on
   262,144 characters). The 1 x 1 run of part 1 gives the same figure for the 4.7 MB corpus.
   The temp dir is deleted afterwards.

The machine has 2 cores: 2 processes can at best double 1 process x 1 thread, and they
compete with torch's own intra-op threads, so the 2-thread single process is the fair
baseline for the speed-up.

    python bench/scale.py [--gb 1] [--seconds 45]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, SHARED, command_line

MODEL = ["--model", "attention", "--batch-size", "64", "--seq-len", "128", "--device", "cpu", "--eval-every", "1000000"]


def timed(cmd: list[str], threads: int) -> tuple[str, float, float]:
    """(output, peak RSS in MB, wall seconds) of `cmd` under /usr/bin/time -v."""
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS=str(threads), COLUMNS="200")
    t0 = time.perf_counter()
    r = subprocess.run(["/usr/bin/time", "-v", *cmd], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-2000:]}")
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1))
    return r.stdout + r.stderr, rss_kb / 1024, wall


def train_rate(output: str) -> tuple[int, float]:
    """(steps, chars/s) from train's `saved ...` line."""
    m = re.search(r"saved .*?, (\d+) steps, [\d.]+s, ([\d,]+) chars/s", output)
    if not m:
        sys.exit(f"no 'saved' line in:\n{output[-2000:]}")
    return int(m.group(1)), float(m.group(2).replace(",", ""))


def make_corpus(folder: Path, gb: float, files: int = 64) -> int:
    """Write `gb` GB of text into `files` files; returns the bytes written."""
    text = "".join(p.read_text() for p in sorted((SHARED / "shakespeare").glob("*.md")))
    starts = [m.end() for m in re.finditer("\n", text)]
    per_file, total = int(gb * 1e9 / files), 0
    for i in range(files):
        s = starts[(i * 7919) % len(starts)]
        rotated = (text[s:] + text[:s]).encode()
        reps = per_file // len(rotated) + 1
        data = (rotated * reps)[:per_file]
        data = data[: data.rfind(b"\n") + 1]  # whole lines: never a cut UTF-8 character
        (folder / f"part-{i:03d}.txt").write_bytes(data)
        total += len(data)
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gb", type=float, default=1.0, help="size of the generated corpus")
    ap.add_argument("--seconds", type=float, default=45, help="training time of each run")
    args = ap.parse_args()
    py = sys.executable
    minutes = str(args.seconds / 60)
    load_before = os.getloadavg()[0]  # other work on the 2 cores skews every figure: say how much there was
    rows = []
    with tempfile.TemporaryDirectory(prefix="charcomplete-scale-") as tmp:
        tmp = Path(tmp)
        small = tmp / "shakespeare-prepared"
        timed([py, "-m", "charcomplete", "prepare", str(SHARED / "shakespeare"), "-o", str(small), "--val-fraction", "0.002"], 1)
        runs = [
            ("1 process x 1 thread", 1, [py, "-m", "charcomplete", "train", "--threads", "1"]),
            ("1 process x 2 threads", 2, [py, "-m", "charcomplete", "train", "--threads", "2"]),
            ("torchrun 2 processes x 1 thread", 1,
             [py, "-m", "torch.distributed.run", "--nproc-per-node", "2", "-m", "charcomplete", "train", "--threads", "1"]),
        ]
        speed = []
        for name, threads, cmd in runs:
            out, rss, wall = timed([*cmd, *MODEL, "--data", str(small), "--max-minutes", minutes, "--out", str(tmp / "m.safetensors"),
                                    "--force"], threads)
            steps, rate = train_rate(out)
            speed.append((name, steps, rate))
            if not rows:  # the 1 x 1 run: the memory of training on a small corpus, to compare with the 1 GB one
                rows.append((f"train --data, 4.7 MB corpus (1 thread, {args.seconds:.0f} s)", rss, wall, f"{steps} steps"))
            print(f"{name}: {steps} steps, {rate:,.0f} chars/s", file=sys.stderr)

        big, prepared = tmp / "big", tmp / "big-prepared"
        big.mkdir()
        t0 = time.perf_counter()
        size = make_corpus(big, args.gb)
        print(f"generated {size / 1e9:.2f} GB in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
        out, rss, wall = timed([py, "-m", "charcomplete", "prepare", str(big), "-o", str(prepared)], 1)
        rows.insert(0, (f"prepare, {size / 1e9:.2f} GB corpus (64 files)", rss, wall, ""))
        shutil.rmtree(big)
        out, rss, wall = timed([py, "-m", "charcomplete", "train", "--threads", "1", *MODEL, "--data", str(prepared),
                                "--max-minutes", minutes, "--out", str(tmp / "big.safetensors")], 1)
        steps, rate = train_rate(out)
        rows.append((f"train --data, {size / 1e9:.2f} GB corpus (1 thread, {args.seconds:.0f} s)", rss, wall, f"{steps} steps"))

    base = speed[0][2]
    print(f"Measured by `{command_line()}` (2 CPU cores, torch {torch_version()}; "
          f"1-minute load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after):\n")
    print("| run (global batch 64 x 128, attention) | steps | chars/s | vs 1 x 1 |")
    print("|---|---:|---:|---:|")
    for name, steps, rate in speed:
        print(f"| {name} | {steps} | {rate:,.0f} | {rate / base:.2f}x |")
    print("\n| command | peak RSS | wall time | |")
    print("|---|---:|---:|---|")
    for name, rss, wall, note in rows:
        print(f"| {name} | {rss:,.0f} MB | {wall:.0f} s | {note} |")


def torch_version() -> str:
    import torch

    return torch.__version__


if __name__ == "__main__":
    main()
