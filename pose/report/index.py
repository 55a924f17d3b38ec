"""The report's front page: every table, the training cost per paper, the training curves, the
assumptions and provenance.

The index assembles what the table and plot stages wrote, plus the training-cost section it
computes from the scale's bench.json files and train logs (pose.report.gpu_hours); it refuses
tables built at another scale, so one page never mixes smoke and full figures.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from pose.code_version import code_note, code_provenance
from pose.config import Registry
from pose.errors import ConfigError, DataError
from pose.io import atomic_path, read_json_object
from pose.report.claims_render import claims_markdown
from pose.report.gpu_hours import write_training_cost
from pose.report.gpu_hours_plot import plot_cost
from pose.report.gpu_hours_render import plot_subtitle, render_training_cost
from pose.report.papers import paper_groups
from pose.report.plan_section import plan_section
from pose.report.plots import PLOT_STEM
from pose.report.preflight import PROFILE, preflight_section
from pose.report.provenance import collect_provenance
from pose.report.tables import complexity_total, summary_line, table_order

if TYPE_CHECKING:
    from pose.report.claims_stage import ClaimsOutputs

COST_JSON = "gpu_hours.json"  # beside the index: the training-cost section's numbers


def _link(target: Path, page: Path) -> str:
    """A link from the page to `target` that survives moving the reports folder."""
    return Path(os.path.relpath(target, page.parent)).as_posix()


def _flatten(tree: dict, prefix: str = "") -> dict:
    """{'schedule': {'milestones': [9]}} -> {'schedule.milestones': [9]}, for one-line prose."""
    flat: dict = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def scale_note(registry: Registry, scale: str) -> str:
    """One paragraph saying what the scale changes and how far its figures can be read."""
    sc = registry.scale(scale)
    changes = []
    if sc.dataset is not None:
        changes.append(f"the `{sc.dataset}` dataset replaces each paper's dataset")
    if sc.input is not None:
        changes.append(f"training and evaluation run at {sc.input} instead of the paper's input")
    if sc.models:
        changes.append(f"the models are shrunk (overrides for {', '.join(sorted(sc.models))})")
    if sc.recipe:
        overrides = ", ".join(f"{k} {v}" for k, v in _flatten(sc.recipe).items())
        changes.append(f"the recipes are overridden ({overrides})")
    if not changes:
        return (
            f"At **{scale}** scale every experiment uses the paper's dataset, model, input and "
            "recipe. ΔAP is given where the reproduced figure also follows the paper's test "
            "protocol (dataset, boxes, flip test, input and schedule); elsewhere it is n/a."
        )
    not_coco = sc.dataset is not None and registry.datasets[sc.dataset].source != "coco"
    return (
        f"At **{scale}** scale {'; '.join(changes)}. Its reproduced AP only shows that the "
        "pipeline runs end to end and learns: it is "
        + ("never a COCO figure and " if not_coco else "")
        + "not comparable with the papers' AP, so ΔAP is n/a. The complexity columns are "
        "measured on the paper-size models at the papers' inputs at every scale."
    )


def trained_note(registry: Registry, scale: str) -> str:
    """Which experiments the scale trains (scales.yaml `train`); the others' rows show complexity
    only, so the reader knows an empty AP cell is a choice, not a failure."""
    trained = registry.trained_experiments(scale)
    names = ", ".join(f"`{e}`" for e in trained)
    text = (
        f"Trained and evaluated at **{scale}** scale ({len(trained)} of "
        f"{len(registry.experiments)} experiments): {names}."
    )
    if len(trained) < len(registry.experiments):
        text += (
            f" The other experiments are not trained at this scale (`{scale}.train` in "
            "params/scales.yaml); their rows show the complexity columns only."
        )
    return text


def _assumption_texts(value: object, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{where}.assumptions: expected a list of non-empty strings")
    return [v.strip() for v in value]


def collect_assumptions(registry: Registry) -> list[dict]:
    """Every `assumptions:` entry of the recipes, model specs and paper tables, with where it is
    from."""
    p = registry.params_dir
    found = []
    for name, recipe in registry.recipes.items():
        where = f"{p}/recipes.yaml: {name}"
        for text in _assumption_texts(list(recipe.assumptions), where):
            found.append({"source": where, "text": text})
    for name, spec in registry.models.items():
        where = f"{p}/models.yaml: {name}"
        for text in _assumption_texts(spec.get("assumptions"), where):
            found.append({"source": where, "text": text})
    for name in table_order(registry):
        where = f"{p}/papers/{name}.yaml"
        for text in _assumption_texts(getattr(registry.table(name), "assumptions", None), where):
            found.append({"source": where, "text": text})
    return found


def _table_summary(tables_dir: Path, name: str) -> dict | None:
    """A built table's complexity summary (None for a table without one)."""
    path = tables_dir / f"{name}.json"
    summary = (read_json_object(path) or {}).get("complexity_summary")
    if summary is None:
        return None
    try:
        counts = [summary[k][n] for k in ("params", "gflops") for n in ("within", "rows")]
        counts.append(summary["not_measured"])
    except (KeyError, TypeError) as err:
        raise DataError(f"{path}: complexity_summary is malformed (missing {err})") from err
    if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts):
        raise DataError(f"{path}: complexity_summary counts should be non-negative ints, got "
                        f"{summary!r}")
    return summary


def complexity_total_line(total: dict) -> str:
    """'Complexity over all 21 tables: Params within 2% of the paper: 49 of 105 rows; ...'."""
    return f"Complexity over all {total['tables']} tables: {summary_line(total)}"


def _read_table(registry: Registry, name: str, scale: str, tables_dir: Path) -> str:
    md, js = tables_dir / f"{name}.md", tables_dir / f"{name}.json"
    for path in (md, js):
        if not path.is_file():
            raise DataError(f"{path}: table not built; build table {name!r} before the index")
    built = read_json_object(js) or {}
    if built.get("scale") != scale:
        raise DataError(
            f"{js}: built at scale {built.get('scale')!r}, but the index is for scale {scale!r}"
        )
    try:
        return md.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{md}: not readable ({err})") from err


def official_weights_table(tables_dir: Path, out: Path) -> list[tuple[str, str]]:
    """`pose verify-official`'s table when it has run (it is a check of the protocol with the
    published weights, made at its own scale, so it is not held to the index's scale)."""
    from pose.evaluate.official import TABLE_STEM

    md = tables_dir / f"{TABLE_STEM}.md"
    if not md.is_file():
        return []
    try:
        text = md.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{md}: not readable ({err})") from err
    return [(text, _link(tables_dir / f"{TABLE_STEM}.json", out))]


def curves_section(scale: str, plot: Path | None, out: Path) -> list[str]:
    lines = ["## Training curves", ""]
    if plot is None:
        return lines + [f"No training logs were found at **{scale}** scale, so there is no "
                        "plot.", ""]
    png, svg = _link(plot, out), _link(plot.with_suffix(".svg"), out)
    lines += [f"![Training loss and validation AP per epoch ({scale} scale)]({png})", ""]
    if plot.with_suffix(".svg").is_file():
        lines += [f"Vector version: [{svg}]({svg})", ""]
    return lines


def render_index(
    registry: Registry,
    scale: str,
    tables: list[tuple[str, str]],
    plot: Path | None,
    out: Path,
    provenance: dict,
    cost_section: str | None = None,
    preflight: str | None = None,
    complexity: dict | None = None,
    claims_section: list[str] | None = None,
) -> str:
    lines = ["# Reproduction report", "", f"Scale: **{scale}**", ""]
    lines += [scale_note(registry, scale), "", trained_note(registry, scale), ""]
    if complexity is not None:
        lines += [complexity_total_line(complexity) + " A model that several tables print "
                  "counts once per table.", ""]
    if preflight:
        lines += [preflight.strip(), ""]
    for markdown, json_link, *figures in tables:
        lines += [markdown, "", f"Numbers: [{json_link}]({json_link})", ""]
        for figure_lines in figures:  # the paper's figures, after its last table
            lines += figure_lines
    if claims_section:
        lines += claims_section
    if cost_section:
        lines += [cost_section.strip(), ""]
    if not preflight:  # a check scale's few steps per experiment draw no curves
        lines += curves_section(scale, plot, out)
    lines += ["## Assumptions of this reproduction", ""]
    assumptions = collect_assumptions(registry)
    if assumptions:
        lines += [f"- {a['text']} (`{a['source']}`)" for a in assumptions]
    else:
        lines.append("None recorded in the params files.")
    lines += [
        "",
        "## Provenance",
        "",
        "Also in [provenance.json](provenance.json).",
        "",
        *([note, ""] if (note := code_note(provenance.get("code", {}))) else []),
        "```json",
        json.dumps(provenance, indent=2),
        "```",
        "",
    ]
    return "\n".join(lines)


def paper_figure_lines(registry: Registry, claims: ClaimsOutputs | None, figures: list[dict],
                       out: Path) -> dict[str, list[str]]:
    """{the paper's last table: Markdown of its figures}: paper against reproduced for every row,
    then the paper's own figures regenerated (`pose figures`' manifest entries)."""
    lines: dict[str, list[str]] = {}
    for group in paper_groups(registry):
        block: list[str] = []
        scatter = (claims.plots.get(group.key, {}).get("scatter") if claims else None)
        if scatter:
            block += [f"![{group.name}: every row, paper against reproduced]"
                      f"({_link(scatter[0], out)})", ""]
        for figure in figures:
            if figure.get("paper") != group.key:
                continue
            if figure.get("files"):
                png = next((f for f in figure["files"] if str(f).endswith(".png")),
                           figure["files"][0])
                block += [f"![{figure['caption']}]({_link(Path(png), out)})", "",
                          f"*{figure['caption']}*", ""]
            else:
                block += [f"*{figure['name']}: {figure['caption']}*", ""]
        if block:
            lines[group.tables[-1]] = [f"### {group.name}: figures", "", *block]
    return lines


def training_cost_section(registry: Registry, scale: str, runs_dir: Path, plots_dir: Path,
                          out: Path) -> str:
    """Write the training-cost JSON beside the index and its bar plot; return the Markdown."""
    numbers = out.parent / COST_JSON
    cost = write_training_cost(registry, scale, runs_dir, numbers)
    plots = plot_cost(cost, plot_subtitle(registry, scale, cost), plots_dir)
    plot = _link(plots[0], out) if plots else None
    section = render_training_cost(registry, scale, cost, plot, _link(numbers, out))
    planned = plan_section(registry, scale, runs_dir, registry.params_dir.parent / PROFILE)
    return section + ("\n" + planned if planned else "")


def write_index(
    registry: Registry,
    scale: str,
    tables_dir: Path = Path("reports/tables"),
    plots_dir: Path = Path("reports/plots"),
    out: Path = Path("reports/index.md"),
    lock_file: Path | None = None,
    runs_dir: Path | None = None,
    claims: ClaimsOutputs | None = None,
    figures: list[dict] | None = None,
) -> None:
    """Write the index page and provenance.json beside it, together or not at all; the
    training-cost section's JSON and bar plot are written first.

    `lock_file` and `runs_dir` default to dvc.lock and runs/ beside the params directory (the
    repository root).
    """
    tables_dir, plots_dir, out = Path(tables_dir), Path(plots_dir), Path(out)
    registry.scale(scale)
    extras = paper_figure_lines(registry, claims, figures or [], out)
    tables = [
        (_read_table(registry, name, scale, tables_dir), _link(tables_dir / f"{name}.json", out),
         *([extras[name]] if name in extras else []))
        for name in table_order(registry)
    ]
    summaries = [_table_summary(tables_dir, name) for name in table_order(registry)]
    complexity = complexity_total([s for s in summaries if s is not None])
    tables += official_weights_table(tables_dir, out)
    png = plots_dir / f"{PLOT_STEM}.png"
    plot = png if png.is_file() else None
    runs = Path(runs_dir) if runs_dir is not None else registry.params_dir.parent / "runs"
    # A check scale measures no throughput: its section is the preflight's, not the cost's.
    cost = preflight = None
    if registry.scale(scale).preflight:
        profile = registry.params_dir.parent / PROFILE
        preflight = preflight_section(registry, scale, runs, out, profile, plots_dir)
    else:
        cost = training_cost_section(registry, scale, runs, plots_dir, out)
    lock = Path(lock_file) if lock_file is not None else registry.params_dir.parent / "dvc.lock"
    provenance = {"scale": scale, **collect_provenance(registry.params_dir, lock),
                  "code": code_provenance({e: runs / scale / e
                                           for e in registry.trained_experiments(scale)})}
    claims_lines = None
    if claims is not None and claims.claims is not None:
        forest = {paper: _link(files["claims"][0], out)
                  for paper, files in claims.plots.items() if "claims" in files}
        names = {g.key: g.name for g in paper_groups(registry)}
        claims_lines = claims_markdown(claims.claims, names, forest, heading="##") + [
            f"Numbers: [claims.json]({_link(out.parent / 'claims.json', out)}); every "
            f"training's figures: [results.csv]({_link(claims.results_csv, out)}).", ""]
    text = render_index(registry, scale, tables, plot, out, provenance, cost, preflight,
                        complexity, claims_lines)
    with atomic_path(out) as md_tmp, atomic_path(out.parent / "provenance.json") as js_tmp:
        md_tmp.write_text(text, encoding="utf-8")
        js_tmp.write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")
