"""`charcomplete eval` and `charcomplete complete`: the Completer from the command line."""

from __future__ import annotations

import json
import sys

import click


def read_eval_texts(paths: list[str], limit: int | None) -> list[tuple[str, str]]:
    """(path, text) of every file named (folders and globs expanded), at most `limit` chars in all."""
    from charcomplete.corpus import CorpusError, expand_paths, read_text_file

    out, total = [], 0
    for f in expand_paths(paths):
        try:
            text = read_text_file(f)
        except UnicodeDecodeError:
            raise CorpusError(f"{f}: not UTF-8 text") from None
        except ValueError:
            raise CorpusError(f"{f}: a binary file, not text") from None
        except OSError as e:
            raise CorpusError(f"{f}: cannot read ({e.strerror})") from None
        if limit is not None:
            text = text[: max(0, limit - total)]
        if text:
            out.append((str(f), text))
            total += len(text)
        if limit is not None and total >= limit:
            break
    if not out:
        raise CorpusError("nothing to evaluate: the files are empty")
    return out


def evaluate_model(completer, texts: list[tuple[str, str]], reference: str = "", latency_chars: int = 2000) -> dict:
    """All the numbers `eval` reports for one model over `texts`."""
    from charcomplete.evaluate import KeywordCompleter, WordIndex, completer_ksr, keystroke_savings, measure_latency, score_text

    scored = [score_text(completer.model, completer.vocab, t, device=completer.device) for _, t in texts]
    n = sum(s["chars"] for s in scored) or 1
    mean = lambda k: sum(s[k] * s["chars"] for s in scored if s["chars"]) / n  # noqa: E731
    ksr = [completer_ksr(completer, t) for _, t in texts]
    words = WordIndex(reference)
    base = [keystroke_savings(KeywordCompleter(words).suggest, t) for _, t in texts]
    chars = sum(k["chars"] for k in ksr) or 1
    lat = measure_latency(completer, "".join(t for _, t in texts)[:latency_chars])
    return {
        "model": completer.name, "kind": completer.kind, "chars": chars,
        "bpc": mean("bpc"), "top1": mean("top1"), "top3": mean("top3"),
        "ksr": 1 - sum(k["keystrokes"] for k in ksr) / chars,
        "keyword_ksr": 1 - sum(b["keystrokes"] for b in base) / chars,
        "accepted": sum(k["accepted"] for k in ksr), "shown": sum(k["shown"] for k in ksr),
        "latency_p50_ms": lat.typing_p50_ms, "latency_p99_ms": lat.typing_p99_ms,
        "jump_p50_ms": lat.jump_p50_ms, "jump_p99_ms": lat.jump_p99_ms,
    }


def one_cpu_thread() -> None:
    """Suggestions are tiny sequential computations: one thread is fastest and steadiest."""
    import torch

    torch.set_num_threads(1)


def run_eval(models: list[str], paths: list[str], as_json: bool, limit: int | None, device: str, reference: str | None) -> None:
    from rich.console import Console
    from rich.table import Table

    from charcomplete.completion import load_completer

    one_cpu_thread()
    texts = read_eval_texts(paths, limit)
    ref_text = "".join(t for _, t in read_eval_texts([reference], None)) if reference else ""
    results = []
    for m in models:
        c = load_completer(m, device=device)
        results.append(evaluate_model(c, texts, ref_text))
    if as_json:
        click.echo(json.dumps({"files": [p for p, _ in texts], "results": results}, indent=2))
        return
    table = Table(title=f"charcomplete eval: {len(texts)} file(s), {results[0]['chars']:,} characters")
    table.add_column("metric")
    for r in results:
        table.add_column(f"{r['model']} ({r['kind']})", justify="right")
    rows = [("bits per character", "bpc", "{:.3f}"), ("top-1 accuracy", "top1", "{:.3f}"), ("top-3 accuracy", "top3", "{:.3f}"),
            ("keystroke savings (KSR)", "ksr", "{:.3f}"), ("keyword baseline KSR", "keyword_ksr", "{:.3f}"),
            ("suggestions accepted / shown", None, None), ("latency typing p50 / p99 ms", "latency", None),
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
                cells.append(fmt.format(r[key]))
        table.add_row(label, *cells)
    Console().print(table)


def run_complete(model: str | None, text: str | None, max_chars: int | None, k: int, as_json: bool, device: str) -> None:
    from charcomplete.completion import load_completer

    if text is None or text == "-":
        text = sys.stdin.read()
    one_cpu_thread()
    c = load_completer(model, device=device)
    if as_json:
        alts = c.alternatives(text, k=k, max_chars=max_chars) if k > 1 else [c.suggest(text, max_chars=max_chars)]
        click.echo(json.dumps({
            "model": c.name, "kind": c.kind,
            "suggestions": [{"text": s.text, "confidence": s.confidence, "char_probs": s.char_probs,
                             "attention": s.attention, "attention_text": s.attention_text} for s in alts],
        }, ensure_ascii=False))
    elif k > 1:
        for s in c.alternatives(text, k=k, max_chars=max_chars):
            click.echo(f"{s.confidence:.3f}\t{s.text}")
    else:
        click.echo(c.suggest(text, max_chars=max_chars).text)
