"""Results travel with DVC: a run pushed to a remote is pulled into a fresh clone, where neither
`dvc repro` nor (after `pose restore-mtimes`) Snakemake re-runs anything."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from conftest import TINY_TRAIN
from workflow.test_workflow import ROOT, _jobs, _run, _stages_run, _workflow_copy

GIT = ["git", "-c", "user.name=poserepro", "-c", "user.email=poserepro@example.org"]


@pytest.mark.slow
def test_a_pulled_clone_reruns_nothing(tmp_path: Path) -> None:
    origin = tmp_path / "origin"
    origin.mkdir()
    work = _workflow_copy(origin, tiny=True)
    for name in (".gitignore", ".dvcignore"):
        shutil.copy(ROOT / name, work / name)
    _run(["git", "init", "-q"], work)
    _run(["dvc", "init", "-q"], work)
    shutil.copy(ROOT / ".dvc/config", work / ".dvc/config")  # the project's cache links
    _run(["dvc", "repro"], work)
    _run([*GIT, "add", "-A"], work)
    _run([*GIT, "commit", "-q", "-m", "a tiny run"], work)
    # the site's shared remote, in the uncommitted config.local, as the README sets it up
    remote = tmp_path / "remote"
    _run(["dvc", "remote", "add", "--local", "-d", "cluster", str(remote)], work)
    _run(["dvc", "push"], work)

    clone = tmp_path / "clone"
    _run(["git", "clone", "-q", str(work), str(clone)], tmp_path)
    assert not (clone / f"runs/tiny/{TINY_TRAIN[0]}/model.pth").exists()  # not in git
    _run(["dvc", "remote", "add", "--local", "-d", "cluster", str(remote)], clone)
    _run(["dvc", "pull"], clone)
    weights = {e: clone / f"runs/tiny/{e}/model.pth" for e in TINY_TRAIN}
    for exp, path in weights.items():
        assert path.read_bytes() == (work / f"runs/tiny/{exp}/model.pth").read_bytes()
    assert "Data and pipelines are up to date" in _run(["dvc", "status"], clone)

    # Pulled after the clone checked out train_log.csv, the dataset is newer than the trainings'
    # outputs: by dates alone, Snakemake would train every experiment again.
    before = _run(["snakemake", "-n", "--cores", "2"], clone)
    assert _jobs(before, "train") == sorted(TINY_TRAIN)

    out = _run(["pose", "restore-mtimes"], clone)
    assert "stages changed" not in out
    assert "Nothing to be done" in _run(["snakemake", "-n", "--cores", "2"], clone)
    assert "Data and pipelines are up to date" in _run(["dvc", "status"], clone)

    dated = {e: p.stat().st_mtime_ns for e, p in weights.items()}
    repro = _run(["dvc", "repro"], clone)
    assert _stages_run(repro) == set(), repro[-4000:]
    assert {e: p.stat().st_mtime_ns for e, p in weights.items()} == dated

    # A real change still re-runs: an edited test protocol (DVC: the evaluate stages changed,
    # left as they are) plans every evaluation again and no training.
    recipes = clone / "params/recipes.yaml"
    data = yaml.safe_load(recipes.read_text())
    data["hrnet"]["test"]["oks_thre"] = 0.5
    recipes.write_text(yaml.safe_dump(data, sort_keys=False))
    out = _run(["pose", "restore-mtimes"], clone)
    assert all(f"evaluate@{e}" in out for e in TINY_TRAIN)
    plan = _run(["snakemake", "-n", "--cores", "2"], clone)
    assert _jobs(plan, "evaluate") == sorted(TINY_TRAIN) and _jobs(plan, "train") == []
