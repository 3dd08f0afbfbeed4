"""`charcomplete memory MODEL --corpus PATH`: build the corpus memory of an existing model."""

from __future__ import annotations

import time

import click

from charcomplete.cli.options import VAL_FRACTION, fail


@click.command("memory")
@click.argument("model")
@click.option("--corpus", "corpus", multiple=True, help="The text the model was trained on: a file, a folder or a glob; repeatable.")
@click.option("--data", "data", default=None, metavar="DIR", help="A corpus made by `charcomplete prepare` instead of --corpus.")
@click.option("--val-fraction", type=VAL_FRACTION, default=0.05, show_default=True, help="Held-out tail of every file (left out of the memory).")
@click.option("--out", default=None, type=click.Path(dir_okay=False), help="Write beside this checkpoint path instead of MODEL's.")
@click.option("--mixer-text", "mixer_text", multiple=True, metavar="PATH",
              help="Learn the mixer's starting weights on this text (repeatable; text MODEL never trained on) instead of the "
                   "held-out tails; without --corpus or --data only those weights are relearned.")
@click.option("--min-count", "min_count", default=None, metavar="N,N,...",
              help="Per context order (1, 2, 3, 4, 6, 8, 12, 20): keep a context seen at least this often (never falling; "
                   "default 1,1,2,2,3,4,4,4). Higher: a smaller memory.")
@click.option("--pack", is_flag=True,
              help="Then pack the memory (NAME.memory.packed, about half the size; unpacked into the cache on first use) "
                   "in place of NAME.memory.safetensors; alone, pack the memory MODEL has.")
def command(model, corpus, data, val_fraction, out, mixer_text, min_count, pack):
    """Build the corpus memory of MODEL (a name or a .safetensors path): n-gram tables of its
    training text and a table of its partial words, mixed with the network as you type, and the
    mixer's starting weights, learned on held-out text. Written beside the model as
    NAME.memory.safetensors (`train` builds it itself unless --no-memory).

    \b
    charcomplete memory my-notes --corpus notes/
    charcomplete memory my-notes --mixer-text more-notes/   # only relearn the starting weights
    charcomplete memory my-notes --pack                      # about half the size on disk
    """
    from charcomplete.jobs import build_memory_for

    if corpus and data:
        raise fail("give the training text once: --corpus PATH (repeatable) or --data DIR")
    if not (corpus or data or mixer_text or pack):
        raise fail("give the training text: --corpus PATH (repeatable) or --data DIR (or --mixer-text PATH to relearn "
                   "only the mixer's starting weights, or --pack to pack the memory it has)")
    cfg = None
    if min_count is not None:
        from charcomplete.memory import MemoryConfig

        if not (corpus or data):
            raise fail("--min-count shapes the tables: give the training text too (--corpus PATH or --data DIR)")
        try:
            cfg = MemoryConfig(min_count=tuple(int(x) for x in min_count.split(",")))
        except ValueError:
            raise fail(f"--min-count {min_count}: give one whole number per order, e.g. 1,1,2,2,3,5,5,5") from None
        try:
            cfg.validate()
        except ValueError as e:
            raise fail(f"--min-count {min_count}: {e}") from None
    t0 = time.perf_counter()
    if corpus or data or mixer_text:
        path = build_memory_for(model, list(corpus), data, val_fraction, out, list(mixer_text) or None, cfg)
        click.echo(f"saved {path}  ({path.stat().st_size / 1e6:.1f} MB, {time.perf_counter() - t0:.1f}s)")
    if pack:
        from charcomplete.jobs import pack_memory_for

        path, size = pack_memory_for(model, out)
        click.echo(f"packed {path}  ({path.stat().st_size / 1e6:.1f} MB from {size / 1e6:.1f} MB)")
