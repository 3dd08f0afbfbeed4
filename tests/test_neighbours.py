"""The editor also learns from the files beside the one being edited (issue 12, item 2): which
files (git-tracked, or the folder; text only; same kind first; caps), a separate level never saved
in the history, the status bar, F4 / the palette and `--no-neighbours`."""

from __future__ import annotations

import random
import shutil
import subprocess

import pytest

from charcomplete.adapt import AdaptConfig, AdaptiveModel, BufferLearner
from charcomplete.neighbours import Caps, candidates, read_neighbours, unit_of

from test_whole_buffer import adaptive_editor, ghost_after, learned, until  # noqa: F401 (a fixture)

WORD = "frobnicatorix"
OTHER = f"the {WORD} is quick. a {WORD} sleeps. the {WORD} runs.\n" * 3


def names(paths) -> list[str]:
    return [p.name for p in paths]


def test_folder_text_files_same_kind_first_hidden_vendored_binary_skipped(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "b.md").write_text("prose\n")
    (tmp_path / "blob.txt").write_bytes(b"ab\x00cd")
    (tmp_path / "latin.txt").write_bytes("caf\xe9".encode("latin-1"))
    (tmp_path / ".secret.txt").write_text("hidden\n")
    for d in ("node_modules", ".git", "venv", "__pycache__"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "x.txt").write_text("vendored\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.txt").write_text("below\n")
    (tmp_path / "sub" / "deep").mkdir()
    (tmp_path / "sub" / "deep" / "d.txt").write_text("too deep\n")
    found = [p.name for p, _ in read_neighbours(tmp_path / "notes.txt")]
    assert found == ["b.md", "c.txt", "a.py"]  # prose first, nearest first; never the file itself
    code = [p.name for p, _ in read_neighbours(tmp_path / "main.py")]
    assert code[0] == "a.py"
    assert [p.name for p, _ in read_neighbours(tmp_path / "notes.txt", Caps(max_files=1))] == ["b.md"]
    assert [p.name for p, _ in read_neighbours(tmp_path / "notes.txt", Caps(max_bytes=9))] == ["b.md"]


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_git_repository_gives_its_tracked_files(tmp_path):
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    (repo / "pkg" / "core.py").write_text("def core(): pass\n")
    (repo / "pkg" / "util.py").write_text("def util(): pass\n")
    (repo / "README.md").write_text("readme\n")
    (repo / "ignored.py").write_text("secret = 1\n")
    (repo / ".gitignore").write_text("ignored.py\n")
    git = ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run(git + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "pkg", "README.md", ".gitignore"], check=True)
    (repo / "pkg" / "untracked.py").write_text("x = 2\n")
    found = names(candidates(repo / "pkg" / "core.py"))
    assert found == ["util.py", "README.md"]  # tracked only, hidden skipped, code first


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_opening_a_file_never_runs_a_program_the_repository_names(tmp_path):
    """A folder's .git/config (a downloaded archive's, say) naming a core.fsmonitor program: `git
    ls-files` ran it when a file there was opened."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "a.md").write_text("alpha\n")
    (repo / "b.md").write_text("beta\n")
    marker = tmp_path / "it-ran"
    hook = tmp_path / "hook.sh"
    hook.write_text(f"#!/bin/sh\ntouch '{marker}'\necho\n")
    hook.chmod(0o755)
    subprocess.run(["git", "-C", str(repo), "init", "-q"], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "a.md", "b.md"], check=True)
    subprocess.run(["git", "-C", str(repo), "config", "core.fsmonitor", str(hook)], check=True)
    assert names(candidates(repo / "a.md")) == ["b.md"]
    assert not marker.exists()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_tracked_link_to_a_file_outside_is_not_read(tmp_path):
    """Git tracks a symlink as the link, not its target's text: one pointing out of the repository
    (at ~/.ssh/id_rsa, say) was read and its text suggested."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "a.md").write_text("alpha\n")
    (repo / "b.md").write_text("beta\n")
    (tmp_path / "secret.txt").write_text("hunter2\n")
    (repo / "c.md").symlink_to(tmp_path / "secret.txt")
    subprocess.run(["git", "-C", str(repo), "init", "-q"], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "a.md", "b.md", "c.md"], check=True)
    assert [text for _, text in read_neighbours(repo / "a.md")] == ["beta\n"]


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_tracked_path_through_a_linked_folder_is_not_read(tmp_path):
    """A repository's index (a crafted archive's) naming `d/id_rsa`, where `d` is a link to a folder
    outside (~/.ssh, say): the key was read and its text suggested."""
    repo, secrets = tmp_path / "repo", tmp_path / "secrets"
    repo.mkdir()
    secrets.mkdir()
    (secrets / "id_rsa").write_text("hunter2\n")
    (repo / "a.md").write_text("alpha\n")
    (repo / "b.md").write_text("beta\n")
    (repo / "d").symlink_to(secrets)
    git = ["git", "-C", str(repo)]
    subprocess.run(git + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "a.md", "b.md"], check=True)
    blob = subprocess.run(git + ["hash-object", "-w", str(repo / "b.md")], check=True, capture_output=True, text=True)
    subprocess.run(git + ["update-index", "--add", "--cacheinfo", f"100644,{blob.stdout.strip()},d/id_rsa"], check=True)
    assert "d/id_rsa" in subprocess.run(git + ["ls-files"], capture_output=True, text=True).stdout
    assert [text for _, text in read_neighbours(repo / "a.md")] == ["beta\n"]


def test_neighbours_level_is_bounded_and_never_in_the_history(tmp_path):
    from charcomplete.history import History

    learner = BufferLearner(max_contexts=500)
    rng = random.Random(0)
    learner.add_file("".join(rng.choice("abcdefgh ") for _ in range(20_000)))
    learner.add_file(OTHER)
    while learner.work(512):
        pass
    assert 500 <= len(learner.neighbours) <= 500 + 5 * 512  # the bound, checked between steps
    assert learner.files == 1 and "frob" not in learner.neighbours.table  # the rest dropped
    history = History(None, AdaptConfig(), save=False)
    model = AdaptiveModel(AdaptConfig(), history)
    model.attach(learner)
    model.observe("the ")
    model.observe("the " + WORD)  # typed: goes to the history; the neighbours' text never does
    assert history.new.table and not any("nicatorix is" in ctx for ctx in history.new.table)
    assert not history.loaded.table
    learner.set_neighbours(False)
    learner.work(0)
    assert learner.neighbour_table() is None and not learner.neighbours.table


def test_before_a_request_only_the_buffer_is_counted_the_neighbours_wait_for_a_pause():
    """The editor counts the buffer's edits before each request (work(..., neighbours=False)) and
    the neighbouring files only in pauses: learning them must not slow the keys."""
    learner = BufferLearner()
    learner.add_file(OTHER)
    learner.open("the buffer as opened\n" * 10)
    for _ in range(20):
        learner.work(64, neighbours=False)
    assert learner.doc_progress == 1.0 and learner.doc.table
    assert not learner.neighbours.table and len(learner.match) == 0 and learner.busy
    while learner.work(512):  # a pause
        pass
    assert learner.neighbours.table and learner.neighbour_match() is not None and learner.files == 1


@pytest.fixture
def project(tmp_path):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "other.txt").write_text(OTHER)
    return folder


async def test_a_neighbour_files_name_is_suggested_and_f4_turns_it_off(adaptive_editor, project):  # noqa: F811 (the fixture)
    from conftest import TINY_TEXT

    app = adaptive_editor(TINY_TEXT[:2000], folder=project, neighbours=True)
    async with app.run_test() as pilot:
        ed = app.editor
        await until(pilot, lambda: app.status.learned == "doc + 1 file")  # read in a worker, counted by the model thread
        await learned(pilot)
        assert ed.learner.neighbour_match().text == OTHER  # and indexed for the match model
        ed.move_cursor(ed.document.end)
        assert (await ghost_after(pilot, "the frob")).startswith("nica")
        await pilot.press("f4")  # off: the neighbours' counts are dropped
        await learned(pilot)
        assert ed.learner.neighbour_match() is None  # at once; the index itself is dropped by the model thread
        for _ in range(4):
            await pilot.press("backspace")
        assert not (await ghost_after(pilot, "frob")).startswith("nica")
        assert len(ed.learner.match) == 0
        assert app.status.learned == "doc"
        await pilot.press("f4")  # on again
        await until(pilot, lambda: app.status.learned == "doc + 1 file")  # read in a worker, counted by the model thread
        await learned(pilot)


async def test_without_neighbours_nothing_is_read(adaptive_editor, project):  # noqa: F811 (the fixture)
    from conftest import TINY_TEXT

    app = adaptive_editor(TINY_TEXT[:2000], folder=project, neighbours=False)
    async with app.run_test() as pilot:
        ed = app.editor
        await learned(pilot)
        assert app.status.learned == "doc"
        assert not ed.learner.neighbours.table
        ed.move_cursor(ed.document.end)
        assert not (await ghost_after(pilot, "the frob")).startswith("nica")


def _repo_with_commits(tmp_path, messages):
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t", "-c", "commit.gpgsign=false"]
    subprocess.run(git + ["init", "-q"], check=True)
    for i, m in enumerate(messages):
        (repo / "a.txt").write_text(f"{i}\n")
        subprocess.run(git + ["add", "a.txt"], check=True)
        subprocess.run(git + ["commit", "-q", "-m", m], check=True)
    return repo


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_commit_message_learns_the_repositorys_commit_messages(tmp_path):
    """charcomplete as git's editor: COMMIT_EDITMSG's neighbours were .git's internals (hook samples,
    config, the binary index); they are the latest commit messages, newest first, no program run."""
    repo = _repo_with_commits(tmp_path, ["Add the frobnicatorix parser", f"Fix the {WORD} cache\n\nLonger body."])
    git = ["git", "-C", str(repo)]
    head = subprocess.run(git + ["rev-parse", "HEAD", "HEAD^{tree}"], capture_output=True, text=True, check=True).stdout.split()
    signed = (f"tree {head[1]}\nparent {head[0]}\nauthor t <t@t> 1700000000 +0000\ncommitter t <t@t> 1700000000 +0000\n"
              "gpgsig -----BEGIN PGP SIGNATURE-----\n \n AAAA\n -----END PGP SIGNATURE-----\n\nSigned one\n")
    commit = subprocess.run(git + ["hash-object", "-t", "commit", "-w", "--stdin"], input=signed, capture_output=True,
                            text=True, check=True).stdout.strip()
    subprocess.run(git + ["update-ref", "HEAD", commit], check=True)  # a signed commit: git log verifies it with gpg.program
    marker, gpg = tmp_path / "it-ran", tmp_path / "gpg.sh"
    gpg.write_text(f"#!/bin/sh\ntouch '{marker}'\n")
    gpg.chmod(0o755)
    for key, value in (("log.showSignature", "true"), ("gpg.program", str(gpg)), ("core.fsmonitor", str(gpg))):
        subprocess.run(["git", "-C", str(repo), "config", key, value], check=True)
    msg = repo / ".git" / "COMMIT_EDITMSG"
    msg.write_text("\n# Please enter the commit message\n")
    got = list(read_neighbours(msg))
    assert [text for _, text in got] == ["Signed one\n", f"Fix the {WORD} cache\n\nLonger body.\n",
                                         "Add the frobnicatorix parser\n"]
    subprocess.run(git + ["log", "-n1"], capture_output=True)
    assert marker.exists()  # as git itself runs it: the check below is a real one
    marker.unlink()
    got = list(read_neighbours(msg))
    assert {p for p, _ in got} == {repo / ".git"} and unit_of(msg) == "commit" and not marker.exists()
    assert [text for _, text in read_neighbours(msg, Caps(max_files=1))] == [got[0][1]]
    todo = repo / ".git" / "rebase-merge" / "git-rebase-todo"  # a folder below: the repository's .git still
    todo.parent.mkdir()
    todo.write_text("pick 123 x\n")
    assert len(list(read_neighbours(todo))) == 3
    assert unit_of(repo / "a.txt") == "file"


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
async def test_the_editor_on_a_commit_message_suggests_from_earlier_ones(adaptive_editor, tmp_path):  # noqa: F811 (the fixture)
    repo = _repo_with_commits(tmp_path, [f"Add the {WORD} parser", f"Fix the {WORD} cache"])
    app = adaptive_editor("\n# Please enter the commit message\n", name="COMMIT_EDITMSG", folder=repo / ".git",
                          neighbours=True)
    async with app.run_test() as pilot:
        ed = app.editor
        await until(pilot, lambda: app.status.learned == "doc + 2 commits")
        await learned(pilot)
        ed.move_cursor((0, 0))
        assert (await ghost_after(pilot, "Fix the frob")).startswith("nica")


def test_the_palette_has_the_toggle():
    import inspect

    from charcomplete.tui import commands

    assert "Toggle learning from neighbouring files" in inspect.getsource(commands)


def test_no_neighbours_flag_reaches_the_editor(tiny_checkpoints, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from charcomplete.cli.edit import command
    from charcomplete.tui.app import EditorApp

    seen = []
    monkeypatch.setattr(EditorApp, "run", lambda self, *a, **k: seen.append(getattr(self, "learn_neighbours", True)))
    monkeypatch.setattr("charcomplete.cli.edit.has_terminal", lambda: True)  # CliRunner's streams are not a terminal
    f = tmp_path / "notes.txt"
    f.write_text("hello\n")
    for args, expect in (([], True), (["--no-neighbours"], False)):
        result = CliRunner().invoke(command, [str(f), "--model", str(tiny_checkpoints["lstm"]), "--device", "cpu"] + args)
        assert result.exit_code == 0, result.output
        assert seen[-1] is expect
