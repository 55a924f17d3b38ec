"""Per paper, two figures of the claims check, from the results frame:

- claims_<paper>: a forest plot, one line per claim: the paper's difference beside the reproduced
  difference with its interval (as published, and recipe-matched where there is one);
- paper_vs_reproduced_<paper>: every row of the paper's tables with a reproduced figure, the
  paper's figure against the reproduced mean (bars: +- one seed std), with the y = x line.

Both are drawn for every paper with claims or tables, also when nothing is trained at the scale
(the figure then says so), so the set of files is fixed and the workflow can name them.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from pose.config import Registry
from pose.report.claims import NOT_TRAINED
from pose.report.claims_render import UNITS
from pose.report.papers import PaperGroup
from pose.report.plots import save_figure
from pose.report.results_frame import seed_summary

VERDICT_COLORS = {"reproduced": "tab:green", "not reproduced": "tab:red",
                  "inconclusive": "tab:gray"}
# what each table metric plots against the paper's figure
TABLE_METRICS = {"ap": ("AP", "ap"), "topk": ("top1_error", "top1_error"),
                 "pckh": ("PCKh_Mean", "pckh")}


def forest_stem(paper: str) -> str:
    return f"claims_{paper}"


def scatter_stem(paper: str) -> str:
    return f"paper_vs_reproduced_{paper}"


def _subtitle(result: dict) -> str:
    where = ", ".join(result["datasets"]) or "nothing evaluated"
    synthetic = " (synthetic stand-in: says nothing about the paper)" if result["synthetic"] \
        else ""
    return f"{result['scale']} scale, {where}{synthetic}"


def draw_forest(name: str, claims: list[dict], result: dict) -> Figure:
    """One row per claim: the paper's difference (diamond) and each reproduced difference with
    its interval, coloured by verdict; zero marked."""
    fig = Figure(figsize=(8.0, 1.2 + 0.45 * max(len(claims), 1)))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.axvline(0, color="black", lw=0.8)
    labels = []
    for i, c in enumerate(claims):
        y = len(claims) - 1 - i
        labels.append(c["claim"] if len(c["claim"]) <= 60 else c["claim"][:57] + "...")
        ax.plot([c["paper_delta"]], [y], marker="D", color="black", ls="none",
                label="paper" if i == 0 else None)
        for offset, key, marker in ((-0.15, "as_published", "o"), (0.15, "recipe_matched", "s")):
            comp = c.get(key)
            if comp is None or comp["verdict"] == NOT_TRAINED:
                continue
            low, high = comp["interval"]
            ax.errorbar([comp["delta"]], [y + offset], xerr=[[comp["delta"] - low],
                                                            [high - comp["delta"]]],
                        fmt=marker, color=VERDICT_COLORS[comp["verdict"]], capsize=3)
    ax.set_yticks(range(len(claims)), labels[::-1] if labels else [])
    ax.tick_params(axis="y", labelsize=7)
    units = sorted({UNITS[c["metric"]] for c in claims})
    ax.set_xlabel(f"difference, variant - baseline ({', '.join(units)})")
    if not any(c["as_published"]["verdict"] != NOT_TRAINED for c in claims):
        ax.text(0.5, 0.5, "no claim's experiments trained at this scale",
                transform=ax.transAxes, ha="center", va="center", color="tab:gray")
    handles = [ax.plot([], [], marker=m, ls="none", color="black", label=t)[0]
               for m, t in (("D", "paper"), ("o", "reproduced, as published"),
                            ("s", "reproduced, recipe-matched"))]
    handles += [ax.plot([], [], marker="o", ls="none", color=col, label=v)[0]
                for v, col in VERDICT_COLORS.items()]
    ax.legend(handles=handles, fontsize=6, loc="lower right", ncol=2)
    ax.set_title(f"{name}: claims (interval: {result['interval']})\n{_subtitle(result)}",
                 fontsize=9)
    fig.tight_layout()
    return fig


def scatter_points(registry: Registry, group: PaperGroup, frame: pd.DataFrame) -> list[dict]:
    """The rows of the paper's tables with a paper figure and a reproduced one."""
    points = []
    for table in group.tables:
        spec = registry.table(table)
        column, figure = TABLE_METRICS[spec.metric]
        summary = seed_summary(frame, column)
        for row in spec.typed_rows(f"{registry.params_dir}/papers/{table}.yaml"):
            paper = (row.paper.pckh or {}).get("Mean") if figure == "pckh" \
                else getattr(row.paper, figure)
            if paper is None or row.experiment not in summary.index:
                continue
            s = summary.loc[row.experiment]
            points.append({"table": table, "label": row.label, "metric": spec.metric,
                           "paper": float(paper), "mean": float(s["mean"]),
                           "std": None if pd.isna(s["std"]) else float(s["std"]),
                           "seeds": int(s["count"])})
    return points


def draw_scatter(name: str, points: list[dict], result: dict) -> Figure:
    """Reproduced against paper figure per row, with y = x."""
    fig = Figure(figsize=(5.5, 5.0))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if points:
        values = [p["paper"] for p in points] + [p["mean"] for p in points]
        low, high = min(values), max(values)
        pad = max(1.0, 0.05 * (high - low))
        ax.plot([low - pad, high + pad], [low - pad, high + pad], color="black", lw=0.8,
                label="y = x (reproduced = paper)")
        for metric in sorted({p["metric"] for p in points}):
            chosen = [p for p in points if p["metric"] == metric]
            ax.errorbar([p["paper"] for p in chosen], [p["mean"] for p in chosen],
                        yerr=[p["std"] or 0.0 for p in chosen], fmt="o", capsize=3,
                        label=f"{UNITS['top1_error' if metric == 'topk' else metric]} rows")
            for p in chosen:
                ax.annotate(p["label"][:28], (p["paper"], p["mean"]), fontsize=6,
                            xytext=(3, 3), textcoords="offset points")
        ax.legend(fontsize=7, loc="upper left")
    else:
        ax.text(0.5, 0.5, "no row of this paper trained at this scale", transform=ax.transAxes,
                ha="center", va="center", color="tab:gray")
    ax.set_xlabel("paper")
    ax.set_ylabel("reproduced (mean over seeds; bars: seed std)")
    ax.set_title(f"{name}: every row, paper against reproduced\n{_subtitle(result)}",
                 fontsize=9)
    fig.tight_layout()
    return fig


def plot_claims(registry: Registry, groups: list[PaperGroup], frame: pd.DataFrame,
                result: dict, out_dir: Path) -> dict[str, dict[str, list[Path]]]:
    """Write both figures of every paper group; {paper: {"claims"|"scatter": [png, svg]}}."""
    out_dir = Path(out_dir)
    written: dict[str, dict[str, list[Path]]] = {}
    for group in groups:
        files: dict[str, list[Path]] = {}
        claims = [c for c in result["claims"] if c["paper"] == group.key]
        if claims:
            png, svg = out_dir / f"{forest_stem(group.key)}.png", \
                out_dir / f"{forest_stem(group.key)}.svg"
            save_figure(draw_forest(group.name, claims, result), png, svg)
            files["claims"] = [png, svg]
        png, svg = out_dir / f"{scatter_stem(group.key)}.png", \
            out_dir / f"{scatter_stem(group.key)}.svg"
        save_figure(draw_scatter(group.name, scatter_points(registry, group, frame), result),
                    png, svg)
        files["scatter"] = [png, svg]
        written[group.key] = files
    return written
