"""The preflight scale end to end, as a user runs it before a cluster run: every experiment of the
registry at paper size through Snakemake on the synthetic stand-in, then every table and the
report with its Preflight section. This is the CPU check of every full-scale code path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from workflow.test_workflow import ROOT, _run, _workflow_copy


@pytest.mark.slow
def test_snakemake_preflight_runs_every_experiment_at_paper_size(tmp_path: Path) -> None:
    work = _workflow_copy(tmp_path, tiny=False)
    shutil.copytree(ROOT / "slurm", work / "slurm")  # the site's GPU memory
    # the complexity columns are committed; the check is about training and evaluation
    shutil.copytree(ROOT / "runs/complexity", work / "runs/complexity")
    out = _run(["snakemake", "--cores", "2", "--config", "scale=preflight",
                "dataset=synthetic"], work, timeout=2400)
    registry = yaml.safe_load((work / "params/experiments.yaml").read_text())["experiments"]
    scales = yaml.safe_load((work / "params/scales.yaml").read_text())
    ddp = set(scales["preflight"]["cpu_ddp"]["experiments"])
    records = {}
    for name in registry:
        path = work / f"runs/preflight/{name}/resources.json"
        assert path.is_file(), f"{name}: no resources.json\n{out[-3000:]}"
        records[name] = json.loads(path.read_text())
    failed = {k: v["error"] for k, v in records.items() if v["status"] != "ran"}
    assert not failed, failed
    for name, record in records.items():
        assert record["dataset"] == "synthetic"
        assert record["processes"] == (2 if name in ddp else 1), name
        assert record["steps"] == 2, name
        assert record["checkpoint_mb"]["last"] > record["checkpoint_mb"]["model"] > 0, name
        assert not (work / f"runs/preflight/{name}/model.pth").exists(), name
        memory = record["gpu_memory"]
        assert memory["total_gb"] > memory["parts_gb"]["parameters"] > 0, name
        evaluation = json.loads((work / f"runs/preflight/{name}/eval.json").read_text())
        assert evaluation["scale"] == "preflight" and evaluation["epochs"] == 1, name
    index = (work / "reports/index.md").read_text()
    assert f"{len(registry)} of {len(registry)} experiments ran at paper size" in index
    assert "none failed" in index
    assert sum(line.startswith("| `") and "| ran |" in line
               for line in index.splitlines()) == len(registry)
    summary = json.loads((work / "runs/preflight/preflight_passed.json").read_text())
    assert (summary["ran"], summary["failed"]) == (len(registry), {})
    tables = yaml.safe_load((work / "params/tables.yaml").read_text())["tables"]
    for table in tables:
        built = json.loads((work / f"reports/tables/{table}.json").read_text())
        assert built["scale"] == "preflight"
