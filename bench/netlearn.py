"""The whole network learning the document (netadapt.NetworkLearner): its learning rate.

Bits per character as the editor runs (adapting, a fresh document per text, a lesson every 16
typed characters as the editor gives one in a pause) and KSR / precision, for each rate, on
tuning text no bench/quality.py table reports on: the first 3,000 (bpc: 4,000) characters of
the READMEs of networkx, pillow and plotext (site-packages/*.dist-info/METADATA, as quality.py
reads them), 1,500 characters from a third into 4 held-out tails each of the plays and the
Python docs (bench/tuning.py's sets) and the 40 lines of bench/data/tuning-sentences.txt, each a
fresh document; with --code, 3,000 characters of 4 modules of pathspec, platformdirs, dateutil
and tomlkit (in no corpus). Rate 0 is the network as it ships.

--lesson-time: the time of a lesson (`Completer.learn_network`, the Stepper rebuilt after it
included) reading rich's README (Completer.read), going on from the state the last lesson
ended in (as it ships) against one whose state 64 warm-up characters set (as before 2026-12-04),
the two interleaved lesson by lesson in one process.

    python bench/netlearn.py [--model prose] [--rates 0,0.03] [--code]
    python bench/netlearn.py --lesson-time [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from common import REPO, command_line, one_thread
from quality import SITE, readme_text
from tuning import middles

from charcomplete.adapt import AdaptiveModel
from charcomplete.completion import load_completer
from charcomplete.evaluate import completion_metrics, sequential_bpc


def texts(code: bool) -> dict[str, list[str]]:
    if code:
        files = {"pathspec": "pathspec/pathspec.py", "platformdirs": "platformdirs/unix.py", "dateutil": "dateutil/rrule.py",
                 "tomlkit": "tomlkit/items.py"}
        return {name: [(SITE / f).read_text(encoding="utf-8")[:3000]] for name, f in files.items()}
    sets = {pkg: [readme_text(next(SITE.glob(f"{pkg}-*.dist-info/METADATA")))[:4000]] for pkg in ("networkx", "pillow", "plotext")}
    sets["plays"] = middles("shakespeare")
    sets["Python docs"] = middles("python-docs")
    lines = (REPO / "bench/data/tuning-sentences.txt").read_text(encoding="utf-8").splitlines()
    sets["everyday sentences"] = [x.strip() for x in lines if x.strip()]
    return sets


def lesson_times(model: str, text: str) -> dict[str, list[float]]:
    """Seconds per reading lesson of `text`: state carried on, and set by warm-up characters."""
    carried, warmed = (load_completer(model, adapt=AdaptiveModel()) for _ in range(2))
    times = {"carried on": [], "64 warm-up characters": []}
    for c in (carried, warmed):
        c.read(text)
    while carried.network_reading:
        for c, ts in ((carried, times["carried on"]), (warmed, times["64 warm-up characters"])):
            if c is warmed:
                c._read_state = None  # the lesson sets its state from warm-up characters, as before
            t = time.perf_counter()
            c.learn_network()
            ts.append(time.perf_counter() - t)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--rates", default="0,0.03")
    ap.add_argument("--code", action="store_true")
    ap.add_argument("--lesson-time", action="store_true", help="time a reading lesson, state carried on vs warm-up")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    one_thread()
    model = args.model or ("code" if args.code else "prose")
    if args.lesson_time:
        text = readme_text(next(SITE.glob("rich-*.dist-info/METADATA")))[:16384]
        print(f"`{command_line()}`: ms per lesson, p50 / p90, {len(text)} characters read\n")
        for r in range(args.repeats):
            times = lesson_times(model, text)
            p50 = {k: float(np.median(v)) * 1e3 for k, v in times.items()}
            print(f"repeat {r + 1}: " + ", ".join(f"{k} {p50[k]:.2f} / {np.percentile(v, 90) * 1e3:.2f}" for k, v in times.items())
                  + f"; ratio of p50s {p50['carried on'] / p50['64 warm-up characters']:.2f}", flush=True)
        return
    sets = texts(args.code)
    print(f"`{command_line()}`\n")
    print("| rate | " + " | ".join(sets) + " |")
    print("|---" * (len(sets) + 1) + "|")
    for rate in (float(r) for r in args.rates.split(",")):
        c = load_completer(model, adapt=AdaptiveModel())
        if rate == 0:
            c.net_learn = None
        else:
            c.net_learn.learn_cfg.lr = rate
        cells = []
        for ts in sets.values():
            bpc = sum(sequential_bpc(c, t)["bpc"] * len(t) for t in ts) / sum(len(t) for t in ts)
            m = completion_metrics(c, [t[:3000] for t in ts], latency_chars=0)
            cells.append(f"{bpc:.4f} / {m['ksr']:.3f} / {m['precision']:.3f}")
        print(f"| {rate:g} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
