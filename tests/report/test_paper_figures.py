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
from pose.report.figures import dense_panels, planned_figures, write_paper_figures
from pose.report.figures.dense_weights import connection_matrix, dense_blocks
from pose.report.figures.skeletons import predictions_by_image, select_image_ids
from pose.report.figures.tradeoff import tradeoff_points

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def registry():
    return load_registry(ROOT / "params", check_pipeline=False)


def test_fig6_matrix_reads_each_source_layers_channels(registry) -> None:
    """DANet-72 as smoke builds it: per block an L x L matrix, nothing below the diagonal
    (layer l has l sources), and a pixel is the mean |w| over exactly its source's channels."""
    model = build_model(registry.resolve("danet_72_256x192", "smoke").model_spec)
    state = model.state_dict()
    blocks = dense_blocks(state)
    assert [len(b) for b in blocks] == [2, 2, 4, 4]  # smoke's danet_72 blocks
    layers = [w.clone() for w in blocks[2]]
    first, growth = layers[0].shape[1], layers[1].shape[1] - layers[0].shape[1]
    layers[3].zero_()
    layers[3][:, first + growth: first + 2 * growth] = -0.5  # layer 4's source s = 2 only
    matrix = connection_matrix(layers)
    assert matrix.shape == (4, 4)
    assert np.isnan(matrix[np.tril_indices(4, -1)]).all()  # s > l - 1: no connection
    assert not np.isnan(matrix[np.triu_indices(4)]).any()
    assert matrix[:, 3].tolist() == [0.0, 0.0, 0.5, 0.0]
    assert matrix[0, 0] == pytest.approx(float(layers[0].abs().mean()))
    with pytest.raises(ValueError, match="not a dense block"):
        connection_matrix([layers[0], layers[1], layers[3]])


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
    assert {"danet_ap_vs_gflops", "danet_ap_vs_speed", "danet_dense_weights",
            "skeletons_dnanet", "skeletons_frsbn"} <= names
    manifest = write_paper_figures(registry, "smoke", runs, tmp_path / "plots")
    assert [m["name"] for m in manifest] == [f.name for f in planned]
    for m in manifest:
        assert all(Path(f).stat().st_size > 0 for f in m["files"]), m["name"]
        assert m["files"][1].endswith(".svg")


def test_dense_weights_figure_falls_back_to_the_papers_trained_dense_models(
        registry, tmp_path: Path) -> None:
    model = build_model(registry.resolve("danet_72_256x192", "smoke").model_spec)
    run = tmp_path / "runs" / "smoke" / "danet_72_256x192"
    run.mkdir(parents=True)
    torch.save({"state_dict": model.state_dict()}, run / "model.pth")
    experiments = {"(a)": "danet_102_baseline1_256x192", "(b)": "danet_102_256x192"}
    panels, instead = dense_panels(registry, "smoke", tmp_path / "runs", "danet", experiments)
    assert list(panels) == ["danet_72_256x192"] and "not trained at this scale" in instead
    assert [m.shape for m in panels["danet_72_256x192"]] == [(2, 2), (2, 2), (4, 4), (4, 4)]
    write_paper_figures(registry, "smoke", tmp_path / "runs", tmp_path / "plots")
    assert (tmp_path / "plots" / "danet_dense_weights.svg").stat().st_size > 0


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
