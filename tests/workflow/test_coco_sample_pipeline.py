"""The pipeline on real COCO layout: a small sample in COCO's folders and archives, served over
loopback HTTP, selected only through params (a dataset entry, its sources, the scale's dataset).
DVC fetches it, trains and evaluates on it with its detection boxes, and a second `dvc repro`
downloads nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from fetch.coco_layout import build_sample, coco_sources
from fetch.server import Behaviour, serve
from workflow.test_workflow import ROOT, _run, _stages_run, _workflow_copy

EXPERIMENT = "hrnet_w32_256x192"


def _select_sample(work: Path, sources: dict) -> None:
    """params edits only: a `coco_sample` dataset shaped as `coco`, its sources, and the tiny
    scale training one experiment on it."""
    params = work / "params"
    registry_sources = yaml.safe_load((params / "sources.yaml").read_text())
    registry_sources["settings"] = sources["settings"]
    renamed = {f"sample_{k.removeprefix('coco_')}": v for k, v in sources["sources"].items()}
    registry_sources["sources"].update(renamed)
    (params / "sources.yaml").write_text(yaml.safe_dump(registry_sources, sort_keys=False))
    datasets = yaml.safe_load((params / "datasets.yaml").read_text())
    datasets["coco_sample"] = {**datasets["coco"], "root": "data/coco_sample",
                               "sources": list(renamed)}
    del datasets["coco_sample"]["test_dev"]
    (params / "datasets.yaml").write_text(yaml.safe_dump(datasets, sort_keys=False))
    scales = yaml.safe_load((params / "scales.yaml").read_text())
    scales["tiny"].update(dataset="coco_sample", train=[EXPERIMENT])
    (params / "scales.yaml").write_text(yaml.safe_dump(scales, sort_keys=False))
    _run(["pose", "use-scale", "tiny"], work)


@pytest.mark.slow
def test_dvc_runs_the_pipeline_on_a_fetched_coco_layout_sample(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    work = _workflow_copy(tmp_path / "work", tiny=True)
    sample = build_sample(tmp_path / "sample", num_train=8, num_val=4)
    state = Behaviour(files=dict(sample.archives))
    with serve(state) as base_url:
        sources = coco_sources(sample, base_url, Path("data/downloads"), "data/coco_sample")
        _select_sample(work, sources)
        _run(["git", "init", "-q"], work)
        _run(["dvc", "init", "-q"], work)
        shutil.copy(ROOT / ".dvcignore", work / ".dvcignore")
        shutil.copy(ROOT / ".dvc/config", work / ".dvc/config")  # the project's link cache
        # the detection file is distributed by hand: the user places it, the stage verifies it
        det = work / "data/coco_sample/person_detection_results"
        det.mkdir(parents=True)
        shutil.copy(sample.detections, det / sample.detections.name)

        first = _stages_run(_run(["dvc", "repro"], work))
        fetched = {"data@sample_train2017", "data@sample_val2017", "data@sample_annotations",
                   "data@sample_detections"}
        assert fetched | {f"train@{EXPERIMENT}", f"evaluate@{EXPERIMENT}", "report"} <= first
        assert "data@synthetic" not in first and not (work / "data/synthetic").exists()
        assert all(state.count(path) == 1 for path in sample.archives)
        coco = work / "data/coco_sample"
        images = list((coco / "train2017").glob("*.jpg"))
        assert len(images) == sample.counts["train"]
        # the cache links the data (.dvc/config: hardlink, symlink): no second copy on disk
        assert all(p.is_symlink() or p.stat().st_nlink > 1 for p in images)
        record = json.loads((work / f"runs/tiny/{EXPERIMENT}/eval.json").read_text())
        assert (record["dataset"], record["boxes"]) == ("coco_sample", "detections")
        assert 0.0 <= record["AP"] <= 1.0

        assert "Data and pipelines are up to date" in _run(["dvc", "status"], work)
        requests = len(state.requests)
        assert _stages_run(_run(["dvc", "repro"], work)) == set()
        assert len(state.requests) == requests  # nothing downloaded again
