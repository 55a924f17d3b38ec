"""The report's plan beside the runs: planned hours from `pose plan`, logged hours from a run."""

from __future__ import annotations

import shutil
from pathlib import Path

from pose.config import load_registry
from pose.plan import plan
from pose.report.plan_section import TITLE, plan_rows, plan_section
from pose.report.plots import LOG_COLUMNS
from pose.site import load_site

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "slurm" / "config.yaml"


def test_a_logged_run_stands_beside_its_planned_hours(tmp_path: Path):
    registry = load_registry(ROOT / "params", check_pipeline=False)
    runs = tmp_path / "runs"
    shutil.copytree(ROOT / "runs" / "complexity", runs / "complexity")
    run = runs / "full" / "hrnet_w32_256x192"
    run.mkdir(parents=True)
    # two epochs of 1.5 h and 2.5 h: 4 logged hours
    (run / "train_log.csv").write_text(",".join(LOG_COLUMNS) + "\n1,0.5,,0.001,5400\n"
                                       "2,0.4,0.7,0.001,9000\n")
    rows = {r["experiment"]: r for r in plan_rows(registry, "full", runs, PROFILE)}
    planned = plan(registry, "full", load_site(PROFILE), runs)["experiments"]
    assert set(rows) == set(planned)
    row = rows["hrnet_w32_256x192"]
    assert row["logged_hours"] == 4.0
    assert row["wall_hours"] == planned["hrnet_w32_256x192"]["wall_hours"] > 0
    assert all(r["logged_hours"] is None for n, r in rows.items() if n != row["experiment"])

    text = plan_section(registry, "full", runs, PROFILE)
    line = next(x for x in text.splitlines() if x.startswith("| `hrnet_w32_256x192`"))
    assert f"| {4.0 / row['wall_hours']:.2f} |" in line and "| flops |" in line
    assert text.startswith(f"### {TITLE}")


def test_no_plan_at_a_cpu_scale_or_without_a_site(tmp_path: Path):
    registry = load_registry(ROOT / "params", check_pipeline=False)
    assert plan_section(registry, "smoke", ROOT / "runs", PROFILE) is None
    assert plan_section(registry, "full", ROOT / "runs", tmp_path / "none.yaml") is None
