"""The network's step and a jump's recompute: network.c against numpy, in one process.

Times `Stepper.step` (a character stepped from a kept state, as a suggestion grows its ghost) and
`Stepper.recompute` over the last N characters of a text (a jump), for the C step (the weights as
network.c reads them: int8 and a scale per column, the vectors they multiply rounded to int16;
the build it names: AVX2, AVX-512, NEON or plain C) and the numpy step of the same network,
alternating; medians over repeats. Also how far the C step's next-character probabilities are
from numpy's along the text. A plain C build (no vector instructions), which the editor leaves to
numpy, is timed with --plain-c too.

    python bench/network_step.py [--model prose] [--repeats 5] [--chars 160] [--plain-c]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one thread, as the editor's model thread

import numpy as np  # noqa: E402
from common import REPO, command_line  # noqa: E402

from charcomplete import native  # noqa: E402
from charcomplete.completion import load_completer  # noqa: E402
from charcomplete.stepper import Stepper, _NativeNet  # noqa: E402


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="prose")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--chars", type=int, default=160, help="characters a recompute reads")
    ap.add_argument("--plain-c", action="store_true", help="time a plain C build too (which the editor leaves to numpy)")
    args = ap.parse_args()
    c = load_completer(args.model)
    net = c._network.net
    steppers = {"C (network.c)": Stepper(net), "numpy": Stepper(net, native=False)}
    lib = native.library("network")
    if not steppers["C (network.c)"].native:
        if lib is None or not args.plain_c:
            raise SystemExit("network.c does not step here (no C compiler, a build without vector instructions "
                             "(--plain-c times it), or CHARCOMPLETE_NO_NATIVE)")
        steppers["C (network.c)"]._c = _NativeNet(steppers["C (network.c)"], lib)  # by hand, as the editor would not
    text = (REPO / "bench" / "data" / "modern-prose.txt").read_text(encoding="utf-8")
    ids = np.array([c.vocab._index.get(ch, 0) for ch in text], dtype=np.int64)
    times = {name: ([], []) for name in steppers}
    for _ in range(args.repeats):
        for name, s in steppers.items():
            st = s.recompute(ids[:200])
            t = time.perf_counter()
            for i in ids[200:2200]:  # 2,000 steps, each from the same kept state (a suggestion's branches)
                s.step(st, int(i))
            times[name][0].append((time.perf_counter() - t) / 2000 * 1e6)
            t = time.perf_counter()
            for k in range(20):
                s.recompute(ids[k * 50 : k * 50 + args.chars])
            times[name][1].append((time.perf_counter() - t) / 20 * 1e3)
    a, b = steppers["C (network.c)"].recompute(ids[:1]), steppers["numpy"].recompute(ids[:1])
    diffs, same = [], 0  # per step: the largest difference of a next-character probability; the same top character
    for i in ids[1:3000]:
        a, b = steppers["C (network.c)"].step(a, int(i)), steppers["numpy"].step(b, int(i))
        pa, pb = softmax(a.logits), softmax(b.logits)
        diffs.append(float(np.abs(pa - pb).max()))
        same += int(np.argmax(pa) == np.argmax(pb))
    build = f"int8 weights, int16 vectors; {lib.net_build().decode()}"
    print(f"`{command_line()}` (network {c.H} wide, {c.layers} layer(s); network.c: {build})\n")
    print(f"| step | a step, µs (median of {args.repeats}) | a recompute of {args.chars} characters, ms |\n|---|---|---|")
    for name, (step, rec) in times.items():
        print(f"| {name} | {statistics.median(step):.2f} | {statistics.median(rec):.3f} |")
    print(f"\nC against numpy over {len(diffs):,} characters stepped: the largest difference of a next-character "
          f"probability {max(diffs):.2e} (median over the steps {statistics.median(diffs):.2e}); the same likeliest "
          f"character at {same / len(diffs):.2%} of them")


if __name__ == "__main__":
    main()
