"""`charcomplete eval`: how well models predict texts they did not train on."""

from __future__ import annotations

import json
import os

import click

from charcomplete.cli.options import device_option, json_safe, one_cpu_thread


@click.command("eval")
@click.argument("paths", nargs=-1, required=True)
@click.option("--model", "models", multiple=True, help="Model name or path; repeat to compare (default: the model `edit` picks for the files: prose, code or both).")
@click.option("--limit", type=click.IntRange(1), default=None, help="Evaluate at most N characters in all.")
@click.option("--reference", default=None, help="Text the keyword baseline knows words from (e.g. the training text).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@device_option("cpu")
@click.option("--no-adapt", is_flag=True, help="The network alone (default: each file a fresh document the model adapts to, as the editor does; your history is not used).")
def command(paths, models, limit, reference, as_json, device, no_adapt):
    """Evaluate models on texts they did not train on: bits per character (the network alone,
    and as the editor runs), top-1/top-3 accuracy, keystroke savings and precision (ghosts
    taken / shown) against the keyword baseline, suggestion latency.

    \b
    charcomplete eval notes.txt
    charcomplete eval --model attention --model my-notes --json --limit 20000 notes/
    """
    run_eval(list(models), list(paths), as_json, limit, device, reference, adapt=not no_adapt)


def read_eval_texts(paths: list[str], limit: int | None) -> list[tuple[str, str]]:
    """(path, text) of every file named (folders and globs expanded), at most `limit` chars in all.

    A file named on the command line that is not text is an error; one found in a folder or by a
    glob is skipped and counted on stderr, as `train` does with its corpus."""
    from charcomplete.corpus import CorpusError, CorpusFiles, expand_paths, read_document, read_text_file

    named = {os.path.realpath(p) for p in paths if os.path.isfile(p)}
    found = CorpusFiles(documents=[])
    out, total = [], 0
    for f in expand_paths(paths):
        if os.path.realpath(f) in named:
            try:
                text = read_text_file(f)
            except UnicodeDecodeError:
                raise CorpusError(f"{f}: not UTF-8 text") from None
            except ValueError:
                raise CorpusError(f"{f}: a binary file, not text") from None
            except OSError as e:
                raise CorpusError(f"{f}: cannot read ({e.strerror})") from None
        else:
            text = read_document(f, found) or ""
        if limit is not None:
            text = text[: max(0, limit - total)]
        if text:
            out.append((str(f), text))
            total += len(text)
        if limit is not None and total >= limit:
            break
    if not out:
        why = f" (skipped: {found.skipped()})" if found.skipped() else ""
        raise CorpusError(f"nothing to evaluate: no text in {', '.join(paths)}{why}")
    if all(len(t) < 2 for _, t in out):  # each character is predicted from those before it: a 1-character text scored 0 bits
        raise CorpusError(f"nothing to evaluate: {', '.join(paths)} hold{'s' if len(paths) == 1 else ''} one character "
                          f"per text; each character is predicted from those before it")
    if found.skipped():
        click.echo(f"skipped: {found.skipped()}", err=True)
    return out


def evaluate_model(completer, texts: list[tuple[str, str]], reference: str = "", latency_chars: int = 2000) -> dict:
    """All the numbers `eval` reports for one model over `texts`."""
    from charcomplete.evaluate import KeywordCompleter, WordIndex, completion_metrics, keystroke_savings, score_text, sequential_bpc

    scored = [score_text(completer.model, completer.vocab, t, device=completer.device) for _, t in texts]
    n = sum(s["chars"] for s in scored) or 1
    mean = lambda k: sum(s[k] * s["chars"] for s in scored if s["chars"]) / n  # noqa: E731
    running = [sequential_bpc(completer, t) for _, t in texts]
    editor_bpc = sum(r["bpc"] * r["chars"] for r in running) / (sum(r["chars"] for r in running) or 1)
    metrics = completion_metrics(completer, [t for _, t in texts], latency_chars)
    words = WordIndex(reference)
    base = [keystroke_savings(KeywordCompleter(words).suggest, t) for _, t in texts]
    chars = metrics["ksr_chars"] or 1
    return {
        "model": completer.name, "kind": completer.kind, "chars": chars,
        "bpc": mean("bpc"), "editor_bpc": editor_bpc, "adapting": completer.adapt is not None,
        "top1": mean("top1"), "top3": mean("top3"),
        "keyword_ksr": 1 - sum(b["keystrokes"] for b in base) / chars,
        **{k: metrics[k] for k in ("ksr", "precision", "accepted", "shown", "latency_p50_ms", "latency_p99_ms", "jump_p50_ms", "jump_p99_ms")},
    }


def run_eval(models: list[str], paths: list[str], as_json: bool, limit: int | None, device: str, reference: str | None,
             adapt: bool = True) -> None:
    from rich.console import Console
    from rich.table import Table

    from charcomplete.adapt import AdaptiveModel
    from charcomplete.completion import load_completer

    one_cpu_thread(torch_too=True)  # scoring a long text runs the torch network
    texts = read_eval_texts(paths, limit)
    if not models:  # what `edit` would open these files with (both models, each over every file, for a mix)
        from charcomplete.registry import model_for_file

        models = sorted({model_for_file(p) for p, _ in texts}, key=lambda m: m != "prose")
    ref_text = "".join(t for _, t in read_eval_texts([reference], None)) if reference else ""
    results = []
    for m in models:
        c = load_completer(m, device=device, adapt=AdaptiveModel() if adapt else False)  # the document only, no history
        results.append(evaluate_model(c, texts, ref_text))
    if as_json:
        click.echo(json.dumps(json_safe({"files": [p for p, _ in texts], "results": results}), indent=2))
        return
    table = Table(title=f"charcomplete eval: {len(texts)} file(s), {results[0]['chars']:,} characters")
    table.add_column("metric")
    for r in results:
        table.add_column(f"{r['model']} ({r['kind']})", justify="right")
    running = "as the editor runs" if adapt else "as the editor runs, --no-adapt"
    rows = [("bits per character (network)", "bpc", "{:.3f}"), (f"bits per character ({running})", "editor_bpc", "{:.3f}"), ("top-1 accuracy", "top1", "{:.3f}"), ("top-3 accuracy", "top3", "{:.3f}"),
            ("keystroke savings (KSR)", "ksr", "{:.3f}"), ("keyword baseline KSR", "keyword_ksr", "{:.3f}"),
            ("precision (accepted / shown)", "precision", "{:.3f}"), ("suggestions accepted / shown", None, None), ("latency typing p50 / p99 ms", "latency", None),
            ("latency after a jump p50 / p99 ms", "jump", None)]
    for label, key, fmt in rows:
        cells = []
        for r in results:
            if key is None:
                cells.append(f"{r['accepted']:,} / {r['shown']:,}")
            elif key == "latency":
                cells.append(f"{r['latency_p50_ms']:.2f} / {r['latency_p99_ms']:.2f}")
            elif key == "jump":
                cells.append(f"{r['jump_p50_ms']:.2f} / {r['jump_p99_ms']:.2f}")
            else:
                cells.append("-" if r[key] is None else fmt.format(r[key]))
        table.add_row(label, *cells)
    Console().print(table)
