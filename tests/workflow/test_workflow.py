"""The workflow engines: Snakemake and DVC drive the same `pose` stages from params/."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["DVC_NO_ANALYTICS"] = "1"
    return env


def _run(cmd: list[str], cwd: Path, timeout: int = 900) -> str:
    proc = subprocess.run(
        cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{out[-4000:]}"
    return out


def _workflow_copy(dst: Path, tiny: bool) -> Path:
    from conftest import write_tiny_params

    """The files a workflow run needs, in a scratch directory."""
    for name in ("Snakefile", "dvc.yaml", "environment.yml"):
        shutil.copy(ROOT / name, dst / name)
    shutil.copytree(ROOT / "workflow", dst / "workflow")
    shutil.copytree(ROOT / "pose", dst / "pose", ignore=shutil.ignore_patterns("__pycache__"))
    if tiny:
        write_tiny_params(dst)
    else:
        shutil.copytree(ROOT / "params", dst / "params")
    return dst


def test_snakemake_lint_is_clean(tmp_path: Path) -> None:
    out = _run(["snakemake", "--lint"], _workflow_copy(tmp_path, tiny=False))
    assert "Congratulations" in out


def test_full_scale_dry_run_lists_one_gpu_training_per_experiment(tmp_path: Path) -> None:
    work = _workflow_copy(tmp_path, tiny=False)
    out = _run(["snakemake", "-n", "--config", "scale=full", "dataset=coco"], work)
    experiments = yaml.safe_load((work / "params/experiments.yaml").read_text())["experiments"]
    blocks = re.findall(r"rule train:\n(.*?)(?=\n\S|\Z)", out, flags=re.S)
    trained = sorted(re.search(r"wildcards: experiment=(\S+)", b).group(1) for b in blocks)
    assert trained == sorted(experiments)
    for block in blocks:
        exp = re.search(r"wildcards: experiment=(\S+)", block).group(1)
        assert f"gpu={experiments[exp]['gpus']}" in block
        assert "runs/full/" in block
    # Evaluation runs on one GPU at full scale; the other stages are CPU-only.
    for block in re.findall(r"rule evaluate:\n(.*?)(?=\n\S|\Z)", out, flags=re.S):
        assert "gpu=1" in block
    for rule in ("complexity", "table", "report", "prepare_data"):
        for block in re.findall(rf"rule {rule}:\n(.*?)(?=\n\S|\Z)", out, flags=re.S):
            assert "gpu=0" in block


@pytest.mark.slow
def test_snakemake_runs_the_pipeline_end_to_end(tmp_path: Path) -> None:
    work = _workflow_copy(tmp_path, tiny=True)
    _run(["snakemake", "--cores", "2"], work)
    index = (work / "reports/index.md").read_text()
    assert "Baselines" in index and "HRNet-W32" in index
    for exp in ("hrnet_w32_256x192", "hrnet_w48_256x192", "simplebaseline_r50_256x192"):
        assert (work / "runs/tiny" / exp / "eval.json").is_file()
    assert (work / "reports/plots/training.png").stat().st_size > 0
    # Nothing left to do: a second run is a no-op.
    out = _run(["snakemake", "--cores", "2", "-n"], work)
    assert "Nothing to be done" in out


def _stages_run(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


@pytest.mark.slow
def test_dvc_repro_reruns_only_the_edited_experiment(tmp_path: Path) -> None:
    work = _workflow_copy(tmp_path, tiny=True)
    _run(["git", "init", "-q"], work)
    _run(["dvc", "init", "-q"], work)
    shutil.copy(ROOT / ".dvcignore", work / ".dvcignore")
    first = _stages_run(_run(["dvc", "repro"], work))
    assert {"prepare", "train@hrnet_w32_256x192", "evaluate@hrnet_w48_256x192", "report"} <= first
    assert "Data and pipelines are up to date" in _run(["dvc", "status"], work)

    experiments_file = work / "params/experiments.yaml"
    data = yaml.safe_load(experiments_file.read_text())
    data["experiments"]["hrnet_w48_256x192"]["seed"] = 7
    experiments_file.write_text(yaml.safe_dump(data, sort_keys=False))

    second = _stages_run(_run(["dvc", "repro"], work))
    assert second == {
        "train@hrnet_w48_256x192",
        "evaluate@hrnet_w48_256x192",
        "table@baselines",
        "report",
    }
    metrics = _run(["dvc", "metrics", "show"], work)
    assert "hrnet_w48_256x192/eval.json" in metrics
