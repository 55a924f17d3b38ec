"""Training curves: loss and validation AP per epoch, one line per experiment with a train log.

Drawn on an explicit Agg canvas (no pyplot state, works headless) and saved with fixed SVG ids and
no timestamps, so an unchanged set of logs gives byte-identical plots for DVC/Snakemake.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FormatStrFormatter, MaxNLocator
from matplotlib.transforms import blended_transform_factory

from pose.config import Registry
from pose.errors import DataError
from pose.io import atomic_path
from pose.report.tables import table_order

LOG_COLUMNS = ("epoch", "loss", "val_ap", "lr", "seconds")
PLOT_STEM = "training"
DPI = 120


@dataclass(frozen=True)
class TrainLog:
    """One experiment's per-epoch log (val AP as a fraction, None where not validated)."""

    experiment: str
    epochs: list[int]
    loss: list[float]
    val_ap: list[float | None]
    lr: list[float]
    # wall-clock seconds per epoch, validation included (the training-cost table sums them)
    seconds: list[float] = field(default_factory=list)

    def lr_steps(self) -> list[int]:
        """Epochs whose learning rate differs from the epoch before (the schedule's milestones)."""
        return [
            epoch
            for epoch, (prev, cur) in zip(self.epochs[1:], pairwise(self.lr), strict=True)
            if not math.isclose(prev, cur, rel_tol=1e-6)
        ]


def train_log_path(runs_dir: Path, scale: str, experiment: str) -> Path:
    return Path(runs_dir) / scale / experiment / "train_log.csv"


def _number(text: str, path: Path, line: int, column: str, cast: type) -> float:
    try:
        value = cast(text)
    except ValueError:
        raise DataError(f"{path}:{line}: {column} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise DataError(f"{path}:{line}: {column} is {text!r}")
    return value


def read_train_log(path: Path, experiment: str) -> TrainLog:
    """Parse a train_log.csv, naming the file and line of anything malformed."""
    try:
        with path.open(encoding="utf-8", newline="") as f:
            records = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not readable ({err})") from err
    if not records or tuple(c.strip() for c in records[0]) != LOG_COLUMNS:
        found = ",".join(records[0]) if records else "(empty file)"
        raise DataError(f"{path}: header should be {','.join(LOG_COLUMNS)}, got {found}")
    log = TrainLog(experiment, [], [], [], [])
    for line, rec in enumerate(records[1:], start=2):
        if not any(c.strip() for c in rec):
            continue
        if len(rec) != len(LOG_COLUMNS):
            raise DataError(f"{path}:{line}: expected {len(LOG_COLUMNS)} fields, got {len(rec)}")
        epoch, loss, val_ap, lr, seconds = (c.strip() for c in rec)
        log.epochs.append(int(_number(epoch, path, line, "epoch", int)))
        log.loss.append(_number(loss, path, line, "loss", float))
        log.val_ap.append(_number(val_ap, path, line, "val_ap", float) if val_ap else None)
        log.lr.append(_number(lr, path, line, "lr", float))
        log.seconds.append(_number(seconds, path, line, "seconds", float))
    if any(b <= a for a, b in pairwise(log.epochs)):
        raise DataError(f"{path}: epochs are not strictly increasing")
    return log


def row_labels(registry: Registry) -> dict[str, str]:
    """Experiment -> the label its first table row gives it (baselines first)."""
    labels: dict[str, str] = {}
    for name in table_order(registry):
        for row in registry.table(name).typed_rows(f"{registry.params_dir}/papers/{name}.yaml"):
            labels.setdefault(row.experiment, row.label)
    return labels


def _legend_name(experiment: str, labels: dict[str, str]) -> str:
    label = labels.get(experiment)
    return f"{label} ({experiment})" if label else experiment


def _subtitle(registry: Registry, scale: str, logs: list[TrainLog]) -> str:
    resolved = [registry.resolve(log.experiment, scale) for log in logs]
    datasets = sorted({r.dataset_name for r in resolved})
    inputs = sorted({f"{r.input_hw[0]}x{r.input_hw[1]}" for r in resolved})
    text = f"{scale} scale · dataset: {', '.join(datasets)} · input: {', '.join(inputs)}"
    if any(r.dataset_name != registry.experiments[r.name].dataset for r in resolved):
        text += " · not the papers' data: curves check the pipeline, not COCO accuracy"
    return text


def _mark_lr_steps(axes: list, logs: list[TrainLog], colors: list) -> tuple[Line2D, str] | None:
    """Grey dotted lines where a learning rate steps; when runs step at different epochs, a
    triangle in the run's colour at the top of each panel says whose step it is."""
    steps = [log.lr_steps() for log in logs]
    if not any(steps):
        return None
    for epoch in sorted({e for s in steps for e in s}):
        for ax in axes:
            ax.axvline(epoch, color="0.45", ls=":", lw=1.1, alpha=0.9, zorder=1)
    shared = all(s == steps[0] for s in steps)
    if shared:
        return Line2D([], [], color="0.45", ls=":", lw=1.1), "LR step"
    for i, epochs in enumerate(steps):
        for ax in axes:
            top = blended_transform_factory(ax.transData, ax.transAxes)
            ax.plot(epochs, [0.965 - 0.035 * i] * len(epochs), "v", color=colors[i % len(colors)],
                    ms=6, transform=top, clip_on=False, zorder=3)  # fmt: skip
    proxy = Line2D([], [], color="0.45", ls=":", lw=1.1, marker="v", mfc="0.45", mec="0.45")
    return proxy, "LR step (▼ in the experiment's colour)"


def _style_loss_axis(ax, logs: list[TrainLog], loss_types: list[str]) -> None:
    """Log scale when possible (heatmap losses shrink by orders of magnitude), plain tick labels."""
    name = ", ".join(t.upper() for t in loss_types)
    ax.set_title("Training loss")
    if all(v > 0 for log in logs for v in log.loss):
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FormatStrFormatter("%.3g"))
        ax.yaxis.set_minor_formatter(FormatStrFormatter("%.3g"))
        ax.tick_params(axis="y", which="minor", labelsize=8)
        ax.set_ylabel(f"loss ({name}, log scale)")
    else:
        ax.set_ylabel(f"loss ({name})")


def draw(registry: Registry, scale: str, logs: list[TrainLog]) -> Figure:
    """The two-panel figure: training loss (left) and validation AP (right) per epoch."""
    labels = row_labels(registry)
    fig = Figure(figsize=(12.5, 5.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax_loss, ax_ap = fig.subplots(1, 2)
    colors = list(matplotlib.colormaps["tab10"].colors)
    any_ap = False
    for i, log in enumerate(logs):
        color = colors[i % len(colors)]
        name = _legend_name(log.experiment, labels)
        ax_loss.plot(log.epochs, log.loss, color=color, lw=1.8, label=name, zorder=2)
        pairs = zip(log.epochs, log.val_ap, strict=True)
        points = [(e, ap * 100) for e, ap in pairs if ap is not None]
        if points:
            any_ap = True
            xs, ys = zip(*points, strict=True)
            ax_ap.plot(xs, ys, color=color, lw=1.8, marker="o", ms=4, label=name, zorder=2)
    lr_legend = _mark_lr_steps([ax_loss, ax_ap], logs, colors)

    loss_types = sorted({registry.resolve(log.experiment, scale).recipe.loss.type for log in logs})
    _style_loss_axis(ax_loss, logs, loss_types)
    ax_ap.set_title("Validation AP")
    ax_ap.set_ylabel("AP (×100)")
    if not any_ap:
        ax_ap.text(0.5, 0.5, "no validation AP logged", ha="center", va="center",
                   transform=ax_ap.transAxes, color="0.4")  # fmt: skip
    for ax in (ax_loss, ax_ap):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, which="major", alpha=0.3)
        ax.grid(True, which="minor", alpha=0.1)

    handles, names = ax_loss.get_legend_handles_labels()
    if lr_legend:
        handles.append(lr_legend[0])
        names.append(lr_legend[1])
    fig.legend(handles, names, loc="outside lower center", ncol=min(len(names), 3), frameon=False)
    fig.suptitle(f"Training curves\n{_subtitle(registry, scale, logs)}", fontsize=11)
    return fig


def plot_training(
    registry: Registry,
    scale: str,
    runs_dir: Path = Path("runs"),
    out_dir: Path = Path("reports/plots"),
) -> list[Path]:
    """Write training.png and training.svg; with no train logs write nothing and return [].

    Plots left over from an earlier run are removed when there is no log, so the index never links
    curves that do not belong to this scale's runs.
    """
    registry.scale(scale)
    logs = []
    # Only the scale's selection: a log left from an earlier selection is not this run's curve.
    for experiment in registry.trained_experiments(scale):
        path = train_log_path(runs_dir, scale, experiment)
        if path.is_file():
            log = read_train_log(path, experiment)
            if log.epochs:
                logs.append(log)
    out_dir = Path(out_dir)
    png, svg = out_dir / f"{PLOT_STEM}.png", out_dir / f"{PLOT_STEM}.svg"
    if not logs:
        for stale in (png, svg):
            stale.unlink(missing_ok=True)
        return []
    save_figure(draw(registry, scale, logs), png, svg)
    return [png, svg]


def save_figure(fig: Figure, png: Path, svg: Path) -> None:
    """Write `fig` as PNG and SVG together, with fixed SVG ids and no timestamps."""
    with (
        matplotlib.rc_context({"svg.hashsalt": "poserepro", "svg.fonttype": "path"}),
        atomic_path(png) as png_tmp,
        atomic_path(svg) as svg_tmp,
    ):
        fig.savefig(png_tmp, format="png", dpi=DPI, metadata={"Software": None})
        fig.savefig(svg_tmp, format="svg", metadata={"Date": None})
