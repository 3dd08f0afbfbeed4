"""`charcomplete complete TEXT`: the suggestion for a text, from the command line."""

from __future__ import annotations

import json
import re
import sys

import click

from charcomplete.cli.options import device_option, fail, one_cpu_thread, printable


@click.command("complete")
@click.argument("text", required=False)
@click.option("--model", default=None, help="Model name or checkpoint path (default: the prose model).")
@click.option("--max-chars", type=click.IntRange(1, 1000), default=None, help="Longest suggestion (default: the policy's).")
@click.option("-k", "--alternatives", "k", type=click.IntRange(1, 20), default=1, help="Show up to K alternatives with their confidence.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (text, confidence, per-char probabilities, attention).")
@device_option("cpu")
@click.option("--no-adapt", is_flag=True, help="The model alone: do not adapt to TEXT and your history (see `charcomplete forget`).")
def command(text, model, max_chars, k, as_json, device, no_adapt):
    """Print the suggestion for TEXT (or stdin when TEXT is - or missing).

    \b
    charcomplete complete "To be, or not to b"
    echo -n "def main(" | charcomplete complete --json -
    """
    one_cpu_thread()  # before numpy loads
    from charcomplete.completion import load_completer
    from charcomplete.registry import model_for_file

    if text is None and stdin_is_terminal():  # nothing piped in: waiting for Ctrl+D would look like a hang
        raise fail('give the text to complete: charcomplete complete "To be, or not to b" (or pipe it in: ... | charcomplete complete -)')
    if text is None or text == "-":
        text = read_stdin()
    c = load_completer(model or model_for_file("text"), device=device, adapt=not no_adapt, save_history=False)  # reads your history, never writes it
    c.observe(text)
    if as_json:
        alts = c.alternatives(text, k=k, max_chars=max_chars) if k > 1 else [c.suggest(text, max_chars=max_chars)]
        out = json.dumps({
            "model": c.name, "kind": c.kind,
            "suggestions": [{"text": s.text, "confidence": s.confidence, "char_probs": s.char_probs,
                             "attention": s.attention, "attention_text": s.attention_text} for s in alts],
        }, ensure_ascii=False)
        click.echo(re.sub("[\x7f-\x9f]", lambda m: f"\\u{ord(m.group()):04x}", out))  # JSON escapes C0; C1 too, for a terminal
    elif k > 1:  # one alternative a line: its backslashes, line breaks, tabs and other control characters escaped
        for s in c.alternatives(text, k=k, max_chars=max_chars):
            click.echo(f"{s.confidence:.3f}\t{printable(s.text.replace(chr(92), chr(92) * 2))}")
    else:  # a model trained on text holding escape codes may suggest them: written as escapes, never sent to the terminal
        click.echo(printable(c.suggest(text, max_chars=max_chars).text, keep="\n\t"))


def stdin_is_terminal() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def read_stdin() -> str:
    """Standard input as UTF-8 text (a byte order mark dropped): what the terminal's locale would
    make of it does not matter, and bytes that are not UTF-8 are a one-line error, not a traceback."""
    data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode("utf-8", "surrogateescape")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise fail(f"standard input is not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start})") from None
