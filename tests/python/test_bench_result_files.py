"""bench/result_files.py: the Python benchmarks' result files are replaced whole or not at all, as
rnnx's own programs replace theirs."""

import importlib.util
import os
import pathlib
import subprocess
import sys

import pytest

BENCH = pathlib.Path(__file__).resolve().parents[2] / "bench"
_spec = importlib.util.spec_from_file_location("result_files", BENCH / "result_files.py")
result_files = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(result_files)


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".rnnx-staging-"))


def test_replaces_every_file(tmp_path):
    (tmp_path / "a.json").write_text("old")
    result_files.replace_files(tmp_path, {"a.json": "new a", "b.md": b"new b"})
    assert (tmp_path / "a.json").read_text() == "new a"
    assert (tmp_path / "b.md").read_text() == "new b"
    assert leftovers(tmp_path) == []


def test_a_failure_before_the_renames_changes_nothing(tmp_path):
    (tmp_path / "a.json").write_text("old a")
    (tmp_path / "b.md").write_text("old b")
    with pytest.raises(ValueError, match="not a plain file name"):
        result_files.replace_files(tmp_path, {"a.json": "new", "b.md": "new", "../c": "x"})
    assert (tmp_path / "a.json").read_text() == "old a"
    assert (tmp_path / "b.md").read_text() == "old b"
    assert leftovers(tmp_path) == []


def test_a_killed_writers_staging_folder_goes_with_the_next_write(tmp_path):
    # A pid that has surely ended: a child process that exited.
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    stale = tmp_path / f".rnnx-staging-{child.stdout.strip()}-0"
    stale.mkdir()
    (stale / "half.json").write_text("{")
    live = tmp_path / f".rnnx-staging-{os.getppid()}-0"
    live.mkdir()
    result_files.replace_files(tmp_path, {"a.json": "new"})
    assert not stale.exists()
    assert live.exists()
