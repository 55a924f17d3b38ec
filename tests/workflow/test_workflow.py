"""The workflow engines: Snakemake and DVC drive the same `pose` stages from params/."""

from __future__ import annotations

import json
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
# The tiny scale (tests/conftest.py) does not train this one: it gets complexity, no training.
UNTRAINED = "simplebaseline_r50_256x192"


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
    """The files a workflow run needs, in a scratch directory."""
    from conftest import write_tiny_params

    for name in ("Snakefile", "dvc.yaml", "environment.yml"):
        shutil.copy(ROOT / name, dst / name)
    shutil.copytree(ROOT / "workflow", dst / "workflow")
    shutil.copytree(ROOT / "pose", dst / "pose", ignore=shutil.ignore_patterns("__pycache__"))
    # a clone's tracked folder of the speed records (dvc.yaml's table stage depends on it)
    (dst / "runs/speed").mkdir(parents=True)
    shutil.copy(ROOT / "runs/speed/.gitkeep", dst / "runs/speed/.gitkeep")
    if tiny:
        write_tiny_params(dst)
    else:
        shutil.copytree(ROOT / "params", dst / "params")
    return dst


# The one lint the workflow keeps: its software is the project's venv, which every job runs
# `pose` from (the Snakefile's shell prefix), not a per-rule conda environment.
SOFTWARE_LINT = "Specify a conda environment or container for each rule."


def test_snakemake_lint_is_clean(tmp_path: Path) -> None:
    proc = subprocess.run(["snakemake", "--lint"], cwd=_workflow_copy(tmp_path, tiny=False),
                          env=_env(), capture_output=True, text=True, timeout=300)  # fmt: skip
    out = proc.stdout + proc.stderr
    lints = set(re.findall(r"^\s+\* (.+?):$", out, flags=re.M))
    assert lints == {SOFTWARE_LINT}, out[-4000:]
    assert "Lints for snakefile" not in out, out[-4000:]


def test_full_scale_dry_run_lists_one_gpu_training_per_experiment(tmp_path: Path) -> None:
    """A full-scale run per dataset: COCO's trains every COCO experiment once, MPII's and
    ImageNet's (DANet Table X) the rest; together every experiment, each with its GPU request."""
    work = _workflow_copy(tmp_path, tiny=False)
    experiments = yaml.safe_load((work / "params/experiments.yaml").read_text())["experiments"]
    out = ""
    for dataset in ("coco", "mpii", "imagenet"):
        run = _run(["snakemake", "-n", "--config", "scale=full", f"dataset={dataset}"], work)
        blocks = re.findall(r"rule train:\n(.*?)(?=\n\S|\Z)", run, flags=re.S)
        names = [re.search(r"wildcards: experiment=(\S+)", b).group(1) for b in blocks]
        assert {experiments[e].get("dataset", "coco") for e in names} == {dataset}
        out += run
    blocks = re.findall(r"rule train:\n(.*?)(?=\n\S|\Z)", out, flags=re.S)
    trained = sorted(re.search(r"wildcards: experiment=(\S+)", b).group(1) for b in blocks)
    assert trained == sorted(experiments)
    # One throughput measurement per trained experiment, on one GPU (per-device images/s).
    assert _jobs(out, "bench_train") == trained
    for block in re.findall(r"rule bench_train:\n(.*?)(?=\n\S|\Z)", out, flags=re.S):
        assert "gpu=1" in block
    for block in blocks:
        exp = re.search(r"wildcards: experiment=(\S+)", block).group(1)
        assert f"gpu={experiments[exp]['gpus']}" in block
        assert "runs/full/" in block
    # Evaluation runs on one GPU at full scale (scales.yaml eval_device); the other stages on
    # the CPU.
    assert _jobs(out, "evaluate") == trained
    for block in re.findall(r"rule evaluate:\n(.*?)(?=\n\S|\Z)", out, flags=re.S):
        assert "gpu=1" in block
    for rule in ("complexity", "table", "report", "prepare_data"):
        for block in re.findall(rf"rule {rule}:\n(.*?)(?=\n\S|\Z)", out, flags=re.S):
            assert "gpu=0" in block


def _jobs(dry_run: str, rule: str) -> list[str]:
    """The experiments `snakemake -n` lists a job of `rule` for."""
    blocks = re.findall(rf"rule {rule}:\n(.*?)(?=\n\S|\Z)", dry_run, flags=re.S)
    return sorted(re.search(r"wildcards: experiment=(\S+)", b).group(1) for b in blocks)


def test_stale_pipeline_stops_snakemake_at_its_scale_only(tmp_path: Path) -> None:
    work = _workflow_copy(tmp_path, tiny=True)
    scales_file = work / "params/scales.yaml"
    scales = yaml.safe_load(scales_file.read_text())
    scales["tiny"]["train"] = [*scales["tiny"]["train"], UNTRAINED]
    scales_file.write_text(yaml.safe_dump(scales, sort_keys=False))
    proc = subprocess.run(["snakemake", "-n"], cwd=work, env=_env(), capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert proc.returncode != 0 and "pose use-scale tiny" in proc.stdout + proc.stderr
    # The Slurm profile's scale takes its selection from the registry: the file is not in the way.
    _run(["snakemake", "-n", "--config", "scale=full", "dataset=coco"], work)
    _run(["pose", "use-scale", "tiny"], work)
    assert UNTRAINED in _jobs(_run(["snakemake", "-n"], work), "train")


def test_both_engines_benchmark_each_trained_experiment_before_the_report(tmp_path: Path) -> None:
    """One bench-train job (Snakemake) and one bench@ stage (DVC) per trained experiment, none for
    an untrained one, and the report waits for every bench.json."""
    from conftest import TINY_TRAIN

    work = _workflow_copy(tmp_path, tiny=True)
    dry_run = _run(["snakemake", "-n"], work)
    assert _jobs(dry_run, "bench_train") == sorted(TINY_TRAIN)
    for block in re.findall(r"rule bench_train:\n(.*?)(?=\n\S|\Z)", dry_run, flags=re.S):
        assert "gpu=0" in block  # the tiny scale runs on the CPU
    report = re.search(r"rule report:\n\s+input: (.*)", dry_run).group(1).split(", ")
    assert sorted(f for f in report if f.endswith("bench.json")) == sorted(
        f"runs/tiny/{e}/bench.json" for e in TINY_TRAIN)

    _run(["dvc", "init", "--no-scm", "-q"], work)
    stages = _run(["dvc", "stage", "list"], work)
    bench = sorted(re.findall(r"^bench@(\S+)", stages, flags=re.M))
    assert bench == sorted(TINY_TRAIN) and UNTRAINED not in bench
    for exp in TINY_TRAIN:
        assert f"runs/tiny/{exp}/bench.json" in stages
    dag = _run(["dvc", "dag", "--dot"], work)
    for exp in TINY_TRAIN:
        assert f'"bench@{exp}" -> "report"' in dag


def _two_seeds_of(work: Path, experiment: str) -> None:
    """The tiny scale trains `experiment` with two seeds (the claims check's noise)."""
    scales_file = work / "params/scales.yaml"
    scales = yaml.safe_load(scales_file.read_text())
    scales["tiny"]["seeds"] = {"experiments": {experiment: 2}}
    scales_file.write_text(yaml.safe_dump(scales, sort_keys=False))
    _run(["pose", "use-scale", "tiny"], work)


@pytest.mark.slow
def test_snakemake_runs_the_pipeline_end_to_end(tmp_path: Path) -> None:
    from conftest import TINY_TRAIN

    work = _workflow_copy(tmp_path, tiny=True)
    seeded = f"{TINY_TRAIN[0]}-seed1"
    _two_seeds_of(work, TINY_TRAIN[0])
    dry_run = _run(["snakemake", "-n"], work)
    assert _jobs(dry_run, "train") == _jobs(dry_run, "evaluate") == sorted([*TINY_TRAIN, seeded])
    assert _jobs(dry_run, "bench_train") == sorted(TINY_TRAIN)  # throughput: once per experiment
    assert UNTRAINED in _jobs(dry_run, "complexity")
    _run(["snakemake", "--cores", "2"], work)
    # the seed run, its own seed; the table shows the mean and spread of the two
    seed_run = yaml.safe_load((work / "runs/tiny" / seeded / "config.yaml").read_text())
    assert (seed_run["name"], seed_run["seed"]) == (seeded, 1)
    assert json.loads((work / "runs/tiny" / seeded / "eval.json").read_text())["experiment"] \
        == seeded
    table = json.loads((work / "reports/tables/baselines.json").read_text())
    seeded_row = next(r for r in table["rows"] if r["experiment"] == TINY_TRAIN[0])
    assert seeded_row["reproduced"]["seeds"] == 2 and len(seeded_row["reproduced"]["ap_runs"]) == 2
    assert "2 seeds" in (work / "reports/tables/baselines.md").read_text()
    results = (work / "reports/results.csv").read_text().splitlines()
    assert len(results) == 1 + len(TINY_TRAIN) + 1 and seeded in "\n".join(results)
    metrics = json.loads((work / "reports/metrics.json").read_text())
    assert metrics[TINY_TRAIN[0]]["seeds"] == 2 and "AP_std" in metrics[TINY_TRAIN[0]]
    claims = json.loads((work / "reports/claims.json").read_text())
    assert claims["synthetic"] and claims["noise"]["ap"]["pooled_from"] == [TINY_TRAIN[0]]
    checked = [c for c in claims["claims"]
               if c["as_published"]["verdict"] != "not trained at this scale"]
    assert checked, "no claim between the tiny scale's experiments was checked"
    assert (work / "reports/plots/claims_baselines.png").stat().st_size > 0
    assert (work / "reports/plots/paper_vs_reproduced_baselines.svg").stat().st_size > 0
    _check_html_report(work)
    index = (work / "reports/index.md").read_text()
    assert "Baselines" in index and "HRNet-W32" in index
    for exp in TINY_TRAIN:
        assert (work / "runs/tiny" / exp / "eval.json").is_file()
    assert not (work / "runs/tiny" / UNTRAINED).exists()
    assert (work / "runs/complexity" / f"{UNTRAINED}.json").is_file()
    table = json.loads((work / "reports/tables/baselines.json").read_text())
    row = next(r for r in table["rows"] if r["experiment"] == UNTRAINED)
    assert not row["trained"] and row["complexity"]["params_m"] > 0
    assert any(f"`{UNTRAINED}`" in line and "| not trained at tiny scale |" in line
               for line in index.splitlines())  # fmt: skip
    assert (work / "reports/plots/training.png").stat().st_size > 0
    # Nothing left to do: a second run is a no-op.
    out = _run(["snakemake", "--cores", "2", "-n"], work)
    assert "Nothing to be done" in out
    # Results without their weights (a clone: model.pth is a DVC output) are re-made: that
    # experiment trains and evaluates again, the other is kept.
    (work / "runs/tiny" / TINY_TRAIN[0] / "model.pth").unlink()
    out = _run(["snakemake", "--cores", "2", "-n"], work)
    assert _jobs(out, "train") == _jobs(out, "evaluate") == [TINY_TRAIN[0]]


def _check_html_report(work: Path) -> None:
    """`snakemake --report` holds every table and figure, each with its caption, by paper."""
    import zipfile

    _run(["snakemake", "--report", "report.zip"], work)
    with zipfile.ZipFile(work / "report.zip") as archive:
        names = archive.namelist()
        text = "\n".join(archive.read(n).decode("utf-8", "replace") for n in names
                         if n.endswith((".html", ".js", ".json")))
    from pose.config import load_registry
    from pose.report.figures import planned_figures

    figures = planned_figures(load_registry(work / "params"), "tiny")
    assert figures, "no paper figure planned at the tiny scale"
    for wanted in (*[f"reports/plots/{f.name}.png" for f in figures],
                   "reports/tables/baselines.md", "reports/plots/training.png",
                   "reports/plots/claims_baselines.png",
                   "reports/plots/paper_vs_reproduced_baselines.png",
                   "reports/results.csv", "reports/claims.md"):
        # the archive keeps each file's name under report/data/raw/<hash>/
        assert any(n.endswith("/" + Path(wanted).name) for n in names), \
            f"{wanted} not in the report: {names}"
    # captions: the table's title, and the claims' caption; the paper's category
    assert "Baselines" in text and "the paper's figures beside" in text
    assert "forest plot" in text and "Claims" in text
    assert all(f.caption.split()[0] in text for f in figures)  # each figure's description


def _stages_run(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


@pytest.mark.slow
def test_dvc_repro_reruns_only_the_edited_experiment(tmp_path: Path) -> None:
    work = _workflow_copy(tmp_path, tiny=True)
    _run(["git", "init", "-q"], work)
    _run(["dvc", "init", "-q"], work)
    shutil.copy(ROOT / ".dvcignore", work / ".dvcignore")
    dag, status = _run(["dvc", "dag", "--dot"], work), _run(["dvc", "status"], work)
    for listing in (dag, status):
        assert "train@hrnet_w32_256x192" in listing and f"complexity@{UNTRAINED}" in listing
        assert f"train@{UNTRAINED}" not in listing and f"evaluate@{UNTRAINED}" not in listing
    first = _stages_run(_run(["dvc", "repro"], work))
    assert {"data@synthetic", "train@hrnet_w32_256x192", "evaluate@hrnet_w48_256x192",
            "report"} <= first
    assert f"complexity@{UNTRAINED}" in first and f"train@{UNTRAINED}" not in first
    table = json.loads((work / "reports/tables/baselines.json").read_text())
    assert [r["trained"] for r in table["rows"] if r["experiment"] == UNTRAINED] == [False]
    assert "Data and pipelines are up to date" in _run(["dvc", "status"], work)

    experiments_file = work / "params/experiments.yaml"
    data = yaml.safe_load(experiments_file.read_text())
    data["experiments"]["hrnet_w48_256x192"]["seed"] = 7
    experiments_file.write_text(yaml.safe_dump(data, sort_keys=False))
    _run(["pose", "use-scale", "tiny"], work)  # the train stage's trigger: its train_hash

    second = _stages_run(_run(["dvc", "repro"], work))
    # Every table reads runs/<scale>/ as a whole, so each is rebuilt (cheap); no other experiment
    # is trained or evaluated again.
    tables = yaml.safe_load((work / "params/tables.yaml").read_text())["tables"]
    assert second == {
        "train@hrnet_w48_256x192",
        "evaluate@hrnet_w48_256x192",
        "report",
        *(f"table@{t}" for t in tables),
    }
    metrics = _run(["dvc", "metrics", "show"], work)
    assert "reports/metrics.json" in metrics and "hrnet_w48_256x192.AP" in metrics


@pytest.mark.slow
def test_dvc_commit_after_a_snakemake_run_leaves_dvc_repro_nothing_to_do(tmp_path: Path) -> None:
    """Snakemake and DVC write the same files: after a Snakemake run, `dvc commit` records them
    in dvc.lock and `dvc repro` runs no stage."""
    from conftest import TINY_TRAIN

    work = _workflow_copy(tmp_path, tiny=True)
    _run(["git", "init", "-q"], work)
    _run(["dvc", "init", "-q"], work)
    shutil.copy(ROOT / ".dvcignore", work / ".dvcignore")
    _run(["snakemake", "--cores", "2"], work)
    assert (work / "reports/index.md").is_file()
    assert not (work / "dvc.lock").exists()

    _run(["dvc", "commit", "--force"], work)
    locked = set(yaml.safe_load((work / "dvc.lock").read_text())["stages"])
    assert {"data@synthetic", "report", f"complexity@{UNTRAINED}"} <= locked
    assert {f"{stage}@{exp}" for exp in TINY_TRAIN for stage in ("train", "evaluate")} <= locked
    assert "Data and pipelines are up to date" in _run(["dvc", "status"], work)
    out = _run(["dvc", "repro"], work)
    assert _stages_run(out) == set(), out[-4000:]
    assert "didn't change, skipping" in out


def test_full_scale_fetches_each_source_once_and_submits_test_dev(tmp_path: Path) -> None:
    """The full scale's fetch jobs are COCO's folders, the detection file and the checkpoints its
    models start from; the test-dev target adds the test-dev sources and one submission per
    trained experiment of a test-dev table."""
    from pose.config import load_registry

    work = _workflow_copy(tmp_path, tiny=False)
    config = ["--config", "scale=full", "dataset=coco"]
    out = _run(["snakemake", "-n", *config], work)
    assert sorted(re.findall(r"rule fetch_(\w+):", out)) == sorted([
        "coco_train2017", "coco_val2017", "coco_annotations", "coco_detections",
        "imagenet_hrnet", "imagenet_resnet"])
    out = _run(["snakemake", "-n", "test_dev_submissions", *config], work)
    assert {"coco_test2017", "coco_test_dev_detections"} <= set(
        re.findall(r"rule fetch_(\w+):", out))
    blocks = re.findall(r"rule predict_test_dev:\n(.*?)(?=\n\S|\Z)", out, flags=re.S)
    submitted = sorted(re.search(r"wildcards: experiment=(\S+)", b).group(1) for b in blocks)
    registry = load_registry(work / "params", check_pipeline=False)
    assert submitted == sorted(registry.test_dev_experiments("full"))
    assert "frsbn_r34_384x288" in submitted and "danet_72_256x192" in submitted


def test_full_scale_mpii_run_fetches_mpii_and_writes_test_predictions(tmp_path: Path) -> None:
    work = _workflow_copy(tmp_path, tiny=False)
    out = _run(["snakemake", "-n", "mpii_test_submissions", "--config", "scale=full",
                "dataset=mpii"], work)
    assert sorted(re.findall(r"rule fetch_(\w+):", out)) == ["mpii_annotations", "mpii_images"]
    blocks = re.findall(r"rule predict_mpii_test:\n(.*?)(?=\n\S|\Z)", out, flags=re.S)
    assert sorted(re.search(r"wildcards: experiment=(\S+)", b).group(1) for b in blocks) == [
        f"danet_{d}_mpii_256x256" for d in (102, 72, 88, 98)]
