"""The built wheel ships the models in checkpoints/, and an installed (non-editable) copy
finds them as shipped models."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import charcomplete.native as native
from charcomplete.registry import SHARED_MEMORY

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> tuple[Path, list[str]]:
    """(wheel path, names of the shipped checkpoints in it), built from a temp copy of the repo.

    The real checkpoints/ is copied as it is; when it holds no model yet (they are trained
    separately), the copy gets one tiny real checkpoint, so the real folder is never written.
    """
    pytest.importorskip("build")
    pytest.importorskip("hatchling")
    src = tmp_path_factory.mktemp("src")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.resume.safetensors", ".charcomplete-tmp-*")
    shutil.copytree(REPO / "charcomplete", src / "charcomplete", ignore=ignore)
    for f in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / f, src / f)
    if (REPO / "checkpoints").is_dir():
        shutil.copytree(REPO / "checkpoints", src / "checkpoints", ignore=ignore)
    else:
        (src / "checkpoints").mkdir()
    shipped = sorted(p.name for p in (src / "checkpoints").glob("*") if p.name.endswith((".safetensors", ".memory.packed")))  # models, memories
    if not shipped:
        _tiny_checkpoint(src / "checkpoints" / "dummy.safetensors")
        shipped = ["dummy.safetensors"]
    out = tmp_path_factory.mktemp("dist")
    p = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(src)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    (whl,) = out.glob("charcomplete-*.whl")
    return whl, shipped


def _tiny_checkpoint(path: Path) -> None:
    import torch

    from charcomplete.checkpoint import CheckpointMeta, save_checkpoint
    from charcomplete.models import ModelConfig, build_model
    from charcomplete.vocab import Vocab

    vocab = Vocab.build("a tiny shipped model\n")
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind="lstm", vocab_size=len(vocab), embed=4, hidden=8))
    save_checkpoint(path, model, CheckpointMeta(config=model.cfg.to_dict(), vocab=vocab.to_json(), metrics={"val_bpc": 3.0}))


def test_the_wheel_contains_the_shipped_checkpoints(wheel):
    whl, shipped = wheel
    names = zipfile.ZipFile(whl).namelist()
    for name in shipped:
        assert f"charcomplete/checkpoints/{name}" in names, names
    assert "charcomplete/cli/__init__.py" in names and "charcomplete/__main__.py" in names
    assert all(f"charcomplete/{c}.c" in names for c in ("memory", "network", "adapt"))  # C code compiled on first use (native.py)
    assert not [n for n in names if n.startswith("tests/") or "__pycache__" in n]
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "charcomplete = charcomplete.cli:cli" in zipfile.ZipFile(whl).read(entry_points).decode()
    assert whl.stat().st_size < 100e6  # PyPI's default limit per file: one more model's memory would pass it


def test_an_installed_wheel_lists_and_loads_its_shipped_models(wheel, tmp_path):
    whl, shipped = wheel
    site = tmp_path / "site"
    zipfile.ZipFile(whl).extractall(site)  # what pip install puts in site-packages
    env = dict(os.environ, PYTHONPATH=str(site), CHARCOMPLETE_DATA_DIR=str(tmp_path / "data"), OMP_NUM_THREADS="1")
    p = subprocess.run([sys.executable, "-m", "charcomplete", "models", "--json"], capture_output=True, text=True, env=env,
                       cwd=tmp_path, timeout=300)
    assert p.returncode == 0, p.stderr
    rows = {r["name"]: r for r in json.loads(p.stdout)}
    for name in (n for n in shipped if not n.endswith((".memory.safetensors", ".memory.packed"))):  # a memory is no model
        row = rows[name[: -len(".safetensors")]]
        assert row["source"] == "shipped" and row["error"] is None, row
        assert Path(row["path"]).resolve().is_relative_to(site.resolve()), row["path"]
        owner = SHARED_MEMORY.get(name[: -len(".safetensors")], name[: -len(".safetensors")])  # prose-large reads prose's
        memories = [m for m in (owner + s for s in (".memory.safetensors", ".memory.packed")) if m in shipped]
        assert (row["memory_mb"] is not None) == bool(memories), row  # the corpus memory ships beside its model
        if memories:  # in MB of 10^6 bytes, as the README and checkpoints/README.md count the 40 MB budget
            size = (Path(row["path"]).parent / memories[0]).stat().st_size
            assert row["memory_mb"] == round(size / 1e6, 1), row
            assert size + (Path(row["path"])).stat().st_size <= 40e6, row  # the budget, network + memory on disk
    # a first line as people type it, and the start of what the shipped model must suggest after it
    first_lines = {"code": ("import numpy as", " np"), "prose": ("To be, or not to b", "e")}
    packed_models = [n[: -len(".memory.packed")] for n in shipped if n.endswith(".memory.packed")]
    sharing = [m for m, owner in SHARED_MEMORY.items() if f"{m}.safetensors" in shipped and owner in packed_models]
    for model in packed_models + sharing:  # unpacked into the cache on first use, then read
        text, expected = first_lines.get(SHARED_MEMORY.get(model, model), ("The quick brown fox", ""))
        p = subprocess.run([sys.executable, "-m", "charcomplete", "complete", "--model", model, text],
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
        assert p.returncode == 0, p.stderr
        assert p.stdout.startswith(expected), (model, text, p.stdout)
        assert list((tmp_path / "data" / "cache" / "memories").glob("*.memory.safetensors")), model
    if shutil.which(shlex.split(os.environ.get("CC") or "cc")[0]):  # with a C compiler the C code was built from the wheel's source
        assert list((tmp_path / "data" / "cache" / "native").glob("memory-*.so"))
        if native.library("network") is not None:  # (a compiler may refuse -march=native: numpy steps then)
            assert list((tmp_path / "data" / "cache" / "native").glob("network-*.so"))
    # the Python API's default is the model `edit` opens notes with, its corpus memory included
    p = subprocess.run([sys.executable, "-c", "from charcomplete import load_completer; c = load_completer(); "
                        "print(c.name, c.memory is not None)"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert p.returncode == 0 and p.stdout.split() == ["prose", "True"], (p.stdout, p.stderr)


def _readme_commands() -> list[str]:
    """The one-line commands of the README's code blocks that start with `pip install`."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)
    return [line.strip() for b in blocks for line in b.splitlines() if line.strip().startswith("pip install")]


def test_ci_runs_the_readmes_test_command_in_a_fresh_virtualenv():
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    lines = [line.strip() for line in ci.splitlines() if line.strip() and not line.strip().startswith("#")]
    test_commands = [c for c in _readme_commands() if "pytest" in c]
    assert len(test_commands) == 1, test_commands  # the README names one test command
    assert test_commands[0] in lines, "CI must run the README's test command verbatim"
    # a new venv (outside the checkout) is made and activated before anything is installed
    venv = next(i for i, line in enumerate(lines) if "-m venv" in line)
    install = next(i for i, line in enumerate(lines) if "pip install" in line)
    assert venv < install and any("activate" in line for line in lines[venv:install])
    assert "mktemp" in ci
    # the CPU torch wheel first, as the README tells users without a GPU
    assert any(re.search(r"pip install .*torch==", line) for line in lines[:lines.index(test_commands[0])])


def test_the_test_extra_holds_what_the_tests_import():
    """matplotlib (the compare --plot test) must come with `.[test]`, not by luck of the machine."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names = {re.split(r"[<>=\[ ]", r)[0] for r in extras["test"]}
    assert {"pytest", "pytest-asyncio", "pytest-xdist", "pytest-textual-snapshot", "hypothesis", "matplotlib"} <= names


def _relative_links(text: str) -> list[str]:
    """Targets of the Markdown links and images in text that are not URLs or in-page anchors."""
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # code blocks hold no links
    text = re.sub(r"`[^`\n]*`", "", text)  # nor does inline code
    targets = re.findall(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", text)
    return [t for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:", t, flags=re.I) and not t.startswith("#")]


def test_the_readme_fits_one_screen_and_every_relative_link_resolves():
    """README.md is at most 200 lines and names no folder of the build machine; every relative
    link in README.md and docs/*.md points to a file that exists."""
    readme = REPO / "README.md"
    text = readme.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200, len(text.splitlines())
    pages = [readme, *sorted((REPO / "docs").glob("*.md"))]
    for page in pages:
        assert "shared/corpus" not in page.read_text(encoding="utf-8"), page.name
    missing = []
    for page in pages:
        links = _relative_links(page.read_text(encoding="utf-8"))
        if page == readme:
            assert links, "the README links to its docs pages"
        for link in links:
            target = (page.parent / link.split("#", 1)[0]).resolve()
            if not target.exists():
                missing.append(f"{page.relative_to(REPO)}: {link}")
    assert not missing, missing
