"""One paper table: each row's paper figures beside the reproduced ones, as Markdown and JSON.

A reproduced AP always carries its scale, dataset and boxes, and ΔAP is only computed where the
reproduced figure follows the paper's protocol, so a smoke-scale number never passes for a COCO
figure. A row whose experiment the scale does not train (scales.yaml `train`) reads "not trained
at <scale> scale"; other missing inputs read "not run" (a table can be built from complexity
alone); malformed inputs raise `DataError` naming the file, since a silently wrong table is worse
than none. A table whose paper AP is from COCO test-dev (`ap_split: test-dev`) never shows a val
figure: its reproduced AP is the evaluation server's stats for the project's test-dev submission
(runs/<scale>/<exp>/test-dev/eval.json, `pose import-server-stats`), or none. A `metric: pckh`
table (MPII, DANet's Table VIII) shows PCKh@0.5 per joint group instead of AP: the paper's figure
is on MPII's test set, the reproduced one on its validation split, so no difference is computed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from pose.config import PCKH_COLUMNS, PaperFigures, Registry, format_input, parse_input
from pose.errors import DataError
from pose.evaluate.server_stats import TEST_DEV, test_dev_eval_path
from pose.io import atomic_path, read_json_object

EVAL_METRICS = ("AP", "AP50", "AP75", "APM", "APL", "AR", "AR50", "AR75", "ARM", "ARL")
NOT_RUN = "not run"
WITHIN_PCT = 2.0  # a measured params/GFLOPs figure this close to the paper's counts as matching
NA = "n/a"
MISSING_PAPER = "—"
BOXES_SHORT = {"detections": "det boxes", "gt": "GT boxes"}
EVALUATED_SPLITS = ("val",)  # COCO splits the evaluate stage produces an AP for
SERVER_SPLITS = (TEST_DEV,)  # splits whose AP only the COCO evaluation server gives
SERVER_MARK = "test-dev server"
PCKH_SPLIT = "val"  # the MPII split the evaluate stage scores (its test set has no public labels)
PCKH_LOW = "Mean@0.1"

COLUMNS = (
    ("Model", "l"),
    ("Experiment", "l"),
    ("Paper AP", "r"),
    ("Reproduced AP", "r"),
    ("ΔAP", "r"),
    ("Paper params (M)", "r"),
    ("Measured params (M)", "r"),
    ("Δ params", "r"),
    ("Paper GFLOPs", "r"),
    ("Measured GFLOPs", "r"),
    ("Δ GFLOPs", "r"),
    ("GMACs", "r"),
)


def table_order(registry: Registry) -> list[str]:
    """Registry order, with the baselines (what every paper compares against) first."""
    names = list(registry.tables)
    return sorted(names, key=lambda t: (t != "baselines", names.index(t)))


# --------------------------------------------------------------------------- input files
def eval_path(runs_dir: Path, scale: str, experiment: str) -> Path:
    return Path(runs_dir) / scale / experiment / "eval.json"


def complexity_path(runs_dir: Path, experiment: str) -> Path:
    """One complexity record per experiment: its paper-size model at the paper's input."""
    return Path(runs_dir) / "complexity" / f"{experiment}.json"


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def require(data: dict, path: Path, key: str, check: Any, expected: str) -> Any:
    if key not in data:
        raise DataError(f"{path}: missing key {key!r}")
    if not check(data[key]):
        raise DataError(f"{path}: {key!r} should be {expected}, got {data[key]!r}")
    return data[key]


def load_eval(path: Path, experiment: str, scale: str) -> dict | None:
    """Read and check an eval.json; it must belong to this experiment and scale."""
    data = read_json_object(path)
    if data is None:
        return None
    _require_run(data, path, experiment, scale)
    require(data, path, "AP", lambda v: is_number(v) and 0 <= v <= 1, "a number in 0..1")
    for key in EVAL_METRICS[1:]:
        # pycocotools reports -1 for an area range without ground truth.
        if key in data:
            require(data, path, key, lambda v: is_number(v) and -1 <= v <= 1, "a number")
    return data


def load_pckh_eval(path: Path, experiment: str, scale: str) -> dict | None:
    """Read and check an MPII eval.json: PCKh@0.5 per Table VIII column, in percent."""
    data = read_json_object(path)
    if data is None:
        return None
    _require_run(data, path, experiment, scale)
    for key in (*PCKH_COLUMNS, PCKH_LOW):
        require(data, path, key, lambda v: is_number(v) and 0 <= v <= 100, "a PCKh in 0..100")
    return data


def _require_run(data: dict, path: Path, experiment: str, scale: str) -> None:
    """The fields every eval.json carries: whose run it is and under which protocol."""
    require(data, path, "experiment", lambda v: v == experiment, f"{experiment!r}")
    require(data, path, "scale", lambda v: v == scale, f"{scale!r}")
    require(data, path, "dataset", lambda v: isinstance(v, str) and v, "a dataset name")
    require(data, path, "boxes", lambda v: v in BOXES_SHORT, f"one of {sorted(BOXES_SHORT)}")
    require(data, path, "input", lambda v: isinstance(v, str) and v, "an input like '256x192'")
    require(data, path, "flip_test", lambda v: isinstance(v, bool), "true or false")
    require(
        data, path, "epochs", lambda v: isinstance(v, int) and not isinstance(v, bool), "an int"
    )


def load_test_dev_eval(path: Path, experiment: str, scale: str) -> dict | None:
    """Read and check a test-dev eval.json: the server's stats, imported for this experiment."""
    data = load_eval(path, experiment, scale)
    if data is not None:
        require(data, path, "split", lambda v: v == TEST_DEV, repr(TEST_DEV))
    return data


def load_complexity(path: Path, model: str, paper_input: tuple[int, int]) -> dict | None:
    """Read and check a complexity file; it must be this model at the paper's input."""
    data = read_json_object(path)
    if data is None:
        return None
    size = format_input(paper_input)
    require(data, path, "model", lambda v: v == model, f"{model!r}")
    require(data, path, "input", lambda v: v == size, f"{size!r} (the paper's input)")
    require(
        data,
        path,
        "params",
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        "a non-negative int",
    )
    for key in ("gflops_paper", "gmacs"):
        require(data, path, key, lambda v: is_number(v) and v >= 0, "a non-negative number")
    return data


# --------------------------------------------------------------------------- row figures
def _pct(value: float | None) -> float | None:
    return None if value is None or value < 0 else round(value * 100, 4)


def _delta_pct(measured: float | None, paper: float | None) -> float | None:
    if measured is None or paper is None or paper == 0:
        return None
    return round((measured - paper) / paper * 100, 4)


def paper_protocol(registry: Registry, experiment: str) -> dict:
    """What the paper's AP was measured under: the unscaled experiment and recipe."""
    exp = registry.experiments[experiment]
    recipe = registry.recipes[exp.recipe]
    return {
        "scale": "full",
        "dataset": exp.dataset,
        "input": format_input(parse_input(exp.input, f"experiment {experiment}.input")),
        "boxes": recipe.test.boxes,
        "flip_test": recipe.test.flip_test,
        "epochs": recipe.epochs,
    }


def not_trained_cell(scale: str) -> str:
    return f"not trained at {scale} scale"


def not_evaluated_cell(split: str) -> str:
    return f"no {split} evaluation"


def _within(delta_pct: float | None, paper: float | None) -> bool | None:
    """Whether a measured figure is within WITHIN_PCT of the paper's; None where the paper gives
    none (such rows are not counted) and False where it is not measured yet."""
    if paper is None:
        return None
    return delta_pct is not None and abs(delta_pct) <= WITHIN_PCT


def complexity_summary(rows: list[dict]) -> dict:
    """How many rows' measured params/GFLOPs are within WITHIN_PCT of the paper's."""
    summary: dict = {"within_pct": WITHIN_PCT}
    for key in ("params", "gflops"):
        flags = [r[f"{key}_within_2pct"] for r in rows if r[f"{key}_within_2pct"] is not None]
        summary[key] = {"within": sum(flags), "rows": len(flags)}
    summary["not_measured"] = sum(1 for r in rows if r["complexity"] is None)
    return summary


def _differences(ev: dict, protocol: dict) -> list[str]:
    """Where a reproduced figure departs from the paper's protocol (empty: comparable)."""
    return [
        f"{key} {ev[key]!r} (paper: {want!r})" for key, want in protocol.items() if ev[key] != want
    ]


def _complexity_fields(cx: dict | None, paper: PaperFigures) -> dict:
    """A row's measured complexity and its differences to the paper's figures."""
    complexity = None
    delta_params = delta_gflops = None
    if cx is not None:
        complexity = {
            "input": cx["input"],
            "params_m": round(cx["params"] / 1e6, 6),
            "gflops": round(float(cx["gflops_paper"]), 6),
            "gmacs": round(float(cx["gmacs"]), 6),
        }
        delta_params = _delta_pct(complexity["params_m"], paper.params_m)
        delta_gflops = _delta_pct(complexity["gflops"], paper.gflops)
    return {
        "complexity": complexity,
        "delta_params_pct": delta_params,
        "delta_gflops_pct": delta_gflops,
        "params_within_2pct": _within(delta_params, paper.params_m),
        "gflops_within_2pct": _within(delta_gflops, paper.gflops),
    }


def table_rows(registry: Registry, table: str, scale: str, runs_dir: Path) -> list[dict]:
    """The table's rows as numbers: paper figures, reproduced figures, complexity and deltas."""
    spec = registry.table(table)
    if spec.metric == "pckh":
        return pckh_table_rows(registry, table, scale, runs_dir)
    trained_here = set(registry.trained_experiments(scale))
    # A test-dev table reads the server's stats (test-dev/eval.json), never the val eval.json:
    # a val AP is another figure than the paper's.
    from_server = spec.ap_split in SERVER_SPLITS
    rows = []
    for row in spec.typed_rows(f"{registry.params_dir}/papers/{table}.yaml"):
        resolved = registry.resolve(row.experiment, scale)
        trained = row.experiment in trained_here
        # An eval.json left from an earlier selection is not this scale's figure: not read.
        where = test_dev_eval_path if from_server else eval_path
        ev_file = where(runs_dir, scale, row.experiment) if trained else None
        cx_file = complexity_path(runs_dir, row.experiment)
        load = load_test_dev_eval if from_server else load_eval
        ev = load(ev_file, row.experiment, scale) if ev_file else None
        cx = load_complexity(cx_file, resolved.model_name, resolved.paper_input)
        protocol = paper_protocol(registry, row.experiment)

        reproduced = None
        delta_ap = None
        differences: list[str] = []
        if ev is not None:
            reproduced = {
                "ap": _pct(ev["AP"]),
                **{k.lower(): _pct(ev.get(k)) for k in EVAL_METRICS[1:]},
                **{k: ev[k] for k in ("scale", "dataset", "boxes", "input", "flip_test", "epochs")},
            }
            if from_server:
                reproduced["split"] = TEST_DEV
            differences = _differences(ev, protocol)
            if not differences and row.paper.ap is not None:
                delta_ap = round(reproduced["ap"] - row.paper.ap, 4)

        rows.append(
            {
                "label": row.label,
                "experiment": row.experiment,
                "model": resolved.model_name,
                "paper": {
                    "ap": row.paper.ap,
                    "params_m": row.paper.params_m,
                    "gflops": row.paper.gflops,
                },
                "paper_protocol": protocol,
                "ap_split": spec.ap_split,
                "trained": trained,
                "reproduced": reproduced,
                "delta_ap": delta_ap,
                "not_comparable_because": differences,
                **_complexity_fields(cx, row.paper),
                "files": {"eval": ev_file and str(ev_file), "complexity": str(cx_file)},
            }
        )
    return rows


def _evaluated_dataset(registry: Registry, path: Path) -> str | None:
    """The dataset an existing eval.json was measured on, when it is one of the registry's."""
    data = read_json_object(path)
    dataset = (data or {}).get("dataset")
    return dataset if isinstance(dataset, str) and dataset in registry.datasets else None


def pckh_table_rows(registry: Registry, table: str, scale: str, runs_dir: Path) -> list[dict]:
    """A `metric: pckh` table's rows: the paper's PCKh@0.5 (MPII test) beside the reproduced
    PCKh@0.5 on MPII's validation split, with complexity; never a difference between the two."""
    spec = registry.table(table)
    trained_here = set(registry.trained_experiments(scale))
    rows = []
    for row in spec.typed_rows(f"{registry.params_dir}/papers/{table}.yaml"):
        resolved = registry.resolve(row.experiment, scale)
        trained = row.experiment in trained_here
        # A scale that swaps the dataset for a COCO-format one (smoke, or a check scale's
        # synthetic stand-in: the run's eval.json says which) scores AP, not PCKh.
        trained_on = (_evaluated_dataset(registry, eval_path(runs_dir, scale, row.experiment))
                      if trained else None) or resolved.dataset_name
        scored = trained and registry.dataset(trained_on).source == "mpii"
        ev_file = eval_path(runs_dir, scale, row.experiment) if scored else None
        cx_file = complexity_path(runs_dir, row.experiment)
        ev = load_pckh_eval(ev_file, row.experiment, scale) if ev_file else None
        cx = load_complexity(cx_file, resolved.model_name, resolved.paper_input)
        reproduced = None
        if ev is not None:
            reproduced = {
                "pckh": {k: round(float(ev[k]), 4) for k in PCKH_COLUMNS},
                "mean_at_0.1": round(float(ev[PCKH_LOW]), 4),
                "split": PCKH_SPLIT,
                **{k: ev[k] for k in ("scale", "dataset", "boxes", "input", "flip_test", "epochs")},
            }
        rows.append(
            {
                "label": row.label,
                "experiment": row.experiment,
                "model": resolved.model_name,
                "paper": {
                    "pckh": dict(row.paper.pckh or {}),
                    "params_m": row.paper.params_m,
                    "gflops": row.paper.gflops,
                },
                "paper_protocol": paper_protocol(registry, row.experiment),
                "trained": trained,
                "trained_on": trained_on,
                "reproduced": reproduced,
                **_complexity_fields(cx, row.paper),
                "files": {"eval": ev_file and str(ev_file), "complexity": str(cx_file)},
            }
        )
    return rows


# --------------------------------------------------------------------------- Markdown
def _paper(value: float | None) -> str:
    """A paper figure as printed there (the shortest form that reads back the same)."""
    return MISSING_PAPER if value is None else repr(float(value))


def _fixed(value: float | None, digits: int, missing: str = NOT_RUN) -> str:
    return missing if value is None else f"{value:.{digits}f}"


def _signed(value: float | None, suffix: str = "") -> str:
    """'+0.4%', '-1.2'; a difference that rounds to zero reads '+0.0', never '-0.0'."""
    if value is None:
        return NA
    return f"{round(value, 1) or 0.0:+.1f}{suffix}"


def reproduced_cell(reproduced: dict | None) -> str:
    """'61.3 (smoke, synthetic, det boxes)': the figure is never shown without where it is from."""
    if reproduced is None:
        return NOT_RUN
    marks = [reproduced["scale"], reproduced["dataset"], BOXES_SHORT[reproduced["boxes"]]]
    if reproduced.get("split") in SERVER_SPLITS:
        marks.insert(0, SERVER_MARK)
    if not reproduced["flip_test"]:
        marks.append("no flip")
    return f"{reproduced['ap']:.1f} ({', '.join(marks)})"


def escape_cell(text: str) -> str:
    return text.replace("|", "\\|")


def _reproduced_ap_cell(row: dict, scale: str) -> str:
    if row["ap_split"] not in EVALUATED_SPLITS:
        if row["reproduced"] is None:
            return not_evaluated_cell(row["ap_split"])
        return reproduced_cell(row["reproduced"])
    return reproduced_cell(row["reproduced"]) if row["trained"] else not_trained_cell(scale)


def render_row(row: dict, scale: str) -> list[str]:
    return [
        escape_cell(row["label"]),
        f"`{row['experiment']}`",
        _paper(row["paper"]["ap"]),
        _reproduced_ap_cell(row, scale),
        _signed(row["delta_ap"]),
        *_complexity_cells(row),
    ]


def _complexity_cells(row: dict) -> list[str]:
    cx = row["complexity"] or {}
    return [
        _paper(row["paper"]["params_m"]),
        _fixed(cx.get("params_m"), 2),
        _signed(row["delta_params_pct"], "%"),
        _paper(row["paper"]["gflops"]),
        _fixed(cx.get("gflops"), 2),
        _signed(row["delta_gflops_pct"], "%"),
        _fixed(cx.get("gmacs"), 2),
    ]


PCKH_TABLE_COLUMNS = (
    ("Model", "l"),
    ("Experiment", "l"),
    ("Reproduced on", "l"),
    *((f"{name} (paper / {PCKH_SPLIT})", "r") for name in PCKH_COLUMNS),
    *COLUMNS[5:],
)


def _pckh_source_cell(row: dict, scale: str) -> str:
    """Where the reproduced PCKh comes from ('full, mpii, val split'), or why there is none."""
    rep = row["reproduced"]
    if rep is not None:
        marks = [rep["scale"], rep["dataset"], f"{rep['split']} split"]
        return ", ".join(marks + ([] if rep["flip_test"] else ["no flip"]))
    if not row["trained"]:
        return not_trained_cell(scale)
    if row["trained_on"] != row["paper_protocol"]["dataset"]:
        return f"trained on {row['trained_on']} at {scale} scale: no PCKh"
    return NOT_RUN


def render_pckh_row(row: dict, scale: str) -> list[str]:
    """PCKh cells read 'paper / reproduced' (reproduced: '—' until evaluated)."""
    rep = (row["reproduced"] or {}).get("pckh", {})
    cells = [f"{_paper(row['paper']['pckh'].get(k))} / {_fixed(rep.get(k), 1, MISSING_PAPER)}"
             for k in PCKH_COLUMNS]
    return [escape_cell(row["label"]), f"`{row['experiment']}`", _pckh_source_cell(row, scale),
            *cells, *_complexity_cells(row)]


def _untrained_rows_note(scale: str, rows: list[dict]) -> str:
    if all(r["trained"] for r in rows):
        return ""
    return (f" Rows reading *{not_trained_cell(scale)}* are experiments this scale does not "
            "train (`train` in params/scales.yaml); their complexity is measured all the same.")


def _pckh_note(scale: str, rows: list[dict]) -> str:
    note = (
        "Each PCKh@0.5 cell reads *paper / reproduced*. The paper's figures are on the MPII "
        "**test** set, which only the benchmark's evaluation scores; the reproduced ones are "
        f"PCKh@0.5 on the MPII **validation** split (valid.json against gt_valid.mat) at "
        f"**{scale}** scale, marked in *Reproduced on*. A validation figure is not a test "
        "figure: no difference is computed."
    )
    return note + _untrained_rows_note(scale, rows)


def summary_line(summary: dict) -> str:
    """'Params within 2% of the paper: 3 of 3 rows; GFLOPs within 2%: 2 of 3 rows.'"""
    pct = f"{summary['within_pct']:g}%"

    def count(key: str) -> str:
        figures = summary[key]
        if figures["rows"] == 0:
            return "the paper gives none"
        return f"{figures['within']} of {figures['rows']} rows"

    line = (
        f"Params within {pct} of the paper: {count('params')}; "
        f"GFLOPs within {pct}: {count('gflops')}"
    )
    missing = summary["not_measured"]
    plural = "row" if missing == 1 else "rows"
    return line + (f". Complexity not measured yet for {missing} {plural}." if missing else ".")


def _reproduced_note(scale: str, rows: list[dict]) -> str:
    split = rows[0]["ap_split"] if rows else EVALUATED_SPLITS[0]
    if split not in EVALUATED_SPLITS:
        return (
            f"The paper's AP column is from COCO **{split}**, which has no public ground truth: "
            f"a reproduced AP here is the COCO evaluation server's for this project's {split} "
            f"submission (`pose predict-test-dev`, then `pose import-server-stats`), marked "
            f"*{SERVER_MARK}* with its scale, dataset and boxes; ΔAP is given only where it "
            "follows the paper's protocol. Rows reading "
            f"*{not_evaluated_cell(split)}* have no imported server stats at {scale} scale (a "
            f"val figure is not a {split} figure): see the val tables for the same experiments."
        )
    note = (
        f"Reproduced AP (×100) at **{scale}** scale, marked with its scale, dataset and boxes. "
        "ΔAP is given only where the reproduction follows the paper's protocol: full scale, and "
        "the paper's dataset, boxes, flip test, input and number of epochs."
    )
    return note + _untrained_rows_note(scale, rows)


def markdown_table(columns: tuple | list, rows: list[list[str]]) -> list[str]:
    """Header, alignment rule and body lines; `columns` holds (name, 'l' or 'r') pairs."""
    header = "| " + " | ".join(name for name, _ in columns) + " |"
    rule = "| " + " | ".join("---:" if align == "r" else ":---" for _, align in columns) + " |"
    return [header, rule, *("| " + " | ".join(cells) + " |" for cells in rows)]


def render_markdown(
    title: str, caption: str, scale: str, rows: list[dict], summary: dict, metric: str = "ap"
) -> str:
    """The table with its caption and the notes a reader needs to interpret the columns."""
    pckh = metric == "pckh"
    columns = PCKH_TABLE_COLUMNS if pckh else COLUMNS
    render = render_pckh_row if pckh else render_row
    table = markdown_table(columns, [render(r, scale) for r in rows])
    inputs = sorted({r["paper_protocol"]["input"] for r in rows})
    lines = [f"## {escape_cell(title)}", "", *table, "", summary_line(summary), ""]
    if caption.strip():
        lines += [caption.strip(), ""]
    lines += [
        _pckh_note(scale, rows) if pckh else _reproduced_note(scale, rows),
        "",
        "Complexity columns (params, GFLOPs, GMACs) are measured on the paper-size model at the "
        f"paper's input ({', '.join(inputs) or 'n/a'}), whatever the scale of the reproduced "
        f"{'PCKh' if pckh else 'AP'}. "
        "GFLOPs follow the papers' convention; GMACs count true multiply-adds.",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- the stage
def build_table(
    registry: Registry,
    table: str,
    scale: str,
    runs_dir: Path = Path("runs"),
    out_dir: Path = Path("reports/tables"),
) -> None:
    """Write <out_dir>/<table>.md and <table>.json together, or neither."""
    spec = registry.table(table)
    registry.scale(scale)  # an unknown scale fails here, naming the known ones
    rows = table_rows(registry, table, scale, Path(runs_dir))
    summary = complexity_summary(rows)
    markdown = render_markdown(spec.title, spec.caption, scale, rows, summary, spec.metric)
    payload = {
        "table": table,
        "title": spec.title,
        "caption": spec.caption,
        **({"metric": spec.metric} if spec.metric != "ap" else {}),
        "ap_split": spec.ap_split,
        "scale": scale,
        "complexity_summary": summary,
        "rows": rows,
    }
    out_dir = Path(out_dir)
    with (
        atomic_path(out_dir / f"{table}.md") as md_tmp,
        atomic_path(out_dir / f"{table}.json") as json_tmp,
    ):
        md_tmp.write_text(markdown, encoding="utf-8")
        json_tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", "utf-8")
