"""The report's results table and claims check: reports/results.csv, reports/claims.md and
claims.json, and per paper its forest plot and paper-against-reproduced plot."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pose.config import Registry
from pose.io import atomic_path, write_json
from pose.report.claims import check_claims, claims_path
from pose.report.claims_plot import plot_claims
from pose.report.claims_render import claims_markdown
from pose.report.papers import paper_groups
from pose.report.provenance import git_state
from pose.report.results_frame import results_frame, seed_summary, write_results_csv

RESULTS_CSV = "results.csv"
METRICS_JSON = "metrics.json"  # DVC's metric: one line per experiment


@dataclass
class ClaimsOutputs:
    results_csv: Path
    claims: dict | None = None  # claims.json's content (None: no params/claims.yaml)
    # {paper: {"claims" | "scatter": [png, svg]}}
    plots: dict[str, dict[str, list[Path]]] = field(default_factory=dict)


def write_claims_outputs(registry: Registry, scale: str, runs_dir: Path, reports_dir: Path,
                         plots_dir: Path) -> ClaimsOutputs:
    """Build the results frame and write everything computed from it."""
    reports_dir, plots_dir = Path(reports_dir), Path(plots_dir)
    commit = git_state(registry.params_dir.parent).get("commit")
    frame = results_frame(registry, scale, runs_dir, commit)
    out = ClaimsOutputs(write_results_csv(frame, reports_dir / RESULTS_CSV))
    write_json(reports_dir / METRICS_JSON, metrics_summary(frame))
    groups = paper_groups(registry)
    result = check_claims(registry, frame, scale)
    out.plots = plot_claims(registry, groups, frame, result, plots_dir)
    if registry.claims is None:  # a registry without params/claims.yaml: no claims page
        return out
    out.claims = result
    forest = {paper: _relative(files["claims"][0], reports_dir)
              for paper, files in out.plots.items() if "claims" in files}
    md, js = claims_path(reports_dir)
    names = {g.key: g.name for g in groups}
    text = "\n".join(claims_markdown(out.claims, names, forest)) + "\n"
    with atomic_path(md) as tmp:
        tmp.write_text(text, encoding="utf-8")
    write_json(js, out.claims)
    return out


def metrics_summary(frame) -> dict:
    """reports/metrics.json, what `dvc metrics show` prints: per experiment its figure (COCO
    AP, PCKh Mean or top-1 error) as the mean over its seeds, their std and count."""
    summary: dict[str, dict] = {}
    for column in ("AP", "PCKh_Mean", "top1_error"):
        for experiment, row in seed_summary(frame, column).iterrows():
            summary.setdefault(experiment, {}).update({
                column: round(float(row["mean"]), 2),
                **({f"{column}_std": round(float(row["std"]), 2)} if row["count"] > 1 else {}),
                "seeds": int(row["count"])})
    return summary


def _relative(path: Path, page_dir: Path) -> str:
    try:
        return str(Path(path).relative_to(page_dir))
    except ValueError:
        return str(path)
