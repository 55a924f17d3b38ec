"""reports/results.csv: one row per training (experiment x seed) with its figures."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pose.config import load_registry
from pose.errors import DataError
from pose.report.claims_plot import draw_forest, draw_scatter, scatter_points
from pose.report.papers import paper_groups
from pose.report.results_frame import results_frame, seed_summary, write_results_csv
from pose.report.tables import table_rows

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def registry():
    return load_registry(ROOT / "params", check_pipeline=False)


def _eval(runs: Path, run: str, ap: float, scale: str = "smoke") -> None:
    folder = runs / scale / run
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "eval.json").write_text(json.dumps({
        "experiment": run, "scale": scale, "dataset": "synthetic", "boxes": "detections",
        "input": "128x96", "flip_test": True, "epochs": 18, "AP": ap, "AP50": 0.7,
        "APM": -1.0}))
    (folder / "train_log.csv").write_text("epoch,loss,val_ap,lr,seconds\n1,0.1,,0.001,1800\n"
                                          "2,0.05,0.3,0.001,1800\n")


def test_one_row_per_seed_run_with_percent_stats_and_cost(registry, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    _eval(runs, "hrnet_w32_256x192", 0.30)
    _eval(runs, "hrnet_w32_256x192-seed1", 0.34)
    _eval(runs, "dnanet_w32_256x192", 0.25)
    # a record of another run in the folder (copied by hand) is not this run's figure
    _eval(runs, "hrnet_w48_256x192", 0.5)
    record = runs / "smoke" / "hrnet_w48_256x192" / "eval.json"
    record.write_text(record.read_text().replace('"hrnet_w48_256x192"', '"other"'))
    (runs / "complexity").mkdir()
    (runs / "complexity" / "hrnet_w32_256x192.json").write_text(json.dumps(
        {"params": 28536113, "gflops_paper": 7.12, "gmacs": 7.65}))
    frame = results_frame(registry, "smoke", runs, commit="abc123")
    assert list(frame["run"]) == ["hrnet_w32_256x192", "hrnet_w32_256x192-seed1",
                                  "dnanet_w32_256x192"]
    w32 = frame[frame["experiment"] == "hrnet_w32_256x192"]
    assert list(w32["seed"]) == [0, 1] and list(w32["AP"]) == [30.0, 34.0]
    assert w32["APM"].isna().all()  # pycocotools' -1: no ground truth in the range
    assert w32["params_m"].iloc[0] == pytest.approx(28.536113)
    assert w32["device_hours"].iloc[0] == pytest.approx(1.0)  # 2 x 1800 s on one CPU
    assert (frame["commit"] == "abc123").all()
    summary = seed_summary(frame, "AP")
    assert summary.loc["hrnet_w32_256x192", "mean"] == pytest.approx(32.0)
    assert summary.loc["hrnet_w32_256x192", "count"] == 2
    assert pd.isna(summary.loc["dnanet_w32_256x192", "std"])
    out = write_results_csv(frame, tmp_path / "reports" / "results.csv")
    back = pd.read_csv(out)
    assert list(back["AP"]) == [30.0, 34.0, 25.0] and "gmacs" in back.columns
    assert not list(out.parent.glob(".*"))  # nothing half-written left beside it


def test_paper_against_reproduced_points_and_figures(registry, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    _eval(runs, "hrnet_w32_256x192", 0.30)
    _eval(runs, "hrnet_w32_256x192-seed1", 0.34)
    frame = results_frame(registry, "smoke", runs)
    group = next(g for g in paper_groups(registry) if g.key == "baselines")
    points = scatter_points(registry, group, frame)
    w32 = [p for p in points if p["label"].startswith("HRNet-W32")]
    assert w32 and w32[0]["mean"] == pytest.approx(32.0) and w32[0]["seeds"] == 2
    assert w32[0]["std"] == pytest.approx(2.8284, abs=1e-3)
    result = {"scale": "smoke", "datasets": ["synthetic"], "synthetic": True,
              "interval": "difference +- 2 standard errors"}
    fig = draw_scatter("Baselines", points, result)
    assert "synthetic" in fig.axes[0].get_title()
    claims = [{"claim": "W48 beats W32", "paper_delta": 0.7, "metric": "ap",
               "as_published": {"verdict": "reproduced", "delta": 1.0, "interval": [0.2, 1.8]}}]
    forest = draw_forest("Baselines", claims, result).axes[0]
    assert len(forest.containers) == 1  # one reproduced difference with its interval


def test_a_tables_row_is_the_mean_of_its_seed_runs_in_the_results_frame(
        registry, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    _eval(runs, "hrnet_w32_256x192", 0.30)
    _eval(runs, "hrnet_w32_256x192-seed1", 0.34)
    rows = {r["experiment"]: r for r in table_rows(registry, "baselines", "smoke", runs)}
    w32 = rows["hrnet_w32_256x192"]["reproduced"]
    frame = results_frame(registry, "smoke", runs)
    assert w32["ap"] == pytest.approx(frame[frame["experiment"] == "hrnet_w32_256x192"]
                                      ["AP"].mean()) == pytest.approx(32.0)
    assert w32["seeds"] == 2 and w32["ap_runs"] == [30.0, 34.0]
    assert w32["ap_std"] == pytest.approx(2.8284, abs=1e-4)
    assert w32["ap50"] == pytest.approx(70.0) and w32["apm"] is None  # -1: no ground truth
    assert rows["hrnet_w48_256x192"]["reproduced"] is None  # no eval.json: not run
    # a seed's record that is not that run's is refused, naming the file
    record = runs / "smoke" / "hrnet_w32_256x192-seed1" / "eval.json"
    record.write_text(record.read_text().replace('"smoke"', '"full"'))
    with pytest.raises(DataError, match="hrnet_w32_256x192-seed1/eval.json: .scale. should be"):
        table_rows(registry, "baselines", "smoke", runs)
