"""Bar plot of the estimated device-hours per paper (and all papers, each experiment once).

Drawn like the training curves (explicit Agg canvas, byte-stable SVG); a paper with experiments
left unmeasured is labelled with how many were measured, so a short bar is not read as cheap.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from pose.report.gpu_hours_render import hours_cell
from pose.report.plots import save_figure

PLOT_STEM = "gpu_hours"


def draw_cost(cost: dict, subtitle: str) -> Figure:
    """Horizontal bars, papers top to bottom in report order, the all-papers total last."""
    totals = [t for t in [*cost["papers"], cost["all"]] if t["device_hours"] is not None]
    fig = Figure(figsize=(9.0, 1.2 + 0.5 * len(totals)), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    names = [t["paper"] for t in totals]
    hours = [t["device_hours"] for t in totals]
    colors = ["0.35" if t is cost["all"] else "tab:blue" for t in totals]
    bars = ax.barh(range(len(totals)), hours, color=colors)
    ax.set_yticks(range(len(totals)), names)
    ax.invert_yaxis()
    labels = [f"{hours_cell(h)} h ({t['measured']} of {t['experiments']} measured)"
              for h, t in zip(hours, totals, strict=True)]
    ax.bar_label(bars, labels, padding=3, fontsize=8)
    ax.set_xlim(0, max(hours) * 1.45)
    ax.set_xlabel("estimated device-hours")
    ax.grid(True, axis="x", alpha=0.3)
    fig.suptitle(f"Estimated training cost per paper\n{subtitle}", fontsize=10)
    return fig


def plot_cost(cost: dict, subtitle: str, out_dir: Path) -> list[Path]:
    """Write gpu_hours.png and .svg; with nothing measured, remove stale ones and return []."""
    out_dir = Path(out_dir)
    png, svg = out_dir / f"{PLOT_STEM}.png", out_dir / f"{PLOT_STEM}.svg"
    if cost["all"]["device_hours"] is None:
        for stale in (png, svg):
            stale.unlink(missing_ok=True)
        return []
    save_figure(draw_cost(cost, subtitle), png, svg)
    return [png, svg]
