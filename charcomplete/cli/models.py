"""`charcomplete models`: the shipped models and the user's own, one line each."""

from __future__ import annotations

import click

from charcomplete.cli.options import printable


@click.command("models")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def command(as_json):
    """List the shipped and your own trained models."""
    import json

    from charcomplete.checkpoint import CheckpointMeta, read_safetensors
    from charcomplete.errors import CheckpointError
    from charcomplete.memory_pack import is_packed, memory_file
    from charcomplete.registry import list_checkpoints, shipped_hidden_by

    rows = []
    for e in list_checkpoints():
        row = {"name": e.name, "source": e.source, "path": str(e.path), "kind": "?", "val_bpc": None, "parameters": None, "error": None,
               "about": e.about}  # what a shipped model is for
        memory = memory_file(e.path)  # the corpus memory beside it (packed or not), on disk
        row["memory_mb"] = round(memory.stat().st_size / 1e6, 1) if memory is not None else None
        row["memory_packed"] = memory is not None and is_packed(memory)
        hidden = shipped_hidden_by(e.path) if e.source == "user" else None
        row["hides_shipped"] = str(hidden) if hidden is not None else None  # the shipped model of this name, out of reach
        try:
            _, md = read_safetensors(e.path, numpy=True)  # checked whole, without importing torch
            meta = CheckpointMeta.from_metadata(md, str(e.path))
            row.update(kind=meta.config.get("kind", "?"), val_bpc=meta.metrics.get("val_bpc"), parameters=meta.metrics.get("parameters"),
                       corpus=meta.corpus.get("paths", ""), created=meta.created)
        except CheckpointError as err:
            row["error"] = str(err)
        rows.append(row)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    if not rows:
        console.print("No models yet: train one with `charcomplete train --corpus PATH`.")
        return
    columns = ["name", "kind", "source", "val bpc", "params", "memory", "for", "trained on", "path"]
    cells = [[r["name"], "unreadable" if r["error"] else r["kind"], r["source"],
              f"{r['val_bpc']:.3f}" if isinstance(r["val_bpc"], (int, float)) else "-",
              f"{r['parameters']:,}" if isinstance(r["parameters"], int) else "-",
              f"{r['memory_mb']:.1f} MB" if r["memory_mb"] is not None else "-", r["about"] or "-",
              str(r.get("corpus", ""))[:40], r["path"]] for r in rows]
    cells = [[printable(x) for x in c] for c in cells]  # a name given by hand may hold an escape code
    for optional in ("trained on", "path", "for"):  # one line per model: drop these before cutting a name
        widths = [max(len(c[i]) for c in [columns, *cells]) + 3 for i in range(len(columns))]
        if sum(widths) + 1 <= console.width:
            break
        i = columns.index(optional)
        del columns[i]
        for c in cells:
            del c[i]
    table = Table(title="charcomplete models", caption=None if "path" in columns else "paths: charcomplete models --json")
    for i, col in enumerate(columns):  # a name is never cut: the other columns give way
        table.add_column(col, no_wrap=True, min_width=max(len(c[i]) for c in cells) if col == "name" else None)
    for c, r in zip(cells, rows):
        table.add_row(*map(Text, c), style="red" if r["error"] else None)  # Text: a name is never Rich markup
    console.print(table)
    for r in rows:
        if r["hides_shipped"]:
            console.print(printable(f"Your {r['name']} hides the shipped {r['name']}: remove {r['path']} to use the shipped one again."),
                          markup=False, highlight=False, soft_wrap=True)
