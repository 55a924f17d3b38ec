"""The papers' own figures, regenerated from the reproduction's runs (params/figures.yaml):
DANet Fig. 1 (AP against GFLOPs and against speed), DANet Fig. 6 (weights between the layers of
each dense block) and, for every paper, predicted skeletons on val images (as HRNet + AM's
Fig. 3). Every planned figure is written at every training scale, with a note where the scale
did not train what it draws, so the workflow's outputs always exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pose.config import Registry, model_task
from pose.data.keypoints import SKELETON
from pose.io import read_json_object
from pose.report.figures.dense_weights import (
    dense_blocks,
    draw_dense_weights,
    state_matrices,
    weight_matrices,
)
from pose.report.figures.skeletons import (
    draw_skeletons,
    predictions_by_image,
    read_results,
    select_image_ids,
)
from pose.report.figures.spec import load_figures_spec
from pose.report.figures.tradeoff import draw_tradeoff, tradeoff_points
from pose.report.plots import save_figure

NOT_TRAINED = "not trained at this scale"


@dataclass(frozen=True)
class PaperFigure:
    name: str  # reports/plots/<name>.png and .svg
    paper: str  # the paper key its tables share
    caption: str


def skeleton_pairs(registry: Registry) -> dict[str, tuple[str, str]]:
    """{paper: (model, baseline)} of the skeleton grids, in report order: each paper's headline
    claim (params/claims.yaml `headline: true`), where both predict joints the COCO skeleton
    can join (not a classifier, not MPII's 16 joints)."""
    from pose.report.papers import paper_groups

    claims = registry.claims.claims.values() if registry.claims is not None else ()
    headlines = {c.paper: (c.experiment, c.baseline) for c in claims if c.headline}
    out = {}
    for group in paper_groups(registry):
        pair = headlines.get(group.key)
        if pair is not None and all(_draws_coco_skeleton(registry, e) for e in pair):
            out[group.key] = pair
    return out


def _draws_coco_skeleton(registry: Registry, experiment: str) -> bool:
    spec = registry.experiments[experiment]
    if model_task(registry.models[spec.model]) != "keypoints":
        return False
    return len(registry.dataset(spec.dataset).keypoints.names) > max(max(SKELETON))


def planned_figures(registry: Registry, scale: str) -> list[PaperFigure]:
    """The figures the report writes at `scale`, known before anything runs (the workflow's
    outputs)."""
    spec = load_figures_spec(registry)
    figures = []
    if spec.tradeoff is not None:
        t = spec.tradeoff
        title = registry.table(t.table).title
        figures += [
            PaperFigure(f"{t.paper}_ap_vs_gflops", t.paper,
                        f"DANet Fig. 1 (a): AP against GFLOPs, every model of {title}, the "
                        "paper's points beside the reproduced ones"),
            PaperFigure(f"{t.paper}_ap_vs_speed", t.paper,
                        "DANet Fig. 1 (b): AP against persons per second on CPU (Sec. IV-B), "
                        f"the models of {title}, paper beside reproduced"),
        ]
    if spec.dense_weights is not None:
        figures.append(PaperFigure(
            f"{spec.dense_weights.paper}_dense_weights", spec.dense_weights.paper,
            "DANet Fig. 6: average L1 norm of the weights connecting layer s to layer l in "
            "each dense block (T: its transition), from the trained weights; each target "
            "layer's column divided by its largest value, as DenseNet's Fig. 5"))
    for paper, (model, baseline) in skeleton_pairs(registry).items():
        figures.append(PaperFigure(
            f"skeletons_{paper}", paper,
            f"Predicted skeletons on the same val images: the paper's model {model} (top) and "
            f"its baseline {baseline} (bottom), as HRNet + AM's Fig. 3"))
    return figures


def _scale_note(registry: Registry, scale: str) -> str:
    sc = registry.scale(scale)
    if sc.dataset and registry.dataset(sc.dataset).source == "synthetic":
        return (f"scale {scale}, synthetic data: the reproduced points exercise the pipeline and "
                "say nothing about the paper")
    return f"scale {scale}"


def _run_file(runs_dir: Path, scale: str, experiment: str, name: str) -> Path:
    return runs_dir / scale / experiment / name


def dense_panels(registry: Registry, scale: str, runs_dir: Path, paper: str,
                 experiments: dict[str, str]) -> tuple[dict, str]:
    """The panels of the configured experiments (a text panel for one not trained); where the
    scale trained none of them, those of the paper's trained keypoint experiments whose weights
    hold dense blocks (at most two), with the note saying so."""
    from pose.config import model_task
    from pose.engine.state_dict import read_plain_state_dict

    trained = set(registry.trained_experiments(scale))
    panels: dict = {}
    for title, e in experiments.items():
        path = _run_file(runs_dir, scale, e, "model.pth")
        panels[f"{title} ({e})"] = (weight_matrices(path) if e in trained and path.is_file()
                                    else NOT_TRAINED)
    missing = [e for (title, e) in experiments.items()
               if isinstance(panels[f"{title} ({e})"], str)]
    if len(missing) < len(experiments):
        return panels, (f"; {', '.join(missing)}: {NOT_TRAINED}" if missing else "")
    stand_ins: dict = {}
    for e in registry.trained_experiments(scale):
        path = _run_file(runs_dir, scale, e, "model.pth")
        if (e in registry.paper_experiments(paper) and path.is_file() and len(stand_ins) < 2
                and model_task(registry.models[registry.experiments[e].model]) == "keypoints"):
            state = read_plain_state_dict(path)
            if dense_blocks(state):
                stand_ins[e] = state_matrices(state)
    if not stand_ins:
        return panels, (f"; {', '.join(missing)}: {NOT_TRAINED}, nor any other of the "
                        "paper's models with dense blocks")
    return stand_ins, (f"; the pair ({', '.join(experiments.values())}) is {NOT_TRAINED}: shown "
                       f"instead the paper's trained dense model(s) {', '.join(stand_ins)}")


def _skeleton_rows(registry: Registry, scale: str, runs_dir: Path, pair: tuple[str, str],
                   count: int, threshold: float) -> tuple[dict, dict[int, Path], str]:
    """The two rows (a text row: why it has no predictions), the chosen images and a note of
    what is absent."""
    dataset = registry.resolve(pair[0], scale).dataset
    annotations_path = dataset.path(dataset.val.annotations)
    annotations = read_json_object(annotations_path) or {}
    ids = select_image_ids(annotations, count)
    files = {im["id"]: im["file_name"] for im in annotations.get("images", [])}
    images = {i: dataset.path(dataset.val.images) / files[i] for i in ids if i in files}
    notes = [] if annotations else [f"no val annotations at {annotations_path} (data not "
                                    "prepared)"]
    rows: dict = {}
    for e in pair:
        results = read_results(_run_file(runs_dir, scale, e, "results.json"))
        rows[e] = (NOT_TRAINED if results is None
                   else predictions_by_image(results, list(images), threshold))
    absent = [e for e in pair if isinstance(rows[e], str)]
    if absent:
        notes.append(f"no results.json ({NOT_TRAINED}): {', '.join(absent)}")
    return rows, images, "; ".join(notes)


def write_paper_figures(registry: Registry, scale: str, runs_dir: Path = Path("runs"),
                        plots_dir: Path = Path("reports/plots")) -> list[dict]:
    """Write every planned figure (PNG and SVG, each atomically); the manifest the index places
    by paper, a figure's caption ending with what the scale left out of it."""
    spec = load_figures_spec(registry)
    runs_dir, plots_dir = Path(runs_dir), Path(plots_dir)
    note = _scale_note(registry, scale)
    pairs = skeleton_pairs(registry)
    manifest = []
    for figure in planned_figures(registry, scale):
        png, svg = plots_dir / f"{figure.name}.png", plots_dir / f"{figure.name}.svg"
        if figure.name.endswith(("_ap_vs_gflops", "_ap_vs_speed")):
            t = spec.tradeoff
            axis = "gflops" if figure.name.endswith("gflops") else "speed"
            points = tradeoff_points(registry, t.table, t.speed_table, scale, runs_dir)
            fig = draw_tradeoff(points, axis, registry.table(t.table).gflops_unit,
                                f"{figure.caption}\n{note}")
            missing = [p.label for p in points
                       if p.ap is None or (p.gflops if axis == "gflops" else p.speed) is None]
            absent = (f"not reproduced at scale {scale}: {', '.join(missing)}" if missing
                      else "")
        elif figure.name.endswith("_dense_weights"):
            d = spec.dense_weights
            panels, instead = dense_panels(registry, scale, runs_dir, d.paper, d.experiments)
            fig = draw_dense_weights(panels, f"{figure.caption}\n{note}{instead}")
            absent = instead.removeprefix("; ")
        else:
            rows, images, absent = _skeleton_rows(
                registry, scale, runs_dir, pairs[figure.paper], spec.skeletons.images,
                spec.skeletons.score_threshold)
            fig = draw_skeletons(rows, images, f"{figure.caption}\n{note}; predictions scoring "
                                 f">= {spec.skeletons.score_threshold:g}"
                                 + (f"\n{absent}" if absent else ""))
        plots_dir.mkdir(parents=True, exist_ok=True)
        save_figure(fig, png, svg)
        caption = f"{figure.caption} ({absent})" if absent else figure.caption
        manifest.append({"name": figure.name, "paper": figure.paper, "caption": caption,
                         "files": [str(png), str(svg)]})
    return manifest
