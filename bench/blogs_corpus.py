"""Write ../shared/corpus/gov-blogs: modern everyday English from two US government blogs.

    python bench/blogs_corpus.py MIRROR [OUT]

MIRROR holds git snapshots of github.com/18F/18f.gsa.gov and github.com/GSA/digitalgov.gov as
MIRROR/OWNER+NAME/repo, the layout the project's `fetch` tool writes (/work/.mirror); OUT
defaults to ../shared/corpus/gov-blogs. The posts are Markdown: 18F's blog (content/posts/,
2014-2025) and Digital.gov's news, guides and resources (content/news/, content/guides/,
content/resources/, 2013-2025). Each becomes its title as a `#` heading and its body with
the site's template code ({{< ... >}}, {% ... %}), images, raw HTML tags and link targets
dropped (a link keeps its text), typographic quotes and dashes as people type them; posts of
one site and year go into one file (OUT/18f-2016.txt, OUT/digitalgov-2015.txt, ...), in date
order, so that the trainer's held-out tail of every file is a run of whole posts.

License: works of the United States government, in the public domain in the United States;
both repositories also dedicate their content to the public domain worldwide (CC0 1.0), as
their LICENSE.md says. None of this text is in a text that the benches report on.
"""

from __future__ import annotations

import html
import re
from collections import defaultdict
from pathlib import Path

from common import git, snapshots
from novels_corpus import TYPED

SITES = {  # snapshot -> (file prefix, folders of posts)
    "18F+18f.gsa.gov": ("18f", ("content/posts/",)),
    "GSA+digitalgov.gov": ("digitalgov", ("content/news/", "content/guides/", "content/resources/")),
}
MIN_CHARS = 300  # a post shorter than this after cleaning (a stub, a redirect) is left out

_TEMPLATE = re.compile(r"\{\{[<%].*?[%>]\}\}|\{%.*?%\}|\{\{.*?\}\}", re.S)  # Hugo shortcodes, Liquid tags and outputs
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]*)\]\((?:[^()]|\([^)]*\))*\)")  # [text](target) -> text (targets may hold one level of parentheses)
_REF_LINK = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")  # [text][ref] -> text
_REF_DEF = re.compile(r"^\s*\[[^\]]+\]:\s*\S+.*$", re.M)  # [ref]: url
_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_COMMENT = re.compile(r"<!--.*?-->", re.S)


def front_matter(text: str) -> tuple[dict, str]:
    """({key: value} of the YAML front matter's one-line keys, the body after it)."""
    m = re.match(r"---\n(.*?)\n---\n", text, re.S)
    if not m:
        return {}, text
    meta = {}
    for line in m.group(1).splitlines():
        k = re.match(r"([a-z_]+):\s*(.*)$", line)
        if k:
            meta[k.group(1)] = k.group(2).strip().strip("'\"")
    return meta, text[m.end():]


def clean(body: str) -> str:
    """A post's Markdown body as people would type it: template code, images, HTML and link targets dropped."""
    t = _COMMENT.sub("", body)
    t = _TEMPLATE.sub("", t)
    t = _IMAGE.sub("", t)
    t = _LINK.sub(r"\1", t)
    t = _REF_LINK.sub(r"\1", t)
    t = _REF_DEF.sub("", t)
    t = _TAG.sub("", t)
    t = html.unescape(t)
    for a, b in TYPED.items():
        t = t.replace(a, b)
    t = t.replace("\u200b", "")  # zero-width spaces
    t = re.sub(r"^\s*\*\s+", "- ", t, flags=re.M)  # "  * item" -> "- item"
    t = re.sub(r"[ \t]+\n", "\n", t)
    t = re.sub(r"[ \t]{2,}", " ", t)
    t = re.sub(r"\n{3,}", "\n\n", t)
    return t.strip()


def site_posts(repo: Path, folders: tuple[str, ...]) -> dict[str, list[tuple[str, str]]]:
    """{year: [(date, post text)]} of the Markdown posts under `folders`."""
    by_year = defaultdict(list)
    for path in git(repo, "ls-tree", "-r", "--name-only", "HEAD", *folders).splitlines():
        if not path.endswith(".md") or path.endswith("_index.md"):
            continue
        meta, body = front_matter(git(repo, "show", f"HEAD:{path}"))
        date = meta.get("date", "")
        m = re.match(r"(\d{4})-\d\d-\d\d", date) or re.search(r"/(\d{4})-\d\d-\d\d-", path) or re.search(r"/(\d{4})/", path)
        if not m:
            continue
        text = clean(body)
        if len(text) < MIN_CHARS:
            continue
        title = clean(meta.get("title", ""))
        by_year[m.group(1)].append((date or path, f"# {title}\n\n{text}" if title else text))
    return by_year


def main() -> None:
    repos, out = snapshots("gov-blogs", [s.replace("+", "/", 1) for s in SITES])
    files = posts = total = 0
    for snapshot, (prefix, folders) in SITES.items():
        for year, items in sorted(site_posts(repos[snapshot.replace("+", "/", 1)], folders).items()):
            text = "\n\n".join(t for _, t in sorted(items)) + "\n"
            (out / f"{prefix}-{year}.txt").write_text(text, encoding="utf-8")
            files, posts, total = files + 1, posts + len(items), total + len(text)
    print(f"{posts:,} posts in {files} files, {total:,} characters in {out}")


if __name__ == "__main__":
    main()
