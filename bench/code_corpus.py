"""Write ../shared/corpus/python-pkgs: Python as it is written outside the standard library
(type hints, f-strings, dataclasses, async, web frameworks, ORMs, tests), for the `code` model's
corpus memory, from 40 permissively licensed open-source packages (12 of them numerical and
data-science Python: numpy, scipy, seaborn, statsmodels, xarray, dask, PyTorch's examples, ...).

    python bench/code_corpus.py MIRROR [OUT]

MIRROR holds a git snapshot of each repository in PACKAGES as MIRROR/OWNER+NAME/repo, the layout
the project's `fetch` tool writes (/work/.mirror); OUT defaults to ../shared/corpus/python-pkgs.
Each package becomes OUT/NAME/ with its `.py` files at their paths in the repository: its own
modules first, then its tests, up to CAP bytes a package (so no one package is most of it), files
over MAX_FILE bytes (generated tables) left out, and vendored copies of other projects, hidden
folders and the documentation's example snippets (many near-copies of one another) skipped.
It prints a table of each package's snapshot commit and the first line of its license file, for
the corpus's README (nothing but the packages' code goes into OUT: it is training text).

Not here, because a bench reports on them or the mixer's start learns from them: click and the
other Pallets projects (bench/quality.py's held-out code; bench/context.py), rich, pygments,
jinja2, markdown-it, tomlkit, pluggy, packaging (bench/mixer_text.py), pytest and textual
(bench/tuning.py's code sets). Licenses: MIT, BSD-2/3-Clause and Apache-2.0, as each
repository's license file says (the printed table).
"""

from __future__ import annotations

import subprocess
from pathlib import Path, PurePosixPath

from common import git, snapshots, tree

PACKAGES = [  # (owner/name, license as its file says)
    ("psf/requests", "Apache-2.0"), ("encode/httpx", "BSD-3-Clause"), ("encode/starlette", "BSD-3-Clause"),
    ("encode/django-rest-framework", "BSD-3-Clause"), ("fastapi/fastapi", "MIT"), ("pydantic/pydantic", "MIT"),
    ("python-attrs/attrs", "MIT"), ("sqlalchemy/sqlalchemy", "MIT"), ("psf/black", "MIT"), ("python/mypy", "MIT"),
    ("pypa/pip", "MIT"), ("pypa/setuptools", "MIT"), ("scrapy/scrapy", "BSD-3-Clause"), ("tornadoweb/tornado", "Apache-2.0"),
    ("aio-libs/aiohttp", "Apache-2.0"), ("celery/celery", "BSD-3-Clause"), ("marshmallow-code/marshmallow", "MIT"),
    ("python-poetry/poetry", "MIT"), ("ipython/ipython", "BSD-3-Clause"), ("sphinx-doc/sphinx", "BSD-2-Clause"),
    ("getsentry/sentry-python", "MIT"), ("httpie/cli", "BSD-3-Clause"), ("locustio/locust", "MIT"),
    ("Delgan/loguru", "MIT"), ("arrow-py/arrow", "Apache-2.0"), ("PyCQA/flake8", "MIT"), ("boto/boto3", "Apache-2.0"),
    ("psf/requests-html", "MIT"),
    # numerical and data-science Python (import numpy as np, pandas, matplotlib, torch), added 2026-12-02
    ("numpy/numpy", "BSD-3-Clause"), ("scipy/scipy", "BSD-3-Clause"), ("mwaskom/seaborn", "BSD-3-Clause"),
    ("statsmodels/statsmodels", "BSD-3-Clause"), ("pydata/xarray", "Apache-2.0"), ("geopandas/geopandas", "BSD-3-Clause"),
    ("scikit-image/scikit-image", "BSD-3-Clause"), ("scikit-learn-contrib/imbalanced-learn", "MIT"), ("dask/dask", "BSD-3-Clause"),
    ("pytorch/examples", "BSD-3-Clause"), ("Lightning-AI/pytorch-lightning", "Apache-2.0"), ("karpathy/nanoGPT", "MIT"),
]
CAP = 2_500_000  # bytes of .py per package at most
MAX_FILE = 300_000  # a larger .py file is generated data, not code people write
SKIP = {"_vendor", "vendor", "vendored", "third_party", "externals", "_distutils", "docs_src", "node_modules", "build", "dist"}


def chosen(repo: Path) -> list[str]:
    """The .py paths kept from `repo`'s HEAD: its own modules, then tests, up to CAP bytes."""
    files = []
    for path, size in tree(repo):
        parts = PurePosixPath(path).parts
        if not path.endswith(".py") or not size or size > MAX_FILE:
            continue
        if any(p.startswith(".") or p in SKIP for p in parts[:-1]) or "/tests/data/" in f"/{path}":
            continue
        files.append((any("test" in p for p in parts), path, size))
    kept, total = [], 0
    for _, path, size in sorted(files):
        if total + size > CAP:
            continue
        kept.append(path)
        total += size
    return kept


def main() -> None:
    repos, out_dir = snapshots("python-pkgs", [name for name, _ in PACKAGES])
    sources = ["| package | commit | license | its license file begins |", "|---|---|---|---|"]
    total = files = 0
    for name, lic in PACKAGES:
        repo = repos[name]
        out = out_dir / name.split("/")[1]
        for path in chosen(repo):
            data = subprocess.run(["git", "-C", str(repo), "show", f"HEAD:{path}"], capture_output=True, check=True).stdout
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                continue
            target = out / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            total, files = total + len(text), files + 1
        license_file = next((p for p in git(repo, "ls-tree", "--name-only", "HEAD").split()
                             if p.lower().startswith(("licen", "copying"))), "")
        first = next((x.strip() for x in git(repo, "show", f"HEAD:{license_file}").splitlines() if x.strip()), "") if license_file else ""
        sources.append(f"| github.com/{name} | {git(repo, 'rev-parse', 'HEAD').strip()[:12]} | {lic} | {first[:80]} |")
    print("\n".join(sources) + "\n")
    print(f"{len(PACKAGES)} packages, {files:,} files, {total:,} characters in {out_dir}")


if __name__ == "__main__":
    main()
