"""The papers' figures regenerated: DANet Fig. 6's weight matrix from a trained dense model,
Fig. 1's points, the skeleton grids' images, and params/figures.yaml's errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from pose.config import load_registry
from pose.errors import ConfigError
from pose.models import build_model
from pose.report.figures import (
    dense_panels,
    planned_figures,
    skeleton_pairs,
    write_paper_figures,
)
from pose.report.figures.dense_weights import connection_matrix, dense_blocks, state_matrices
from pose.report.figures.skeletons import predictions_by_image, select_image_ids
from pose.report.figures.tradeoff import tradeoff_points

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def registry():
    return load_registry(ROOT / "params", check_pipeline=False)


def test_fig6_matrix_reads_each_source_layers_channels(registry) -> None:
    """DANet-72 as smoke builds it: per block an (L + 1) x L matrix (sources 0..L, targets
    1..L), nothing where s > l - 1, and a pixel is the mean |w| over exactly its source's
    channels, each target's column divided by its largest value."""
    model = build_model(registry.resolve("danet_72_256x192", "smoke").model_spec)
    state = model.state_dict()
    blocks = dense_blocks(state)
    assert [len(b) for b in blocks] == [2, 2, 4, 4]  # smoke's danet_72 blocks
    layers = [w.clone() for w in blocks[2]]
    first, growth = layers[0].shape[1], layers[1].shape[1] - layers[0].shape[1]
    layers[3].zero_()
    layers[3][:, first + growth: first + 2 * growth] = -0.5  # layer 4's source s = 2 only
    layers[2].fill_(0.25)
    layers[2][:, :first] = 1.0  # layer 3: the block input weighs four times the rest
    matrix = connection_matrix(layers)
    assert matrix.shape == (5, 4)
    impossible = [(s, c) for s in range(5) for c in range(4) if s > c]  # column c: l = c + 1
    assert all(np.isnan(matrix[s, c]) for s, c in impossible)
    assert not any(np.isnan(matrix[s, c]) for s in range(5) for c in range(4) if s <= c)
    assert matrix[:4, 3].tolist() == [0.0, 0.0, 1.0, 0.0]
    assert matrix[:3, 2].tolist() == [1.0, 0.25, 0.25]
    raw = connection_matrix(layers, normalise=False)
    assert raw[2, 3] == pytest.approx(0.5) and raw[0, 2] == pytest.approx(1.0)
    assert raw[0, 0] == pytest.approx(float(layers[0].abs().mean()))
    with pytest.raises(ValueError, match="not a dense block"):
        connection_matrix([layers[0], layers[1], layers[3]])
    # with the block's transition, a last target column reading every source
    matrices = state_matrices(state)
    assert [m.shape for m in matrices] == [(3, 3), (3, 3), (5, 5), (5, 5)]
    assert not np.isnan(matrices[2][:, 4]).any() and np.nanmax(matrices[2][:, 4]) == 1.0


def test_skeleton_grid_images_are_the_first_with_a_person_and_the_same_for_both() -> None:
    annotations = {"annotations": [
        {"image_id": 9, "num_keypoints": 3}, {"image_id": 2, "num_keypoints": 0},
        {"image_id": 5, "num_keypoints": 1}, {"image_id": 7, "num_keypoints": 2},
        {"image_id": 5, "num_keypoints": 4}]}
    ids = select_image_ids(annotations, 2)
    assert ids == [5, 7]
    keypoints = list(range(51))
    results = [{"image_id": 5, "score": 0.9, "keypoints": keypoints},
               {"image_id": 5, "score": 0.1, "keypoints": keypoints},
               {"image_id": 9, "score": 0.9, "keypoints": keypoints}]
    people = predictions_by_image(results, ids, threshold=0.2)
    assert list(people) == [5, 7] and len(people[5]) == 1 and people[7] == []
    assert people[5][0].shape == (17, 3)


def test_fig1_draws_a_trained_row_beside_the_paper(registry, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(ROOT / "runs" / "complexity", runs / "complexity")
    points = {p.experiment: p for p in tradeoff_points(registry, "danet_sota", "danet_speed",
                                                       "smoke", runs)}
    danet = points["danet_72_256x192"]
    assert (danet.paper_ap, danet.paper_speed, danet.ap) == (71.0, 58, None)
    assert danet.gflops == pytest.approx(1.38, abs=0.01)  # measured, DANet's unit
    run = runs / "smoke" / "danet_72_256x192"
    run.mkdir(parents=True)
    record = json.loads((ROOT / "runs/smoke/danet_72_256x192/eval.json").read_text())
    (run / "eval.json").write_text(json.dumps({**record, "AP": 0.42}))
    danet = {p.experiment: p for p in tradeoff_points(registry, "danet_sota", "danet_speed",
                                                      "smoke", runs)}["danet_72_256x192"]
    assert danet.ap == pytest.approx(42.0) and danet.speed is None  # not timed at smoke


def test_every_planned_figure_is_written_with_nothing_trained(registry, tmp_path: Path) -> None:
    """Nothing trained (a fresh clone): every figure still exists, saying what is missing."""
    runs = tmp_path / "runs"
    shutil.copytree(ROOT / "runs" / "complexity", runs / "complexity")
    planned = planned_figures(registry, "smoke")
    names = {f.name for f in planned}
    assert names == {"danet_ap_vs_gflops", "danet_ap_vs_speed", "danet_dense_weights",
                     *(f"skeletons_{p}" for p in ("baselines", "dnanet", "ram_gpr", "hrnet_am",
                                                  "frsbn", "danet"))}
    manifest = write_paper_figures(registry, "smoke", runs, tmp_path / "plots")
    assert [m["name"] for m in manifest] == [f.name for f in planned]
    captions = {m["name"]: m["caption"] for m in manifest}
    assert "not reproduced at scale smoke: " in captions["danet_ap_vs_gflops"]
    assert "not trained at this scale" in captions["danet_dense_weights"]
    assert ("no results.json (not trained at this scale): dnanet_w32_256x192, "
            "hrnet_w32_256x192") in captions["skeletons_dnanet"]
    for m in manifest:
        assert all(Path(f).stat().st_size > 0 for f in m["files"]), m["name"]
        assert m["files"][1].endswith(".svg")


PAIR = {"(a)": "danet_102_baseline1_256x192", "(b)": "danet_102_256x192"}


def _save_smoke_danet_72(registry, run: Path) -> None:
    """Smoke's DANet-72 weights as a training of `run` would leave them."""
    model = build_model(registry.resolve("danet_72_256x192", "smoke").model_spec)
    run.mkdir(parents=True)
    torch.save({"state_dict": model.state_dict()}, run / "model.pth")


def test_dense_weights_figure_falls_back_to_the_papers_trained_dense_models(
        registry, tmp_path: Path) -> None:
    _save_smoke_danet_72(registry, tmp_path / "runs" / "smoke" / "danet_72_256x192")
    panels, instead = dense_panels(registry, "smoke", tmp_path / "runs", "danet", PAIR)
    assert list(panels) == ["danet_72_256x192"] and "not trained at this scale" in instead
    assert [m.shape for m in panels["danet_72_256x192"]] == [(3, 3), (3, 3), (5, 5), (5, 5)]
    manifest = {m["name"]: m for m in write_paper_figures(registry, "smoke", tmp_path / "runs",
                                                          tmp_path / "plots")}
    for suffix in ("png", "svg"):
        assert (tmp_path / "plots" / f"danet_dense_weights.{suffix}").stat().st_size > 0
    assert "shown instead the paper's trained dense model(s) danet_72_256x192" in (
        manifest["danet_dense_weights"]["caption"])
    # every planned figure, PNG and SVG, and nothing half-written beside them
    assert sorted(f.name for f in (tmp_path / "plots").iterdir()) == sorted(
        f"{name}.{suffix}" for name in manifest for suffix in ("png", "svg"))


def test_dense_weights_figure_draws_the_trained_one_of_the_pair(registry, tmp_path: Path
                                                                ) -> None:
    """Baseline1 trained, DANet-102 not: Baseline1's panel, DANet-102's a note."""
    _save_smoke_danet_72(registry, tmp_path / "runs" / "full" / "danet_102_baseline1_256x192")
    panels, note = dense_panels(registry, "full", tmp_path / "runs", "danet", PAIR)
    assert list(panels) == ["(a) (danet_102_baseline1_256x192)", "(b) (danet_102_256x192)"]
    assert len(panels["(a) (danet_102_baseline1_256x192)"]) == 4
    assert panels["(b) (danet_102_256x192)"] == "not trained at this scale"
    assert note == "; danet_102_256x192: not trained at this scale"


def test_bad_figures_file_is_named(tmp_path: Path) -> None:
    params = tmp_path / "params"
    shutil.copytree(ROOT / "params", params)
    spec = yaml.safe_load((params / "figures.yaml").read_text())
    spec["dense_weights"]["experiments"]["(b) OAB: DANet-102"] = "danet_103_256x192"
    (params / "figures.yaml").write_text(yaml.safe_dump(spec))
    registry = load_registry(params, check_pipeline=False)
    with pytest.raises(ConfigError, match=r"figures.yaml: dense_weights.experiments.\(b\) OAB: "
                                          r"DANet-102: unknown experiment 'danet_103_256x192'"):
        planned_figures(registry, "smoke")
    spec["dense_weights"]["experiments"]["(b) OAB: DANet-102"] = "danet_102_256x192"
    spec["skeletons"]["images"] = 0
    (params / "figures.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(ConfigError, match=r"figures.yaml.skeletons: images: expected a "
                                          r"positive count, got 0"):
        planned_figures(registry, "smoke")


def test_skeleton_grids_draw_each_papers_headline_claim() -> None:
    """One grid per paper, its rows the two experiments of the paper's headline claim; a
    figures.yaml that still lists pairs of its own is refused (the claims hold them)."""
    registry = load_registry(ROOT / "params", check_pipeline=False)
    headlines = {c.paper: (c.experiment, c.baseline)
                 for c in registry.claims.claims.values() if c.headline}
    pairs = skeleton_pairs(registry)
    assert pairs == headlines
    assert pairs["dnanet"] == ("dnanet_w32_256x192", "hrnet_w32_256x192")
    assert [f.name for f in planned_figures(registry, "smoke")
            if f.name.startswith("skeletons_")] == [f"skeletons_{p}" for p in pairs]


def test_a_headline_claim_on_a_classifier_draws_no_skeleton_grid(tmp_path: Path) -> None:
    params = tmp_path / "params"
    shutil.copytree(ROOT / "params", params)
    claims = yaml.safe_load((params / "claims.yaml").read_text())
    danet = [c for c in claims["claims"].values() if c["paper"] == "danet"]
    for claim in danet:
        claim["headline"] = False
    # a claim of Table X (ImageNet classifiers) made the paper's headline
    next(c for c in danet if c["table"] == "danet_imagenet")["headline"] = True
    (params / "claims.yaml").write_text(yaml.safe_dump(claims, sort_keys=False))
    registry = load_registry(params, check_pipeline=False)
    assert "danet" not in skeleton_pairs(registry) and "dnanet" in skeleton_pairs(registry)


def test_skeleton_grid_draws_both_rows_on_the_same_images(tiny_project: Path) -> None:
    """A tiny project (baselines only, synthetic val): the baseline's results.json drawn, the
    model's absence said in the caption, both rows on the first images holding a person."""
    from pose.report.figures import _skeleton_rows

    registry = load_registry(tiny_project / "params", check_pipeline=False)
    planned = planned_figures(registry, "tiny")
    assert [f.name for f in planned] == ["skeletons_baselines"]  # the other papers cut away
    annotations = json.loads(
        (tiny_project / "data/synthetic/annotations/person_keypoints_val.json").read_text())
    ids = select_image_ids(annotations, 4)
    assert ids and ids == sorted(ids)
    results = [{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"],
                "score": 0.9} for a in annotations["annotations"]]
    runs = tiny_project / "runs"
    run = runs / "tiny" / "hrnet_w32_256x192"
    run.mkdir(parents=True)
    (run / "results.json").write_text(json.dumps(results))
    rows, images, note = _skeleton_rows(registry, "tiny", runs,
                                        ("hrnet_w48_256x192", "hrnet_w32_256x192"), 4, 0.2)
    assert list(images) == ids and all(p.is_file() for p in images.values())
    assert rows["hrnet_w48_256x192"] == "not trained at this scale"
    assert list(rows["hrnet_w32_256x192"]) == ids  # one entry per chosen image
    assert sum(len(v) for v in rows["hrnet_w32_256x192"].values()) > 0
    assert note == "no results.json (not trained at this scale): hrnet_w48_256x192"
    (runs / "tiny" / "hrnet_w48_256x192").mkdir()
    (runs / "tiny" / "hrnet_w48_256x192" / "results.json").write_text(json.dumps(results[:1]))
    rows, _, note = _skeleton_rows(registry, "tiny", runs,
                                   ("hrnet_w48_256x192", "hrnet_w32_256x192"), 4, 0.2)
    assert list(rows["hrnet_w48_256x192"]) == list(rows["hrnet_w32_256x192"]) == ids
    assert note == ""
    (runs / "tiny" / "hrnet_w48_256x192" / "results.json").unlink()
    [entry] = write_paper_figures(registry, "tiny", runs, tiny_project / "reports/plots")
    assert entry["name"] == "skeletons_baselines" and "hrnet_w48_256x192" in entry["caption"]
    assert entry["caption"].endswith("(no results.json (not trained at this scale): "
                                     "hrnet_w48_256x192)")
    assert all(Path(f).stat().st_size > 0 for f in entry["files"])
