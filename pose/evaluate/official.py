"""The published HRNet / SimpleBaseline COCO weights through this pipeline's evaluation.

params/official_weights.yaml maps each model-zoo file to the registry's model, input and recipe
and to its published val2017 AP. `pose verify-official` evaluates every file that is placed, with
the same code as `pose evaluate EXPERIMENT --weights FILE`, and writes the published AP beside the
measured one: if the two agree, the test protocol (boxes, flip test, decoding, rescoring, OKS-NMS,
COCOeval) and the model definitions are the official ones, before any GPU-hour goes into training.

None of these files is an experiment of experiments.yaml: the evaluation config is resolved from
the entry by the registry's own resolve (an experiment spec added to a copy of the registry), so
it takes the recipe's test protocol and the scale's devices exactly as an experiment does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pose.errors import ConfigError
from pose.spec import from_dict

FILE = "official_weights.yaml"
TABLE_TITLE = "Official weights through this pipeline"
TABLE_STEM = "official_weights"  # reports/tables/official_weights.md and .json
NOT_PLACED = "not placed"


@dataclass(frozen=True)
class OfficialWeight:
    """One published file: the registry's model and recipe, the input, and the published AP (%).
    `sigma`: the target sigma where it is not the recipe's (only the heatmap size matters to the
    test protocol)."""

    model: str
    input: str
    recipe: str
    ap: float
    sigma: float | None = None


@dataclass(frozen=True)
class OfficialWeights:
    source: str  # sources.yaml entry whose folder holds the files
    dataset: str  # evaluated on its val split
    weights: dict[str, OfficialWeight]
    boxes: Literal["detections", "gt"] = "detections"
    reference: str = ""
    path: Path = Path("params") / FILE


def load_official_weights(params_dir: str | Path) -> OfficialWeights | None:
    """params/official_weights.yaml, typed; None when a registry has no such file."""
    from pose.config import read_yaml

    path = Path(params_dir) / FILE
    if not path.exists():
        return None
    data = read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("weights"), dict) \
            or not data["weights"]:
        raise ConfigError(f"{path}: expected a mapping with a non-empty `weights` mapping")
    weights = {}
    for name, raw in data["weights"].items():
        entry = from_dict(OfficialWeight, raw, f"{path}: weights.{name}")
        for key in ("ap", "sigma"):
            value = getattr(entry, key)
            if value is not None and not (0 < value <= (100 if key == "ap" else 1e3)):
                raise ConfigError(f"{path}: weights.{name}.{key}: out of range, got {value!r}")
        weights[str(name)] = entry
    spec = from_dict(OfficialWeights, {**data, "weights": {}}, str(path))
    return dataclasses.replace(spec, weights=weights, path=path)


def check_official_weights(registry: Any) -> None:
    """Cross-check against the registry: known model, recipe, dataset and source, a valid input,
    and every file one of the source's files (so `pose fetch` and the table agree)."""
    from pose.config import parse_input

    ow: OfficialWeights | None = registry.official_weights
    if ow is None:
        return
    where = str(ow.path)
    if ow.dataset not in registry.datasets:
        raise ConfigError(f"{where}: dataset: unknown dataset {ow.dataset!r}; known: "
                          f"{sorted(registry.datasets)}")
    if ow.source not in registry.sources.sources:
        raise ConfigError(f"{where}: source: {ow.source!r} is not a source of "
                          f"{registry.sources.path}")
    files = {f.filename for f in registry.sources.get(ow.source).files}
    for name, entry in ow.weights.items():
        at = f"{where}: weights.{name}"
        if entry.model not in registry.models:
            raise ConfigError(f"{at}.model: unknown model {entry.model!r}")
        if entry.recipe not in registry.recipes:
            raise ConfigError(f"{at}.recipe: unknown recipe {entry.recipe!r}; known: "
                              f"{sorted(registry.recipes)}")
        parse_input(entry.input, f"{at}.input")
        if name not in files:
            raise ConfigError(f"{at}: not a file of {registry.sources.path} {ow.source} "
                              f"({', '.join(sorted(files))})")


def official_weights(registry: Any) -> OfficialWeights:
    if registry.official_weights is None:
        raise ConfigError(f"{registry.params_dir}/{FILE}: not found; it lists the official "
                          "weights files to verify")
    return registry.official_weights


def official_experiment(registry: Any, file: str, scale: str) -> Any:
    """The ResolvedExperiment that evaluates `file` at `scale`, through Registry.resolve.

    The published files fit only the paper-size model at the paper's input: a scale that shrinks
    either (smoke) is a ConfigError, not a failed load."""
    from pose.config import ExperimentSpec

    ow = official_weights(registry)
    if file not in ow.weights:
        raise ConfigError(f"{ow.path}: no entry for {file!r}; known: {', '.join(ow.weights)}")
    entry = ow.weights[file]
    name = Path(file).stem
    spec = ExperimentSpec(model=entry.model, input=entry.input, recipe=entry.recipe,
                          dataset=ow.dataset, sigma=entry.sigma)
    with_entry = dataclasses.replace(registry, experiments={**registry.experiments, name: spec})
    exp = with_entry.resolve(name, scale)

    def architecture(model_spec: dict) -> dict:
        return {k: v for k, v in model_spec.items() if k not in ("pretrained", "num_joints")}

    if exp.input_hw != exp.paper_input or \
            architecture(exp.model_spec) != architecture(exp.paper_model_spec):
        raise ConfigError(
            f"scale {scale!r} changes the model or input of {entry.model} at {entry.input}; "
            f"the published weights ({file}) fit only the paper-size model: use a scale that "
            "keeps it (full)"
        )
    return exp


# --------------------------------------------------------------------------- the stage


def verify_official(
    registry: Any,
    scale: str,
    evaluate: Callable[..., dict],
    weights_dir: Path | None = None,
    runs_dir: Path = Path("runs/official"),
    table: Path = Path("reports/tables") / TABLE_STEM,
    overrides: dict | None = None,
    emit: Callable[[str], None] = print,
) -> dict:
    """Evaluate every placed file (`evaluate`: stages.evaluate_stage's keyword call), write each
    record to runs_dir/<file stem>/eval.json and the table to `table`.md / .json; returns the
    table. A file not placed gets a "not placed" row (and an old record of it is removed)."""
    from pose.io import write_json, write_text

    ow = official_weights(registry)
    folder = Path(weights_dir) if weights_dir is not None else registry.sources.get(ow.source).path
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    boxes = overrides.pop("boxes", None) or ow.boxes
    rows = []
    for file, entry in ow.weights.items():
        path, record_path = folder / file, Path(runs_dir) / Path(file).stem / "eval.json"
        row: dict[str, Any] = {"file": file, "model": entry.model, "input": entry.input,
                               "recipe": entry.recipe, "published_ap": entry.ap,
                               "placed": path.is_file(), "measured_ap": None, "delta": None}
        if row["placed"]:
            exp = official_experiment(registry, file, scale)
            emit(f"{file}: evaluating {entry.model} at {entry.input} ({exp.eval_device})")
            record = evaluate(exp=exp, weights=path, boxes=boxes, out=None, **overrides)
            record = {"file": file, "published_ap": entry.ap, **record}
            write_json(record_path, record)
            row["measured_ap"] = round(100.0 * record["AP"], 2)
            row["delta"] = round(row["measured_ap"] - entry.ap, 2)
            row["record"] = record_path.as_posix()
            emit(f"{file}: AP {row['measured_ap']:.1f} (published {entry.ap:.1f})")
        else:
            record_path.unlink(missing_ok=True)  # a record of a file no longer placed is stale
            emit(f"{file}: {NOT_PLACED}")
        rows.append(row)
    source = registry.sources.get(ow.source)
    manual = next((f.manual for f in source.files if f.manual), "") or ""
    result = {
        "title": TABLE_TITLE,
        "scale": scale,
        "dataset": ow.dataset,
        "boxes": boxes,
        "evaluated_on": {k: str(v) for k, v in overrides.items()} or None,
        "reference": ow.reference,
        "weights_dir": folder.as_posix(),
        "where_to_get": " ".join(manual.split()),
        "rows": rows,
    }
    write_json(Path(f"{table}.json"), result)
    write_text(Path(f"{table}.md"), render_table(result))
    if not any(r["placed"] for r in rows):
        emit(f"{folder}: none of the official weights files is placed; where to get them: "
             f"{result['where_to_get']}")
    return result


def _ap(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def render_table(result: dict) -> str:
    """The Markdown table: published AP beside measured AP and the difference, per file."""
    on = result.get("evaluated_on")
    where = (f"on {on.get('annotations', 'the dataset val split')} (not COCO val2017: a check of "
             "the path, not of the figures)" if on else f"on `{result['dataset']}` val")
    lines = [
        f"## {TABLE_TITLE}",
        "",
        f"The published HRNet / SimpleBaseline COCO weights evaluated by this pipeline {where}, "
        f"{'detection' if result['boxes'] == 'detections' else 'ground-truth'} boxes, the "
        f"recipe's test protocol, at **{result['scale']}** scale. "
        f"Published AP: {result['reference']}. Expected agreement: within 0.1 AP.",
        "",
        "| file | model | input | published AP | measured AP | Δ AP |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        measured = _ap(r["measured_ap"]) if r["placed"] else NOT_PLACED
        delta = "" if r["delta"] is None else f"{r['delta']:+.1f}"
        lines.append(f"| {r['file']} | `{r['model']}` | {r['input']} | {_ap(r['published_ap'])} "
                     f"| {measured} | {delta} |")
    absent = [r["file"] for r in result["rows"] if not r["placed"]]
    if absent:
        lines += ["", f"{len(absent)} file(s) {NOT_PLACED}: place them in "
                      f"`{result['weights_dir']}/`; where to get them: {result['where_to_get']}"]
    return "\n".join(lines) + "\n"
