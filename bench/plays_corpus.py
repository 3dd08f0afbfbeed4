"""Write ../shared/unseen-plays: five plays that no shipped model, memory or peer has read, for
issue 12 (a) on long plays (bench/context.py --set plays): names and phrases defined early in a play,
typed again near its end, that only the document itself can teach.

    python bench/plays_corpus.py MIRROR [OUT]

MIRROR holds a git snapshot of each repository in PLAYS (github.com/standardebooks/NAME) as
MIRROR/standardebooks+NAME/repo, the layout the project's `fetch` tool writes (/work/.mirror); OUT
defaults to ../shared/unseen-plays — beside the corpus, not in it, so that no training reads
it. Each play becomes OUT/NAME.md in the layout of ../shared/corpus/shakespeare: a `#` title,
`## ACT I`, `### SCENE I.` and the scene's setting, stage directions in `_..._`, each speech its
speaker in bold capitals and its lines ending in two spaces; typographic quotes and dashes as
people type them (as bench/novels_corpus.py). Front and back matter (title pages, colophon,
imprint, license page, dramatis personae, endnotes) left out.

Two Jacobean plays (Webster, Jonson), one Elizabethan (Marlowe) and two comedies of 1895 (Wilde).
License: the texts are in the public domain in the United States; Standard Ebooks dedicates its
editions to the public domain (CC0 1.0), as each repository's LICENSE.md says. Neither the
corpus folders nor the generated ones (novels, gov-blogs, sentences, readmes) hold these plays;
the script reports how many of each play's lines of 40 characters or more Common Voice's
sentences hold (bench/sentences_corpus.py's source), when that snapshot is in MIRROR too.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from common import UNSEEN_PLAYS, git, snapshots
from novels_corpus import FRONT_AND_BACK, TYPED, git_show
from sentences_corpus import LEFT_OUT as CV_LEFT_OUT

PLAYS = [
    "john-webster_the-duchess-of-malfi",
    "ben-jonson_the-alchemist",
    "christopher-marlowe_the-tragical-history-of-doctor-faustus",
    "oscar-wilde_the-importance-of-being-earnest",
    "oscar-wilde_an-ideal-husband",
]
LEFT_OUT = FRONT_AND_BACK | {"dramatis-personae", "the-scenes-of-the-play", "preface", "introduction", "prologue", "argument"}
ROMAN = r"[IVXLC]+"


def plain(x: str) -> str:
    """An XHTML fragment as typed text: tags dropped (a line break kept), entities and typography undone."""
    t = html.unescape(re.sub(r"<[^>]+>", "", re.sub(r"<br\s*/?>", "\n", x)))
    for a, b in TYPED.items():
        t = t.replace(a, b)
    return "\n".join(re.sub(r"[ \t]+", " ", line).strip() for line in t.splitlines() if line.strip())


def heading(x: str) -> str:
    """An <h2>/<h3>'s text: "Act I", "Scene II" (label and ordinal spans), or its title."""
    return re.sub(r"\s+", " ", plain(x).replace("\n", " ")).strip()


def speech(td: str) -> list[str]:
    """A speech cell's lines: verse as one line per <span> (the <br/> between them), prose as one
    line per paragraph; stage directions inside it in _..._."""
    td = re.sub(r'<i epub:type="z3998:stage-direction">(.*?)</i>', lambda m: f"_{plain(m.group(1))}_", td, flags=re.S)
    paras = re.findall(r"<p\b[^>]*>(.*?)</p>", td, re.S) or [td]
    lines = []
    for p in paras:
        spans = re.findall(r"<span\b[^>]*>(.*?)</span>", p, re.S)
        lines += [plain(s) for s in spans] if spans and "<br" in p else [plain(p).replace("\n", " ")]
    return [line for line in lines if line]


def section_text(x: str) -> list[str]:
    """The blocks of one act or scene file, in order: headings, settings, stage directions, speeches."""
    out = []
    for part in re.split(r"(<table\b.*?</table>)", x, flags=re.S):
        if part.startswith("<table"):
            for row in re.findall(r"<tr>(.*?)</tr>", part, re.S):
                cells = [m.group(2) or "" for m in re.finditer(r"<td\b[^>]*?(/>|>(.*?)</td>)", row, re.S)]
                if len(cells) < 2:
                    continue
                who = plain(cells[0]).replace("\n", " ").upper()
                if who:
                    lines = speech(cells[1])
                    if lines:
                        out.append(f"**{who}**  \n" + "  \n".join(lines))
                else:
                    direction = plain(cells[1]).replace("\n", " ")
                    if direction:
                        out.append(f"_{direction}_")
            continue
        for m in re.finditer(r"<(h2|h3|p)\b[^>]*>(.*?)</\1>", part, re.S):
            tag, inner = m.group(1), m.group(2)
            if tag == "p":
                t = plain(inner).replace("\n", " ")
                if t:
                    out.append(t)
            else:
                h = heading(inner)
                out.append(("## " if tag == "h2" else "### ") + (h.upper() if re.fullmatch(rf"(Act|Scene) {ROMAN}", h, re.I) else h))
    return out


def play_text(repo: Path) -> str:
    opf = git_show(repo, "src/epub/content.opf")
    title = heading(re.search(r"<dc:title\b[^>]*>(.*?)</dc:title>", opf, re.S).group(1))
    files = {item_id: href for href, item_id in re.findall(r'<item href="text/([^"]+)" id="([^"]+)"', opf)}
    blocks = [f"# {title}"]
    for item_id in re.findall(r'<itemref idref="([^"]+)"', opf):
        href = files.get(item_id)
        if href is None or Path(href).stem in LEFT_OUT:
            continue
        x = re.sub(r'<a [^>]*epub:type="noteref"[^>]*>.*?</a>', "", git_show(repo, f"src/epub/text/{href}"))
        blocks += section_text(x)
    # a scene heading takes the setting after it, as in the Shakespeare folder ("### SCENE I. Venice. A street.")
    out = []
    for b in blocks:
        if out and out[-1].startswith("### ") and not b.startswith(("#", "_", "**")) and len(out[-1]) < 20:
            out[-1] = f"{out[-1]}. {b}"
        else:
            out.append(b if b.startswith(("#", "_", "**")) else f"_{b}_")
    return "\n\n".join(out) + "\n"


def common_voice_lines(mirror: Path) -> set[str] | None:
    repo = mirror / "mozilla+voice-web" / "repo"
    if not repo.is_dir():
        return None
    names = git(repo, "ls-tree", "--name-only", "HEAD", "server/data/en/").split()
    # the files bench/sentences_corpus.py reads into the memory
    return {plain(line) for n in names if n.endswith(".txt") and Path(n).name not in CV_LEFT_OUT for line in git_show(repo, n).splitlines()}


def main() -> None:
    repos, out = snapshots("unseen-plays", [f"standardebooks/{p}" for p in PLAYS], default=UNSEEN_PLAYS)
    cv = common_voice_lines(next(iter(repos.values())).parent.parent)
    for name in PLAYS:
        text = play_text(repos[f"standardebooks/{name}"])
        (out / f"{name}.md").write_text(text, encoding="utf-8")
        lines = [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n", text) if len(s.strip()) >= 40]
        found = "" if cv is None else f", {sum(s in cv for s in lines)} of its {len(lines)} sentences of 40+ characters in Common Voice's"
        print(f"{name}: {len(text):,} characters{found}")


if __name__ == "__main__":
    main()
