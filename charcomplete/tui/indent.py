"""A file's own indentation: what Tab inserts when there is no ghost, and how a ghost's
leading whitespace is shown."""

from __future__ import annotations


def detect_indent(text: str, default: int = 4) -> tuple[str, int | None]:
    """The file's own indentation: ("tabs", None) when more indented lines start with a tab,
    else ("spaces", the most common step between indentation levels, `default` when none).

    Tab must indent as the file does: four spaces in a tab-indented Python file broke it (issue 15)."""
    tabs = spaces = 0
    steps: dict[int, int] = {}
    previous = 0
    for line in text.split("\n", 5000)[:5000]:  # the head of the file is enough
        body = line.lstrip(" \t")
        if not body:
            continue  # blank lines say nothing
        lead = line[: len(line) - len(body)]
        if lead.startswith("\t"):
            tabs += 1
            continue
        if "\t" in lead:
            continue
        if lead:
            spaces += 1
        step = len(lead) - previous
        if 2 <= step <= 8:
            steps[step] = steps.get(step, 0) + 1
        previous = len(lead)
    if tabs > spaces:
        return "tabs", None
    return "spaces", max(steps, key=lambda k: (steps[k], -k)) if steps else default
