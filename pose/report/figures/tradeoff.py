"""DANet Fig. 1: AP against GFLOPs (a) and against persons per second (b), every model of its
Table II, the paper's points beside the reproduced ones.

The reproduced AP is the table's (mean over seeds, at the scale); the reproduced GFLOPs are the
paper-size model's, measured in the table's unit; the reproduced speed is the `pose speed` record
under the speed table's protocol (Sec. IV-B), which only a scale on the papers' own data times.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure

from pose.config import Registry, parse_input
from pose.errors import DataError
from pose.report.figures.text import wrapped
from pose.report.tables import load_speed, speed_path, table_rows

GFLOPS_AXIS = {"gmacs": "GFLOPs (multiply-adds / 10^9, DANet's unit)",
               "hrnet": "GFLOPs (HRNet's count / 2^30)"}


@dataclass(frozen=True)
class TradeoffPoint:
    label: str
    experiment: str
    paper_ap: float | None
    paper_gflops: float | None
    paper_speed: float | None  # persons per second as printed (None: the paper gives none)
    ap: float | None  # reproduced (None: not trained at this scale)
    gflops: float | None  # measured, paper-size model
    speed: float | None  # measured persons per second (None: not timed at this scale)


def tradeoff_points(registry: Registry, table: str, speed_table: str, scale: str,
                    runs_dir: Path) -> list[TradeoffPoint]:
    """One point per row of `table`, paper and reproduced."""
    speed_spec = registry.table(speed_table)
    column = speed_spec.speed[0]
    paper_speed = {
        r.experiment: (r.paper.speed or {}).get(column.column)
        for r in speed_spec.typed_rows(f"{registry.params_dir}/papers/{speed_table}.yaml")}
    points = []
    for row in table_rows(registry, table, scale, runs_dir):
        experiment = row["experiment"]
        exp = registry.experiments[experiment]
        try:
            measured = load_speed(speed_path(runs_dir, experiment, column), exp.model,
                                  parse_input(exp.input, experiment), column)
        except DataError:
            measured = None  # a record of another protocol is not this figure's point
        reproduced = row.get("reproduced") if row.get("trained") else None
        points.append(TradeoffPoint(
            row["label"], experiment, row["paper"].get("ap"), row["paper"].get("gflops"),
            paper_speed.get(experiment),
            reproduced.get("ap") if reproduced else None,
            (row.get("complexity") or {}).get("gflops"),
            measured["persons_per_s"] if measured else None))
    return points


def draw_tradeoff(points: list[TradeoffPoint], axis: str, unit: str, title: str) -> Figure:
    """AP against GFLOPs (`axis` "gflops") or persons per second ("speed")."""
    fig = Figure(figsize=(7.5, 5.2), layout="constrained")
    ax = fig.subplots()
    paper_x = (lambda p: p.paper_gflops) if axis == "gflops" else (lambda p: p.paper_speed)
    ours_x = (lambda p: p.gflops) if axis == "gflops" else (lambda p: p.speed)
    drawn = {"paper": 0, "reproduced": 0}
    for p in points:
        if None not in (paper_x(p), p.paper_ap, ours_x(p), p.ap):  # the pair of one model
            ax.plot([paper_x(p), ours_x(p)], [p.paper_ap, p.ap], color="0.6", linewidth=0.8,
                    linestyle=":", zorder=2)
        if paper_x(p) is not None and p.paper_ap is not None:
            ax.scatter(paper_x(p), p.paper_ap, marker="o", color="tab:blue", zorder=3,
                       label="paper" if not drawn["paper"] else None)
            ax.annotate(p.label, (paper_x(p), p.paper_ap), fontsize=7, xytext=(4, 3),
                        textcoords="offset points")
            drawn["paper"] += 1
        if ours_x(p) is not None and p.ap is not None:
            ax.scatter(ours_x(p), p.ap, marker="s", color="tab:orange", zorder=3,
                       label="reproduced" if not drawn["reproduced"] else None)
            ax.annotate(p.label, (ours_x(p), p.ap), fontsize=7, xytext=(4, -9),
                        textcoords="offset points", color="tab:orange")
            drawn["reproduced"] += 1
    ax.set_xlabel(GFLOPS_AXIS.get(unit, "GFLOPs") if axis == "gflops"
                  else "persons per second (CPU, Sec. IV-B protocol)")
    ax.set_ylabel("COCO val AP")
    ax.grid(alpha=0.3)
    if any(drawn.values()):
        ax.legend(fontsize=8, loc="best")
    missing = [p.label for p in points if p.ap is None or ours_x(p) is None]
    note = (f"\nnot reproduced here (not trained{' or not timed' if axis == 'speed' else ''} at "
            f"this scale): {', '.join(missing)}" if missing else "")
    ax.set_title(wrapped(title + note, fig.get_figwidth() - 0.6, 8), fontsize=8, loc="left")
    return fig
