"""Per-paper and per-table Snakemake targets (workflow/rules/targets.smk) train only what their
tables need, each shared experiment once. Dry runs of a tiny project in a scratch folder."""

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
# A second paper of two tables beside the tiny project's baselines: its rows are baselines'
# experiments, so one of them (hrnet_w48) is shared with the baselines and trained once.
ALPHA = {"alpha_one": ["hrnet_w48_256x192"], "alpha_two": ["simplebaseline_r50_256x192"]}
TRAIN = ["hrnet_w32_256x192", "hrnet_w48_256x192", "simplebaseline_r50_256x192"]


def _project(dst: Path) -> Path:
    """The workflow and a tiny registry with the papers `baselines` and `alpha`."""
    from conftest import write_tiny_params

    from pose.stages import use_scale_stage

    for name in ("Snakefile", "dvc.yaml", "environment.yml"):
        shutil.copy(ROOT / name, dst / name)
    shutil.copytree(ROOT / "workflow", dst / "workflow")
    shutil.copytree(ROOT / "pose", dst / "pose", ignore=shutil.ignore_patterns("__pycache__"))
    (dst / "runs/speed").mkdir(parents=True)
    params = write_tiny_params(dst)
    baselines = yaml.safe_load((params / "papers/baselines.yaml").read_text())
    for table, experiments in ALPHA.items():
        rows = [r for r in baselines["rows"] if r["experiment"] in experiments]
        spec = {**baselines, "title": f"Alpha Table {table[-3:]}", "rows": rows}
        (params / "papers" / f"{table}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    (params / "tables.yaml").write_text(yaml.safe_dump({"tables": ["baselines", *ALPHA]}))
    scales = yaml.safe_load((params / "scales.yaml").read_text())
    scales["tiny"]["train"] = TRAIN
    (params / "scales.yaml").write_text(yaml.safe_dump(scales, sort_keys=False))
    use_scale_stage(params, "tiny")
    return dst


def _trained(work: Path, *targets: str) -> list[str]:
    """The experiments a dry run of `targets` trains, one entry per train job."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(["snakemake", "-n", *targets], cwd=work, env=env,
                          capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    blocks = re.findall(r"rule train:\n(.*?)(?=\n\S|\Z)", out, flags=re.S)
    return sorted(re.search(r"wildcards: experiment=(\S+)", b).group(1) for b in blocks)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _project(tmp_path_factory.mktemp("targets"))


def test_paper_target_trains_only_its_tables_experiments(work: Path) -> None:
    assert _trained(work, "paper_alpha") == sorted(ALPHA["alpha_one"] + ALPHA["alpha_two"])


def test_table_target_trains_only_its_rows(work: Path) -> None:
    assert _trained(work, "table_alpha_one") == ALPHA["alpha_one"]


def test_shared_experiment_is_trained_once_for_two_papers(work: Path) -> None:
    assert _trained(work, "paper_alpha", "paper_baselines") == sorted(TRAIN)
