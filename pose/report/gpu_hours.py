"""Training cost per paper, estimated from measured throughput (bench.json) and each recipe's
epochs, beside the training time the runs logged.

Per trained experiment: device-hours = epochs × training samples ÷ images per second ÷ 3600,
with the per-device throughput at the per-device batch and the recipe's epochs at the scale;
wall-hours = device-hours ÷ the experiment's GPUs (linear scaling assumed; a scale that runs on
the CPU trains in one process, as the workflow's `gpu=0` jobs do). An experiment without
a bench.json at the scale is "not measured": its cost is never made up. A paper sums its measured
experiments; the last row counts an experiment shared by several papers once.
"""

from __future__ import annotations

from pathlib import Path

from pose.config import Registry, format_input
from pose.io import write_json
from pose.report.bench_records import bench_path, load_bench
from pose.report.papers import PaperGroup, paper_groups
from pose.report.plots import read_train_log, train_log_path

SECONDS_PER_HOUR = 3600.0
ALL_PAPERS = "all papers (each experiment once)"


def estimate_hours(epochs: int, train_samples: int, images_per_second: float) -> float:
    """Device-hours for `epochs` passes over `train_samples` at `images_per_second` per device."""
    return epochs * train_samples / images_per_second / SECONDS_PER_HOUR


def logged_training(runs_dir: Path, scale: str, experiment: str) -> dict | None:
    """The training time train_log.csv records (validation epochs included), or None."""
    path = train_log_path(runs_dir, scale, experiment)
    if not path.is_file():
        return None
    log = read_train_log(path, experiment)
    if not log.epochs:
        return None
    return {"hours": sum(log.seconds) / SECONDS_PER_HOUR, "epochs": len(log.epochs),
            "file": str(path)}


def experiment_cost(registry: Registry, experiment: str, scale: str, runs_dir: Path,
                    trained: bool) -> dict:
    """One experiment's row: its setup, the measured throughput and the estimate, or why not."""
    exp = registry.resolve(experiment, scale)
    gpus = exp.gpus if exp.device == "cuda" else 0  # what the training job requests
    row: dict = {
        "experiment": experiment,
        "model": exp.model_name,
        "input": format_input(exp.input_hw),
        "gpus": gpus,
        "epochs": exp.recipe.epochs,
        "trained": trained,
        "measured": False,
        "note": None if trained else f"not trained at {scale} scale",
        "logged": None,
    }
    if not trained:  # a bench.json left from an earlier selection is not this scale's figure
        return row
    path = bench_path(runs_dir, scale, experiment)
    bench = load_bench(path, exp)
    logged = logged_training(runs_dir, scale, experiment)
    row["logged"] = logged
    if bench is None:
        row["note"] = "bench-train not run"
        return row
    hours = estimate_hours(exp.recipe.epochs, bench.train_samples, bench.images_per_second)
    row.update(
        measured=True,
        batch=bench.batch,
        device=bench.device,
        device_name=bench.device_name,
        precision=bench.precision,
        images_per_second=bench.images_per_second,
        data_wait_fraction=bench.data_wait_fraction,
        train_samples=bench.train_samples,
        device_hours=hours,
        wall_hours=hours / max(gpus, 1),
        file=str(path),
    )
    return row


def group_total(name: str, rows: list[dict], tables: list[str] | None = None) -> dict:
    """Sums over the measured rows; devices as measured (several when runs were mixed)."""
    measured = [r for r in rows if r["measured"]]
    logged = [r["logged"] for r in rows if r.get("logged")]
    return {
        "paper": name,
        "tables": tables,
        "experiments": len(rows),
        "measured": len(measured),
        "device_hours": sum(r["device_hours"] for r in measured) if measured else None,
        "wall_hours": sum(r["wall_hours"] for r in measured) if measured else None,
        "logged_hours": sum(x["hours"] for x in logged) if logged else None,
        "logged_experiments": len(logged),
        "devices": sorted({f"{r['device_name']}, {r['precision']}" for r in measured}),
    }


def training_cost(registry: Registry, scale: str, runs_dir: Path) -> dict:
    """Every paper's estimated cost and each experiment's row (what the report renders)."""
    registry.scale(scale)
    trained = set(registry.trained_experiments(scale))
    groups: list[PaperGroup] = paper_groups(registry)
    order = list(dict.fromkeys(e for g in groups for e in g.experiments))
    order.sort(key=lambda e: e not in trained)  # the scale's runs first, in report order
    rows = {e: experiment_cost(registry, e, scale, Path(runs_dir), e in trained) for e in order}
    papers = [group_total(g.name, [rows[e] for e in g.experiments], g.tables) for g in groups]
    return {
        "scale": scale,
        "papers": papers,
        "all": group_total(ALL_PAPERS, list(rows.values())),
        "experiments": list(rows.values()),
    }


def write_training_cost(registry: Registry, scale: str, runs_dir: Path, json_out: Path) -> dict:
    """Compute the cost and write it as JSON beside the report (the numbers behind the page)."""
    cost = training_cost(registry, scale, runs_dir)
    write_json(json_out, cost)
    return cost
