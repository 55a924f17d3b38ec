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

Complexity is compared in the unit each paper prints (the table's `params_unit` / `gflops_unit`,
or a row's own where it is copied from another paper): params in millions or in megabytes of fp32
weights, GFLOPs as the official HRNet summary counts them or as true multiply-adds. A row whose
printed AP was measured on another split or input than its experiment's (`paper.ap_split`,
`paper.ap_input`) shows where, and gets no ΔAP. The COCO columns beyond AP and the speed figures
the papers print (`pose speed` records in runs/speed/) follow each table in their own tables.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from pose.config import (
    PCKH_COLUMNS,
    PaperFigures,
    Registry,
    SpeedSpec,
    TableSpec,
    format_input,
    parse_input,
)
from pose.errors import ConfigError, DataError
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
# The COCO columns after AP that the papers print, as eval.json names them and paper figures do
PAPER_COCO_COLUMNS = (("AP50", "ap50"), ("AP75", "ap75"), ("APM", "apm"), ("APL", "apl"),
                      ("AR", "ar"))
BYTES_PER_PARAM = 4  # fp32 weights: a params column printed in MB counts 4 bytes a parameter
UNIT_NAMES = {
    "M": "millions of parameters",
    "MB": "megabytes of fp32 weights (4 bytes a parameter, 10^6 bytes a MB)",
    "Mi": "binary millions of parameters (2^20 a unit)",
    "hrnet": "the official HRNet model summary (conv/linear weight elements x output positions, "
             "/ 2^30)",
    "gmacs": "true multiply-adds / 10^9",
}
GFLOPS_UNIT_SHORT = {"hrnet": "HRNet /2^30", "gmacs": "MACs /10^9"}

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
    ("GFLOPs unit", "l"),
    ("Measured GFLOPs", "r"),
    ("GMACs", "r"),
    ("Δ GFLOPs", "r"),
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


def speed_path(runs_dir: Path, experiment: str, speed: SpeedSpec) -> Path:
    """One `pose speed` record per experiment and protocol: its paper-size model at the paper's
    input, timed on the protocol's device, threads, batch and persons."""
    return Path(runs_dir) / "speed" / experiment / f"{speed.protocol}.json"


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


def load_speed(path: Path, model: str, paper_input: tuple[int, int], speed: SpeedSpec
               ) -> dict | None:
    """Read and check a `pose speed` record: this model at the paper's input, timed under the
    table's protocol (device, threads, persons); returns its run at the protocol's batch."""
    data = read_json_object(path)
    if data is None:
        return None
    size = format_input(paper_input)
    require(data, path, "model", lambda v: v == model, f"{model!r}")
    require(data, path, "input", lambda v: v == size, f"{size!r} (the paper's input)")
    require(data, path, "device", lambda v: v == speed.device, repr(speed.device))
    require(data, path, "threads_requested", lambda v: v == speed.threads,
            f"{speed.threads!r} (the paper's)")
    require(data, path, "persons", lambda v: v == speed.persons, repr(speed.persons))
    require(data, path, "batches", lambda v: isinstance(v, list), "a list of timed batch sizes")
    runs = [r for r in data["batches"] if isinstance(r, dict) and r.get("batch") == speed.batch]
    if not runs:
        raise DataError(f"{path}: no run at batch {speed.batch} (the paper's)")
    for key in ("persons_per_s", "ms_per_person"):
        require(runs[0], path, key, lambda v: is_number(v) and v > 0, "a positive number")
    return {
        "persons_per_s": round(float(runs[0]["persons_per_s"]), 4),
        "ms_per_person": round(float(runs[0]["ms_per_person"]), 4),
        "batch": speed.batch,
        **{k: data.get(k) for k in ("device", "gpu", "cpu", "threads", "cpu_count", "torch")},
    }


def speed_rows(registry: Registry, table: str) -> list[tuple[str, SpeedSpec]]:
    """(experiment, speed column) of each speed figure the table's paper gives."""
    spec = registry.table(table)
    return [(row.experiment, column)
            for row in spec.typed_rows(f"{registry.params_dir}/papers/{table}.yaml")
            for column in spec.speed if column.column in (row.paper.speed or {})]


def speed_targets(registry: Registry) -> dict[tuple[str, str], SpeedSpec]:
    """{(experiment, protocol): speed column} of every speed figure of every table: one
    `pose speed` record each (two columns timed alike share one)."""
    return {(experiment, column.protocol): column
            for table in table_order(registry)
            for experiment, column in speed_rows(registry, table)}


def speed_jobs(registry: Registry, scale: str, dataset: str | None = None
               ) -> dict[tuple[str, str], SpeedSpec]:
    """The speed records a pipeline run at `scale` makes (the Snakefile's `speed` rule, DVC's
    `speed` stage through pipeline.yaml): those of the experiments it trains, at a scale on the
    papers' own data (timing 1000 persons one at a time takes minutes per model; a check or
    synthetic scale makes none), a GPU protocol only where the scale runs on GPUs."""
    spec = registry.scale(scale)
    if spec.preflight or spec.dataset is not None:
        return {}
    trained = set(registry.trained_experiments(scale, dataset))
    return {key: column for key, column in speed_targets(registry).items()
            if key[0] in trained and (column.device == "cpu" or spec.device == "cuda")}


def pipeline_speed(registry: Registry, scale: str, dataset: str | None = None
                   ) -> dict[str, dict[str, str]]:
    """pipeline.yaml's `speed`: {"<experiment>--<protocol>": {out, command}} for dvc.yaml
    (a key with no dot: DVC reads it in a params path)."""
    out = {}
    for (experiment, protocol), column in speed_jobs(registry, scale, dataset).items():
        path = speed_path(Path("runs"), experiment, column).as_posix()
        out[f"{experiment}--{protocol}"] = {
            "out": path, "command": speed_command(registry, experiment, protocol, path)}
    return out


def speed_command(registry: Registry, experiment: str, protocol: str, out: str) -> str:
    """The `pose speed` command that times one experiment under one speed protocol."""
    speed = speed_targets(registry).get((experiment, protocol))
    if speed is None:
        raise ConfigError(f"{experiment}: no table gives a speed measured as {protocol!r}")
    exp = registry.experiments[experiment]
    claim = " --claim-gpus 1" if speed.device == "cuda" else ""  # its own GPU (gpu_claim)
    args = [f"pose --no-progress{claim} speed {exp.model} --input {exp.input}",
            f"--device {speed.device}", f"--persons {speed.persons}"]
    if speed.threads is not None:
        args.append(f"--threads {speed.threads}")
    if speed.batch != 1:
        args.append(f"--batch {speed.batch}")
    return " ".join(args + ["--format json", f"--out {out}"])


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


def complexity_total(summaries: list[dict]) -> dict:
    """The tables' complexity summaries added up (a model in several tables counts in each, as
    each paper prints it)."""
    total: dict = {"within_pct": WITHIN_PCT, "tables": len(summaries), "not_measured": 0}
    for key in ("params", "gflops"):
        total[key] = {"within": sum(s[key]["within"] for s in summaries),
                      "rows": sum(s[key]["rows"] for s in summaries)}
    total["not_measured"] = sum(s["not_measured"] for s in summaries)
    return total


def _differences(ev: dict, protocol: dict) -> list[str]:
    """Where a reproduced figure departs from the paper's protocol (empty: comparable)."""
    return [
        f"{key} {ev[key]!r} (paper: {want!r})" for key, want in protocol.items() if ev[key] != want
    ]


def row_units(spec: TableSpec, paper: PaperFigures) -> tuple[str, str]:
    """(params unit, GFLOPs unit) of a row's printed figures: its own, else its table's."""
    return paper.params_unit or spec.params_unit, paper.gflops_unit or spec.gflops_unit


def params_in_millions(value: float | None, unit: str) -> float | None:
    """A printed params figure in millions of parameters (MB of fp32 weights / 4 bytes)."""
    if value is None:
        return None
    if unit == "Mi":  # binary millions: 2^20 parameters a unit
        return round(value * 2**20 / 1e6, 6)
    return round(value / BYTES_PER_PARAM, 6) if unit == "MB" else value


def _complexity_fields(cx: dict | None, paper: PaperFigures, units: tuple[str, str]) -> dict:
    """A row's measured complexity and its differences to the paper's figures, each compared in
    the unit the paper prints it in."""
    params_unit, gflops_unit = units
    paper_params_m = params_in_millions(paper.params_m, params_unit)
    complexity = None
    delta_params = delta_gflops = None
    if cx is not None:
        hrnet, macs = round(float(cx["gflops_paper"]), 6), round(float(cx["gmacs"]), 6)
        complexity = {
            "input": cx["input"],
            "params_m": round(cx["params"] / 1e6, 6),
            "gflops": macs if gflops_unit == "gmacs" else hrnet,  # in the paper's unit
            "gflops_unit": gflops_unit,
            "gflops_hrnet": hrnet,
            "gmacs": macs,
        }
        delta_params = _delta_pct(complexity["params_m"], paper_params_m)
        delta_gflops = _delta_pct(complexity["gflops"], paper.gflops)
    return {
        "complexity": complexity,
        "delta_params_pct": delta_params,
        "delta_gflops_pct": delta_gflops,
        "params_within_2pct": _within(delta_params, paper_params_m),
        "gflops_within_2pct": _within(delta_gflops, paper.gflops),
    }


def paper_figures(paper: PaperFigures, units: tuple[str, str]) -> dict:
    """The row's paper figures as printed, with their units and the params in millions."""
    figures = {
        "ap": paper.ap,
        "params_m": params_in_millions(paper.params_m, units[0]),
        "gflops": paper.gflops,
        "params_unit": units[0],
        "gflops_unit": units[1],
    }
    if units[0] != "M" and paper.params_m is not None:
        figures["params_printed"] = paper.params_m
    for _, key in PAPER_COCO_COLUMNS:
        if getattr(paper, key) is not None:
            figures[key] = getattr(paper, key)
    for key in ("speed", "ap_split", "ap_input"):
        if getattr(paper, key) is not None:
            figures[key] = getattr(paper, key)
    return figures


def paper_ap_elsewhere(paper: PaperFigures, split: str, protocol: dict) -> list[str]:
    """Where the printed AP was measured other than the table's split and the experiment's
    input (empty: on the row's own protocol)."""
    reasons = []
    if paper.ap_split is not None and paper.ap_split != split:
        reasons.append(f"paper AP from COCO {paper.ap_split} (table: {split})")
    if paper.ap_input is not None:
        printed = format_input(parse_input(paper.ap_input, "paper.ap_input"))
        if printed != protocol["input"]:
            reasons.append(f"paper AP at input {printed} (experiment: {protocol['input']})")
    return reasons


def _speed_fields(spec: TableSpec, paper: PaperFigures, model: str,
                  paper_input: tuple[int, int], experiment: str, runs_dir: Path) -> dict:
    """A row's measured speed per speed column its paper gives (`pose speed` records)."""
    columns = [c for c in spec.speed if c.column in (paper.speed or {})]
    if not columns:
        return {}
    paths = {c.column: speed_path(runs_dir, experiment, c) for c in columns}
    return {"speed": {c.column: load_speed(paths[c.column], model, paper_input, c)
                      for c in columns},
            "files_speed": {k: str(v) for k, v in paths.items()}}


def table_rows(registry: Registry, table: str, scale: str, runs_dir: Path) -> list[dict]:
    """The table's rows as numbers: paper figures, reproduced figures, complexity and deltas."""
    spec = registry.table(table)
    if spec.metric == "pckh":
        return pckh_table_rows(registry, table, scale, runs_dir)
    if spec.metric == "topk":  # image classifiers (DANet Table X)
        from pose.report.topk_table import topk_table_rows

        return topk_table_rows(registry, table, scale, runs_dir)
    from pose.report.results_frame import coco_seed_stats, results_frame

    trained_here = set(registry.trained_experiments(scale))
    # A test-dev table reads the server's stats (test-dev/eval.json), never the val eval.json:
    # a val AP is another figure than the paper's.
    from_server = spec.ap_split in SERVER_SPLITS
    frame = results_frame(registry, scale, runs_dir)
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
        # the experiment's further seeds at this scale (the test-dev server scores one run)
        seed_files = [eval_path(runs_dir, scale, run)
                      for run in registry.seed_runs(row.experiment, scale)[1:]] \
            if trained and not from_server else []
        cx = load_complexity(cx_file, resolved.model_name, resolved.paper_input)
        protocol = paper_protocol(registry, row.experiment)
        units = row_units(spec, row.paper)
        elsewhere = paper_ap_elsewhere(row.paper, spec.ap_split, protocol)
        speed = _speed_fields(spec, row.paper, resolved.model_name,
                              resolved.paper_input, row.experiment, Path(runs_dir))

        reproduced = None
        delta_ap = None
        differences: list[str] = []
        if ev is not None:
            for seed_file in seed_files:  # each seed's record checked as the first one's
                load(seed_file, seed_file.parent.name, scale)
            reproduced = {
                # the server scores one run; the val stats are the results frame's, per seed
                **(coco_stats(ev) if from_server else coco_seed_stats(frame, row.experiment)),
                **{k: ev[k] for k in ("scale", "dataset", "boxes", "input", "flip_test", "epochs")},
            }
            if from_server:
                reproduced["split"] = TEST_DEV
            differences = _differences(ev, protocol) + elsewhere
            if not differences and row.paper.ap is not None:
                delta_ap = round(reproduced["ap"] - row.paper.ap, 4)

        files = {"eval": ev_file and str(ev_file), "complexity": str(cx_file)}
        if seed_files:
            files["eval_seeds"] = [str(f) for f in seed_files]
        if "files_speed" in speed:
            files["speed"] = speed.pop("files_speed")
        rows.append(
            {
                "label": row.label,
                "experiment": row.experiment,
                "model": resolved.model_name,
                "paper": paper_figures(row.paper, units),
                "paper_protocol": protocol,
                "ap_split": spec.ap_split,
                "paper_ap_elsewhere": elsewhere,
                "trained": trained,
                "reproduced": reproduced,
                "delta_ap": delta_ap,
                "not_comparable_because": differences,
                **_complexity_fields(cx, row.paper, units),
                **speed,
                "files": files,
            }
        )
    return rows


def coco_stats(ev: dict) -> dict:
    """One run's COCO stats in percent, keyed as the tables print them ("ap", "ap50", ...)."""
    return {k.lower(): _pct(ev.get(k)) for k in EVAL_METRICS}


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
                "paper": {"pckh": dict(row.paper.pckh or {}),
                          **paper_figures(row.paper, row_units(spec, row.paper))},
                "paper_protocol": paper_protocol(registry, row.experiment),
                "trained": trained,
                "trained_on": trained_on,
                "reproduced": reproduced,
                **_complexity_fields(cx, row.paper, row_units(spec, row.paper)),
                "files": {"eval": ev_file and str(ev_file), "complexity": str(cx_file)},
            }
        )
    return rows


# --------------------------------------------------------------------------- Markdown
def _paper(value: float | None) -> str:
    """A paper figure as printed there (the shortest form that reads back the same; a figure
    written without decimals, such as 'about 58 PPS', stays without)."""
    if value is None:
        return MISSING_PAPER
    return str(value) if isinstance(value, int) else repr(float(value))


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
    if reproduced.get("seeds"):  # the mean of several seeds, ± their standard deviation
        marks.append(f"{reproduced['seeds']} seeds")
        return f"{reproduced['ap']:.1f} ± {reproduced['ap_std']:.1f} ({', '.join(marks)})"
    return f"{reproduced['ap']:.1f} ({', '.join(marks)})"


def escape_cell(text: str) -> str:
    return text.replace("|", "\\|")


def _reproduced_ap_cell(row: dict, scale: str) -> str:
    if row["ap_split"] not in EVALUATED_SPLITS:
        if row["reproduced"] is None:
            return not_evaluated_cell(row["ap_split"])
        return reproduced_cell(row["reproduced"])
    return reproduced_cell(row["reproduced"]) if row["trained"] else not_trained_cell(scale)


def _paper_ap_cell(row: dict) -> str:
    """The printed AP, with the split and input it was measured on where they are not the row's
    ('73.7 (test-dev, 384x288)')."""
    paper = row["paper"]
    if not row.get("paper_ap_elsewhere"):
        return _paper(paper["ap"])
    where = [paper.get("ap_split") or row["ap_split"],
             paper.get("ap_input") or row["paper_protocol"]["input"]]
    return f"{_paper(paper['ap'])} ({', '.join(where)})"


def render_row(row: dict, scale: str) -> list[str]:
    return [
        escape_cell(row["label"]),
        f"`{row['experiment']}`",
        _paper_ap_cell(row),
        _reproduced_ap_cell(row, scale),
        _signed(row["delta_ap"]),
        *_complexity_cells(row),
    ]


def _paper_params_cell(paper: dict) -> str:
    """Params in millions; a figure printed in MB of fp32 weights shows both ('47.0 MB = 11.75')."""
    if paper["params_unit"] in ("MB", "Mi") and paper["params_m"] is not None:
        printed = _paper(paper["params_printed"])
        return f"{printed} {paper['params_unit']} = {paper['params_m']:g}"
    return _paper(paper["params_m"])


def _complexity_cells(row: dict) -> list[str]:
    """Params, then GFLOPs: the paper's and its unit, the two measured counts, and the difference
    to the one in the paper's unit."""
    cx = row["complexity"] or {}
    paper = row["paper"]
    return [
        _paper_params_cell(paper),
        _fixed(cx.get("params_m"), 2),
        _signed(row["delta_params_pct"], "%"),
        _paper(paper["gflops"]),
        GFLOPS_UNIT_SHORT[paper["gflops_unit"]] if paper["gflops"] is not None else NA,
        _fixed(cx.get("gflops_hrnet"), 2),
        _fixed(cx.get("gmacs"), 2),
        _signed(row["delta_gflops_pct"], "%"),
    ]


def units_note(rows: list[dict]) -> str:
    """Which unit each complexity column uses, and which rows print params in MB."""
    gflops_units = sorted({r["paper"]["gflops_unit"] for r in rows
                           if r["paper"]["gflops"] is not None})
    lines = [
        "Measured GFLOPs: " + UNIT_NAMES["hrnet"] + "; GMACs: " + UNIT_NAMES["gmacs"] + ". "
        + ("The paper gives no GFLOPs." if not gflops_units else
           "Paper GFLOPs are in the unit of their row's *GFLOPs unit* (" + "; ".join(
               f"*{GFLOPS_UNIT_SHORT[u]}*: {UNIT_NAMES[u]}" for u in gflops_units)
           + "), and Δ GFLOPs compares them with the measured column in that unit.")
    ]
    in_mb = [r["label"] for r in rows if r["paper"]["params_unit"] == "MB"]
    if in_mb:
        lines.append(
            "Paper params are millions, except where a cell reads *MB = M*: the paper prints "
            f"those ({', '.join(escape_cell(x) for x in in_mb)}) in {UNIT_NAMES['MB']}, compared "
            f"in millions (MB / {BYTES_PER_PARAM})."
        )
    return " ".join(lines)


def _pair(paper: float | None, reproduced: float | None) -> str:
    return f"{_paper(paper)} / {_fixed(reproduced, 1, MISSING_PAPER)}"


def coco_columns_table(rows: list[dict]) -> list[str]:
    """AP and the other COCO columns the paper prints, each cell *paper / reproduced*; empty
    when the paper prints AP only."""
    printed = [(name, key) for name, key in PAPER_COCO_COLUMNS
               if any(key in r["paper"] for r in rows)]
    if not printed:
        return []
    columns = [("Model", "l"), ("Experiment", "l"), ("AP", "r"),
               *((name, "r") for name, _ in printed)]
    body = []
    for r in rows:
        rep = r["reproduced"] or {}
        cells = [f"{_paper_ap_cell(r)} / {_fixed(rep.get('ap'), 1, MISSING_PAPER)}"]
        cells += [_pair(r["paper"].get(key), rep.get(key)) for _, key in printed]
        body.append([escape_cell(r["label"]), f"`{r['experiment']}`", *cells])
    return [
        "COCO columns (each cell *paper / reproduced*, ×100; the reproduced figures carry the "
        "marks of *Reproduced AP* above, and are comparable only where ΔAP is given):",
        "",
        *markdown_table(columns, body),
        "",
    ]


MEASURE_UNITS = {"persons_per_s": ("persons/s", 1), "ms_per_person": ("ms", 2)}


def _platform(measured: dict) -> str:
    """'Intel Xeon ..., 8 threads of 16 CPUs, torch 2.5' or the GPU's name."""
    if measured["device"] == "cuda":
        return f"{measured['gpu']}, torch {measured['torch']}"
    return (f"{measured['cpu'] or 'CPU'}, {measured['threads']} threads of "
            f"{measured['cpu_count']} CPUs, torch {measured['torch']}")


def speed_table(spec: TableSpec, rows: list[dict]) -> list[str]:
    """The paper's speed columns, each cell *paper / measured* in the paper's measure (persons
    per second or ms per person), with how and where each column was measured."""
    timed = [r for r in rows if "speed" in r]
    if not spec.speed or not timed:
        return []
    body = []
    platforms: dict[str, list[str]] = {c.column: [] for c in spec.speed}
    for r in timed:
        cells = []
        for c in spec.speed:
            digits = MEASURE_UNITS[c.measure][1]
            printed = r["paper"]["speed"].get(c.column)
            measured = r["speed"].get(c.column)
            if printed is None:
                cells.append(NA)
                continue
            value = measured and measured[c.measure]
            cells.append(f"{_paper(printed)} / {_fixed(value, digits)}")
            if measured is not None and _platform(measured) not in platforms[c.column]:
                platforms[c.column].append(_platform(measured))
        body.append([escape_cell(r["label"]), f"`{r['experiment']}`", *cells])
    columns = [("Model", "l"), ("Experiment", "l"),
               *((f"{escape_cell(c.column)} ({MEASURE_UNITS[c.measure][0]}, paper / measured)",
                  "r") for c in spec.speed)]
    lines = ["Speed (each cell *paper / measured*):", "", *markdown_table(columns, body), ""]
    for c in spec.speed:
        how = (f"`pose speed` on {c.device}" + (f", {c.threads} threads" if c.threads else "")
               + f", batch {c.batch}, {c.persons} persons at the paper's input "
               f"(runs/speed/<experiment>/{c.protocol}.json)")
        where = (f"measured on {'; '.join(platforms[c.column])}" if platforms[c.column]
                 else "not measured yet")
        note = f" The paper: {c.note.strip()}" if c.note.strip() else ""
        lines.append(f"- *{escape_cell(c.column)}*: {how}; {escape_cell(where)}.{note}")
    lines += ["", "A speed depends on the machine: the measured figures compare with the "
              "paper's only as far as the platforms are alike.", ""]
    return lines


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
    title: str, caption: str, scale: str, rows: list[dict], summary: dict, metric: str = "ap",
    spec: TableSpec | None = None,
) -> str:
    """The table with its caption and the notes a reader needs to interpret the columns, then
    the paper's other COCO columns and its speed figures where it prints them."""
    if metric == "topk":
        from pose.report.topk_table import render_topk_markdown

        return render_topk_markdown(title, caption, scale, rows, summary)
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
        f"{'PCKh' if pckh else 'AP'}. " + units_note(rows),
        "",
    ]
    if not pckh:
        lines += coco_columns_table(rows)
    if spec is not None:
        lines += speed_table(spec, rows)
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
    markdown = render_markdown(spec.title, spec.caption, scale, rows, summary, spec.metric, spec)
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
