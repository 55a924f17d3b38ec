"""The plan beside the runs: at a scale that trains on GPUs, what `pose plan` estimated for each
experiment (the same figures the workflow derived the jobs' time limits from) beside the training
time its train_log.csv records, so a site sees how far its declared throughput was off."""

from __future__ import annotations

from pathlib import Path

from pose.config import Registry
from pose.report.gpu_hours import logged_training
from pose.report.gpu_hours_render import hours_cell
from pose.report.tables import MISSING_PAPER, markdown_table

TITLE = "The plan beside the runs"
COLUMNS = (
    ("Experiment", "l"), ("GPUs", "r"), ("Throughput from", "l"), ("Planned GPU-hours", "r"),
    ("Planned wall-hours", "r"), ("Logged wall-hours", "r"), ("Logged / planned", "r"),
)


def plan_rows(registry: Registry, scale: str, runs_dir: Path, profile: Path) -> list[dict]:
    """One row per trained experiment of the plan, with the run's logged hours where it ran."""
    from pose.plan import plan
    from pose.site import load_site

    result = plan(registry, scale, load_site(profile), runs_dir)
    rows = []
    for name, est in result["experiments"].items():
        logged = logged_training(runs_dir, scale, name)
        rows.append({"experiment": name, "gpus": est["gpus"], "source": est["source"],
                     "gpu_hours": est["gpu_hours"], "wall_hours": est["wall_hours"],
                     "logged_hours": logged["hours"] if logged else None})
    return rows


def _ratio(row: dict) -> str:
    if row["logged_hours"] is None or not row["wall_hours"]:
        return MISSING_PAPER
    return f"{row['logged_hours'] / row['wall_hours']:.2f}"


def plan_section(registry: Registry, scale: str, runs_dir: Path, profile: Path) -> str | None:
    """The section's Markdown; None at a scale that trains on the CPU or without a site."""
    if registry.scale(scale).device != "cuda" or not profile.is_file():
        return None
    rows = plan_rows(registry, scale, runs_dir, profile)
    cells = [[f"`{r['experiment']}`", str(r["gpus"]), r["source"], hours_cell(r["gpu_hours"]),
              hours_cell(r["wall_hours"]), hours_cell(r["logged_hours"]), _ratio(r)]
             for r in rows]
    caption = (f"`pose plan --scale {scale}` with the site block of `{profile}`: throughput from "
               "`bench` (measured by `pose bench-train` on the site's GPU) or `flops` (the "
               "model's FLOPs and the site's declared `gpu_tflops`). The workflow derives each "
               "job's time limit from the planned wall-hours. Logged wall-hours sum the "
               "`seconds` of the run's train_log.csv.")
    return "\n".join([f"### {TITLE}", "", *markdown_table(COLUMNS, cells), "", caption, ""])
