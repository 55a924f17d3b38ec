"""The whole reproduction as one tidy table: reports/results.csv.

One row per training (experiment x seed) a scale ran, with every figure it produced (the COCO
stats in percent, PCKh on MPII, top-k error for classifiers), the paper-size model's complexity,
its epochs, logged device-hours and where it comes from (dataset, boxes, commit). The claims
check and its plots are computed from this frame with pandas, and a reader loads the whole
reproduction in one line: `pandas.read_csv("reports/results.csv")`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pose.config import PCKH_COLUMNS, Registry, format_input, split_run_id
from pose.io import atomic_path, read_json_object
from pose.report.gpu_hours import logged_training
from pose.report.tables import EVAL_METRICS, complexity_path, eval_path

# The figure of each claim metric in the frame (params/claims.yaml `metric`)
METRIC_COLUMNS = {"ap": "AP", "pckh": "PCKh_Mean", "top1_error": "top1_error"}
IDENTITY = ("scale", "experiment", "run", "seed", "model", "recipe", "dataset", "boxes", "input",
            "flip_test", "epochs")


def _run_row(registry: Registry, run: str, scale: str, runs_dir: Path) -> dict | None:
    """One training's row, or None when it has no evaluation at this scale yet."""
    ev = read_json_object(eval_path(runs_dir, scale, run))
    if ev is None or ev.get("experiment") != run or ev.get("scale") != scale:
        return None  # not evaluated, or a record of another run
    experiment = split_run_id(run)[0] if run not in registry.experiments else run
    exp = registry.resolve(run, scale)
    row: dict = {"scale": scale, "experiment": experiment, "run": run, "seed": exp.seed,
                 "model": exp.model_name, "recipe": registry.experiments[experiment].recipe,
                 "dataset": ev.get("dataset"), "boxes": ev.get("boxes"),
                 "input": ev.get("input") or format_input(exp.input_hw),
                 "flip_test": ev.get("flip_test"), "epochs": ev.get("epochs")}
    for key in EVAL_METRICS:  # COCO stats as fractions -> percent (-1: no ground truth)
        value = ev.get(key)
        row[key] = round(value * 100, 4) if isinstance(value, int | float) and value >= 0 \
            else None
    for key in PCKH_COLUMNS:
        row[f"PCKh_{key}"] = ev.get(key)
    row["top1_error"] = ev.get("top1_error")
    row["top5_error"] = ev.get("top5_error")
    cx = read_json_object(complexity_path(runs_dir, experiment)) or {}
    row["params_m"] = cx["params"] / 1e6 if "params" in cx else None
    row["gflops"] = cx.get("gflops_paper")
    row["gmacs"] = cx.get("gmacs")
    logged = logged_training(runs_dir, scale, run)
    devices = exp.gpus if exp.device == "cuda" else 1
    row["device"] = exp.device
    row["device_hours"] = logged["hours"] * devices if logged else None
    return row


def results_frame(registry: Registry, scale: str, runs_dir: Path = Path("runs"),
                  commit: str | None = None) -> pd.DataFrame:
    """Every evaluated training of the scale (each experiment's seed runs), in registry order."""
    rows = [row for run in registry.trained_runs(scale)
            if (row := _run_row(registry, run, scale, Path(runs_dir))) is not None]
    frame = pd.DataFrame(rows, columns=_columns())
    frame["commit"] = commit
    return frame


def _columns() -> list[str]:
    return [*IDENTITY, *EVAL_METRICS, *(f"PCKh_{k}" for k in PCKH_COLUMNS), "top1_error",
            "top5_error", "params_m", "gflops", "gmacs", "device", "device_hours"]


def write_results_csv(frame: pd.DataFrame, out: Path) -> Path:
    """reports/results.csv, written whole or not at all."""
    with atomic_path(out) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")
    return out


def seed_summary(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per experiment: the mean of `column` over its seeds, their sample std (NaN with one
    seed) and how many there are."""
    values = frame.dropna(subset=[column])
    return values.groupby("experiment", sort=False)[column].agg(["mean", "std", "count"])


def coco_seed_stats(frame: pd.DataFrame, experiment: str) -> dict:
    """An experiment's COCO stats over its seed runs, keyed as the tables print them ("ap",
    "ap50", ...): each stat's mean, and with several runs `seeds`, each run's AP (`ap_runs`)
    and the sample standard deviation of AP (`ap_std`), what a reader needs to tell a
    difference from seed noise."""
    runs = frame[frame["experiment"] == experiment]
    out = {key.lower(): None if runs[key].isna().any() else round(float(runs[key].mean()), 4)
           for key in EVAL_METRICS}
    if len(runs) > 1:
        summary = seed_summary(runs, "AP").loc[experiment]
        out.update(seeds=len(runs), ap_runs=[float(v) for v in runs["AP"]],
                   ap_std=round(float(summary["std"]), 4))
    return out
