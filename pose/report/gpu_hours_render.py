"""The training-cost section of the report as Markdown: one row per paper, then one per
experiment, with a caption saying where the throughput was measured and how far it can be read
(a smoke figure is the shrunk model on the CPU, never a GPU estimate of a paper)."""

from __future__ import annotations

from pose.config import Registry
from pose.report.gpu_hours import ALL_PAPERS
from pose.report.tables import MISSING_PAPER, escape_cell, markdown_table

TITLE = "Training cost per paper (estimated device-hours)"
DETAIL_TITLE = "Training cost per experiment"
NOT_MEASURED = "not measured"

PAPER_COLUMNS = (
    ("Paper", "l"), ("Tables", "l"), ("Experiments", "r"), ("Measured", "r"),
    ("Est. device-hours", "r"), ("Est. wall-hours", "r"), ("Logged training hours", "r"),
    ("Measured on", "l"),
)
EXPERIMENT_COLUMNS = (
    ("Experiment", "l"), ("Model", "l"), ("Input", "l"), ("GPUs", "r"), ("Batch / device", "r"),
    ("Epochs", "r"), ("Images/s / device", "r"), ("Data wait", "r"), ("Est. device-hours", "r"),
    ("Est. wall-hours", "r"), ("Logged training hours", "r"), ("Note", "l"),
)


def hours_cell(hours: float | None, missing: str = MISSING_PAPER) -> str:
    """Three significant figures below 100 h (smoke runs last minutes), whole hours above."""
    if hours is None:
        return missing
    return f"{hours:,.0f}" if hours >= 100 else f"{hours:#.3g}"


def paper_cells(total: dict) -> list[str]:
    name = escape_cell(total["paper"])
    runs = total["logged_experiments"]
    logged = (MISSING_PAPER if total["logged_hours"] is None else
              f"{hours_cell(total['logged_hours'])} ({runs} {'run' if runs == 1 else 'runs'})")
    return [
        f"**{name}**" if total["paper"] == ALL_PAPERS else name,
        ", ".join(f"`{t}`" for t in total["tables"]) if total["tables"] else "all",
        str(total["experiments"]),
        str(total["measured"]),
        hours_cell(total["device_hours"], NOT_MEASURED),
        hours_cell(total["wall_hours"], NOT_MEASURED),
        logged,
        escape_cell("; ".join(total["devices"])) or MISSING_PAPER,
    ]


def _logged_cell(row: dict) -> str:
    logged = row["logged"]
    if logged is None:
        return MISSING_PAPER
    partial = "" if logged["epochs"] == row["epochs"] else (
        f" ({logged['epochs']} of {row['epochs']} epochs)")
    return hours_cell(logged["hours"]) + partial


def experiment_cells(row: dict) -> list[str]:
    setup = [f"`{row['experiment']}`", row["model"], row["input"],
             str(row["gpus"]) if row["gpus"] else "0 (CPU)"]
    if not row["measured"]:
        return [*setup, MISSING_PAPER, str(row["epochs"]), MISSING_PAPER, MISSING_PAPER,
                NOT_MEASURED, NOT_MEASURED, _logged_cell(row), row["note"]]
    return [
        *setup,
        str(row["batch"]),
        str(row["epochs"]),
        f"{row['images_per_second']:.1f}",
        f"{row['data_wait_fraction'] * 100:.0f}%",
        hours_cell(row["device_hours"]),
        hours_cell(row["wall_hours"]),
        _logged_cell(row),
        "",
    ]


def _departures(registry: Registry, scale: str, cost: dict) -> tuple[list[str], bool]:
    """How the scale's measured setup departs from the papers': (shrunk parts, on the CPU)."""
    sc = registry.scale(scale)
    on_cpu = sc.device == "cpu" or any(
        r["device"] == "cpu" for r in cost["experiments"] if r["measured"])
    shrunk = [text for flag, text in (
        (sc.models, f"the shrunk {scale} models"),
        (sc.input, f"at {sc.input}"),
        (sc.dataset, f"on the `{sc.dataset}` dataset"),
    ) if flag]
    return shrunk, on_cpu


def plot_subtitle(registry: Registry, scale: str, cost: dict) -> str:
    devices = "; ".join(cost["all"]["devices"]) or "no device"
    shrunk, on_cpu = _departures(registry, scale, cost)
    caveat = " · not a GPU estimate of the papers" if shrunk or on_cpu else ""
    return f"{scale} scale · measured on {devices}{caveat}"


def scale_caveat(registry: Registry, scale: str, cost: dict) -> str:
    """What the measured models and device are at this scale, so a smoke figure on the CPU is
    never read as a GPU estimate of a paper."""
    shrunk, on_cpu = _departures(registry, scale, cost)
    if not shrunk and not on_cpu:
        return (f"At **{scale}** scale the models, inputs, datasets and recipes are the papers': "
                "the device-hours estimate what training them costs on the measured device.")
    what = " ".join(shrunk) or "the papers' models"
    where = ", measured on the CPU" if on_cpu else ""
    return (f"At **{scale}** scale these figures are for {what}{where}: they show the stage "
            "works, they are not a GPU estimate of the papers' training.")


def cost_caption(registry: Registry, scale: str, cost: dict) -> str:
    devices = cost["all"]["devices"]
    measured_on = "; ".join(devices) if devices else "no device (nothing measured yet)"
    val_every = registry.scale(scale).val_every
    return (
        f"Throughput measured by `pose bench-train` at **{scale}** scale on "
        f"{escape_cell(measured_on)}, per device at the per-device batch. Estimated device-hours = "
        f"epochs (each recipe's, at {scale} scale) × training samples ÷ images per second ÷ "
        "3600; wall-hours = device-hours ÷ the experiment's GPUs, assuming linear scaling (a "
        "run on the CPU is one process: wall-hours = device-hours). A "
        "paper sums its measured experiments; an experiment in several papers' tables counts in "
        f"each, and once in *{ALL_PAPERS}*. {scale_caveat(registry, scale, cost)} Logged "
        "training hours sum the `seconds` of each run's train_log.csv (validation every "
        f"{val_every} epochs included), beside the estimate. Rows reading *{NOT_MEASURED}* have "
        f"no bench.json at {scale} scale: experiments the scale does not train (`train` in "
        "params/scales.yaml) are never benchmarked, and no cost is estimated for them."
    )


def render_training_cost(registry: Registry, scale: str, cost: dict, plot: str | None,
                         numbers: str) -> str:
    """The section: paper totals, caption, bar plot link, per-experiment detail."""
    papers = [paper_cells(t) for t in [*cost["papers"], cost["all"]]]
    lines = [f"## {TITLE}", "", *markdown_table(PAPER_COLUMNS, papers), "",
             cost_caption(registry, scale, cost), ""]
    if plot is not None:
        lines += [f"![Estimated device-hours per paper ({scale} scale)]({plot})", ""]
    detail = [experiment_cells(r) for r in cost["experiments"]]
    lines += [f"### {DETAIL_TITLE}", "", *markdown_table(EXPERIMENT_COLUMNS, detail), "",
              f"Numbers: [{numbers}]({numbers})", ""]
    return "\n".join(lines)
