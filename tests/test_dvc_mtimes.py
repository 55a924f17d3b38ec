"""`pose restore-mtimes`: after `dvc pull`, the outputs of each stage DVC reports unchanged are
dated no older than its dependencies, forward only; a changed stage's outputs are left alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pose.cli import main
from pose.dvc_mtimes import StageFiles, date_outputs

DVC = Path(sys.executable).parent / "dvc"
T0 = 1_700_000_000 * 10**9  # ns


def _file(path: Path, mtime_ns: int, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def _mtime(path: Path) -> int:
    return path.stat().st_mtime_ns


def _chain(tmp_path: Path) -> list[StageFiles]:
    """a.txt -> [A] -> out/ (a folder) -> [B] -> b.txt -> [C] -> c.txt, every output dated
    before its dependency, as a checkout in another order leaves them."""
    src = _file(tmp_path / "a.txt", T0 + 30)
    folder = tmp_path / "out"
    _file(folder / "sub" / "part.txt", T0 + 10)
    os.utime(folder / "sub", ns=(T0 + 10, T0 + 10))
    os.utime(folder, ns=(T0 + 10, T0 + 10))
    b = _file(tmp_path / "b.txt", T0 + 5)
    c = _file(tmp_path / "c.txt", T0 + 1)
    return [StageFiles("A", (src,), (folder,)), StageFiles("B", (folder,), (b,)),
            StageFiles("C", (b,), (c,))]


def test_outputs_are_dated_as_their_newest_dependency_upstream_first(tmp_path: Path) -> None:
    stages = _chain(tmp_path)
    assert date_outputs(stages, changed=[]) == ["A", "B", "C"]
    for entry in (tmp_path / "out", tmp_path / "out/sub", tmp_path / "out/sub/part.txt",
                  tmp_path / "b.txt", tmp_path / "c.txt"):
        assert _mtime(entry) == T0 + 30, entry  # no input newer than its output: up to date
    assert _mtime(tmp_path / "a.txt") == T0 + 30  # a dependency never moves
    assert date_outputs(stages, changed=[]) == []  # settled


def test_a_changed_stage_is_not_redated_and_its_consumers_follow_it(tmp_path: Path) -> None:
    """B changed (dvc status): its output keeps its date, older than B's input, so Snakemake
    re-runs B; C, unchanged, is dated after B's output as it is."""
    stages = _chain(tmp_path)
    assert date_outputs(stages, changed=["B"]) == ["A", "C"]
    assert _mtime(tmp_path / "out") == T0 + 30
    assert _mtime(tmp_path / "b.txt") == T0 + 5
    assert _mtime(tmp_path / "c.txt") == T0 + 5


def test_outputs_newer_than_their_dependencies_do_not_move(tmp_path: Path) -> None:
    src = _file(tmp_path / "a.txt", T0 + 10)
    out = _file(tmp_path / "b.txt", T0 + 50)
    assert date_outputs([StageFiles("A", (src,), (out,))], changed=[]) == []
    assert _mtime(out) == T0 + 50


def test_files_linked_twice_settle(tmp_path: Path) -> None:
    """One cache file linked as an upstream and a downstream output: dating the downstream one
    dates the upstream one too, so its consumers are dated again in a second pass."""
    src = _file(tmp_path / "a.txt", T0 + 20)
    up = _file(tmp_path / "up.txt", T0 + 1)
    mid = _file(tmp_path / "mid.txt", T0 + 1)
    late = _file(tmp_path / "late.txt", T0 + 40)
    down = tmp_path / "down.txt"
    os.link(up, down)  # same content, one DVC cache file
    stages = [StageFiles("up", (src,), (up,)), StageFiles("mid", (up,), (mid,)),
              StageFiles("down", (late,), (down,))]
    date_outputs(stages, changed=[])
    assert _mtime(up) == _mtime(down) == T0 + 40
    assert _mtime(mid) >= _mtime(up)


def _dvc(cwd: Path, *args: str) -> str:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    proc = subprocess.run([str(DVC), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.fixture()
def dvc_chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A DVC project of two stages run once: a.txt -> [one] -> b.txt -> [two] -> c.txt."""
    _dvc(tmp_path, "init", "--no-scm", "-q")
    (tmp_path / "a.txt").write_text("a\n")
    stages = {
        "one": {"cmd": "cp a.txt b.txt", "deps": ["a.txt"], "outs": ["b.txt"]},
        "two": {"cmd": "cp b.txt c.txt", "deps": ["b.txt"], "outs": ["c.txt"]},
    }
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}))
    _dvc(tmp_path, "repro", "-q")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_restore_mtimes_dates_what_dvc_status_reports_unchanged(
        dvc_chain: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name, when in (("c.txt", 1), ("b.txt", 2), ("a.txt", 3)):  # checked out backwards
        os.utime(dvc_chain / name, ns=(T0 + when, T0 + when))
    assert main(["restore-mtimes"]) == 0
    assert "outputs of 2 up-to-date DVC stages dated" in capsys.readouterr().out
    assert _mtime(dvc_chain / "b.txt") == _mtime(dvc_chain / "c.txt") == T0 + 3
    assert "Data and pipelines are up to date" in _dvc(dvc_chain, "status")


def test_restore_mtimes_leaves_a_changed_stage_to_rerun(
        dvc_chain: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An edited dependency (`one` changed): b.txt keeps a date older than a.txt; `two`, whose
    dependency b.txt is as recorded, is dated after it."""
    for name, when in (("c.txt", 1), ("b.txt", 2)):
        os.utime(dvc_chain / name, ns=(T0 + when, T0 + when))
    (dvc_chain / "a.txt").write_text("edited\n")
    assert main(["restore-mtimes", "--root", str(dvc_chain)]) == 0
    out = capsys.readouterr().out
    assert "outputs of 1 up-to-date DVC stages" in out and "1 stages changed" in out
    assert out.rstrip().endswith(": one")
    assert _mtime(dvc_chain / "b.txt") == T0 + 2 < _mtime(dvc_chain / "a.txt")
    assert _mtime(dvc_chain / "c.txt") == T0 + 2


def test_not_a_dvc_project_is_one_clear_error(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["restore-mtimes", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path) in err and "DVC" in err
