"""Bar plot of the Preflight section: each experiment's estimated GPU memory per training step
at the paper's per-GPU batch, against the memory the site declares per GPU.

A reader looks for the bars that cross the line; failed experiments have no bar and say so.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from pose.engine.memory import FIT_MARGIN, FIT_RESERVE_GB
from pose.report.plots import save_figure

PLOT_STEM = "preflight"


def draw_memory(rows: list[dict], gpu_memory_gb: float) -> Figure:
    fig = Figure(figsize=(9.0, 1.6 + 0.17 * len(rows)), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    totals = [r["gpu_memory_gb"] or 0.0 for r in rows]
    colors = ["tab:blue" if r["fits"] else "tab:red" for r in rows]
    ax.barh(range(len(rows)), totals, color=colors, height=0.7)
    ax.set_yticks(range(len(rows)), [r["experiment"] for r in rows], fontsize=6)
    ax.invert_yaxis()
    for y, r in enumerate(rows):
        if r["gpu_memory_gb"] is None:
            ax.text(0.2, y, r["status"], va="center", fontsize=6, color="tab:red")
        else:
            ax.text(r["gpu_memory_gb"] + 0.3, y, f"{r['gpus']} × {r['per_gpu_batch']}",
                    va="center", fontsize=5, color="0.3")
    usable = (gpu_memory_gb - FIT_RESERVE_GB) / (1 + FIT_MARGIN)
    ax.axvline(gpu_memory_gb, color="0.2", linestyle="--", linewidth=1,
               label=f"site GPU memory ({gpu_memory_gb:g} GB)")
    ax.axvline(usable, color="0.5", linestyle=":", linewidth=1,
               label=f"fits below ({usable:.1f} GB: margin for context and workspaces)")
    ax.set_xlim(0, max([gpu_memory_gb, *totals]) * 1.1)
    ax.set_xlabel("estimated GB per GPU for one training step at the paper's batch "
                  "(GPUs × per-GPU batch beside each bar)")
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=7)
    fig.suptitle("Preflight: estimated GPU memory per experiment (measured on the CPU)",
                 fontsize=10)
    return fig


def plot_memory(rows: list[dict], gpu_memory_gb: float, out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    png, svg = out_dir / f"{PLOT_STEM}.png", out_dir / f"{PLOT_STEM}.svg"
    save_figure(draw_memory(rows, gpu_memory_gb), png, svg)
    return [png, svg]
