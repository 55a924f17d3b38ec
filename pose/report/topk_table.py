"""A `metric: topk` table (DANet Table X): each classifier's single-crop top-1 / top-5 error, the
paper's beside the reproduced one, with the complexity columns of the other tables.

A reproduced error always carries its scale, dataset and input, and the difference to the
paper's is given only where the run follows the paper's protocol (full scale, the paper's
dataset, input and epochs): a smoke-scale error on the synthetic classes never passes for an
ImageNet figure."""

from __future__ import annotations

from pathlib import Path

from pose.config import Registry, format_input, parse_input
from pose.io import read_json_object
from pose.report import tables as t

ERRORS = ("top1_error", "top5_error")
TOPK_COLUMNS = (
    ("Model", "l"),
    ("Experiment", "l"),
    ("Paper top-1 err", "r"),
    ("Reproduced top-1 err", "r"),
    ("Δ top-1", "r"),
    ("Paper top-5 err", "r"),
    ("Reproduced top-5 err", "r"),
    ("Reproduced on", "l"),
    *t.COLUMNS[5:],
)


def load_topk_eval(path: Path, experiment: str, scale: str) -> dict | None:
    """Read and check a classifier's eval.json: whose run, where, and the two errors."""
    data = read_json_object(path)
    if data is None:
        return None
    t.require(data, path, "experiment", lambda v: v == experiment, f"{experiment!r}")
    t.require(data, path, "scale", lambda v: v == scale, f"{scale!r}")
    t.require(data, path, "dataset", lambda v: isinstance(v, str) and v, "a dataset name")
    t.require(data, path, "input", lambda v: isinstance(v, str) and v, "an input like '224x224'")
    t.require(data, path, "epochs", lambda v: isinstance(v, int) and not isinstance(v, bool),
              "an int")
    for key in ERRORS:
        t.require(data, path, key, lambda v: t.is_number(v) and 0 <= v <= 100,
                  "an error in percent (0..100)")
    return data


def paper_protocol(registry: Registry, experiment: str) -> dict:
    """What the paper's errors were measured under: the unscaled experiment and recipe."""
    exp = registry.experiments[experiment]
    return {
        "scale": "full",
        "dataset": exp.dataset,
        "input": format_input(parse_input(exp.input, f"experiment {experiment}.input")),
        "epochs": registry.recipes[exp.recipe].epochs,
    }


def topk_table_rows(registry: Registry, table: str, scale: str, runs_dir: Path) -> list[dict]:
    """The rows as numbers: paper and reproduced errors, complexity and its differences."""
    spec = registry.table(table)
    trained_here = set(registry.trained_experiments(scale))
    rows = []
    for row in spec.typed_rows(f"{registry.params_dir}/papers/{table}.yaml"):
        resolved = registry.resolve(row.experiment, scale)
        trained = row.experiment in trained_here
        ev_file = t.eval_path(runs_dir, scale, row.experiment) if trained else None
        ev = load_topk_eval(ev_file, row.experiment, scale) if ev_file else None
        cx_file = t.complexity_path(runs_dir, row.experiment)
        cx = t.load_complexity(cx_file, resolved.model_name, resolved.paper_input)
        protocol = paper_protocol(registry, row.experiment)
        units = t.row_units(spec, row.paper)
        reproduced, delta, differences = None, None, []
        if ev is not None:
            reproduced = {**{k: round(float(ev[k]), 4) for k in ERRORS},
                          **{k: ev[k] for k in ("scale", "dataset", "input", "epochs")}}
            differences = [f"{k} {ev[k]!r} (paper: {want!r})" for k, want in protocol.items()
                           if ev[k] != want]
            if not differences and row.paper.top1_error is not None:
                delta = round(reproduced["top1_error"] - row.paper.top1_error, 4)
        rows.append({
            "label": row.label,
            "experiment": row.experiment,
            "model": resolved.model_name,
            "paper": {**t.paper_figures(row.paper, units),
                      **{k: getattr(row.paper, k) for k in ERRORS}},
            "paper_protocol": protocol,
            "trained": trained,
            "reproduced": reproduced,
            "delta_top1": delta,
            "not_comparable_because": differences,
            **t._complexity_fields(cx, row.paper, units),
            "files": {"eval": ev_file and str(ev_file), "complexity": str(cx_file)},
        })
    return rows


def _source_cell(row: dict, scale: str) -> str:
    rep = row["reproduced"]
    if rep is not None:
        return f"{rep['scale']}, {rep['dataset']}, {rep['input']}, {rep['epochs']} epochs"
    return t.NOT_RUN if row["trained"] else t.not_trained_cell(scale)


def render_topk_row(row: dict, scale: str) -> list[str]:
    rep, paper = row["reproduced"] or {}, row["paper"]
    return [t.escape_cell(row["label"]), f"`{row['experiment']}`",
            t._paper(paper["top1_error"]), t._fixed(rep.get("top1_error"), 2, t.MISSING_PAPER),
            t._signed(row["delta_top1"]),
            t._paper(paper["top5_error"]), t._fixed(rep.get("top5_error"), 2, t.MISSING_PAPER),
            _source_cell(row, scale), *t._complexity_cells(row)]


def render_topk_markdown(title: str, caption: str, scale: str, rows: list[dict],
                         summary: dict) -> str:
    """The table, its caption and the notes on what each column is."""
    inputs = sorted({r["paper_protocol"]["input"] for r in rows})
    binary = [r["label"] for r in rows if r["paper"]["params_unit"] == "Mi"]
    lines = [f"## {t.escape_cell(title)}", "",
             *t.markdown_table(TOPK_COLUMNS, [render_topk_row(r, scale) for r in rows]), "",
             t.summary_line(summary), ""]
    if caption.strip():
        lines += [caption.strip(), ""]
    lines += [
        f"Reproduced single-crop errors (%) at **{scale}** scale, marked in *Reproduced on* with "
        "their scale, dataset, input and epochs. Δ top-1 is given only where the reproduction "
        "follows the paper's protocol: full scale, the paper's dataset, input and number of "
        "epochs." + t._untrained_rows_note(scale, rows),
        "",
        "Complexity columns are measured on the paper-size model (1000 classes) at the paper's "
        f"input ({', '.join(inputs) or 'n/a'}). " + t.units_note(rows)
        + (f" Paper params of {', '.join(t.escape_cell(x) for x in binary)} count 2^20 "
           "parameters a unit (*Mi = M* cells), compared in millions." if binary else ""),
        "",
    ]
    return "\n".join(lines)
