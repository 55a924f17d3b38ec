"""A table whose paper AP is from COCO test-dev never shows a val AP as its reproduced figure:
only the evaluation server's test-dev stats, when imported."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from pose.config import load_registry
from pose.errors import ConfigError, DataError
from pose.report.tables import build_table

REPO = Path(__file__).resolve().parents[2]
EXP = "hrnet_w32_256x192"


def _params(tmp_path: Path, split: str) -> Path:
    params = tmp_path / "params"
    shutil.copytree(REPO / "params", params)
    row = {"label": "HRNet-W32", "experiment": EXP, "paper": {"ap": 73.5}}
    table = {"title": "Test-dev", "ap_split": split, "rows": [row]}
    (params / "papers" / "td.yaml").write_text(yaml.safe_dump(table), encoding="utf-8")
    listed = yaml.safe_load((params / "tables.yaml").read_text(encoding="utf-8"))["tables"]
    (params / "tables.yaml").write_text(yaml.safe_dump({"tables": [*listed, "td"]}), "utf-8")
    return params


def _eval(ap: float) -> dict:
    return {"experiment": EXP, "scale": "full", "dataset": "coco", "boxes": "detections",
            "input": "256x192", "flip_test": True, "epochs": 210, "AP": ap}


def test_test_dev_table_shows_no_val_ap(tmp_path: Path) -> None:
    registry = load_registry(_params(tmp_path, "test-dev"))
    runs = tmp_path / "runs"
    (runs / "full" / EXP).mkdir(parents=True)
    (runs / "full" / EXP / "eval.json").write_text(json.dumps(_eval(0.744)), encoding="utf-8")
    build_table(registry, "td", "full", runs, tmp_path / "tables")
    md = (tmp_path / "tables" / "td.md").read_text(encoding="utf-8")
    cells = [c.strip() for c in next(x for x in md.splitlines() if EXP in x).split("|")]
    assert "no test-dev evaluation" in cells and "74.4" not in md
    assert "from COCO **test-dev**" in md
    data = json.loads((tmp_path / "tables" / "td.json").read_text(encoding="utf-8"))
    assert data["ap_split"] == "test-dev"
    assert (data["rows"][0]["reproduced"], data["rows"][0]["delta_ap"]) == (None, None)


def _server_eval(ap: float) -> dict:
    return {**_eval(ap), "split": "test-dev", "source": "COCO evaluation server"}


def test_test_dev_table_shows_the_server_stats_not_the_val_ap(tmp_path: Path) -> None:
    registry = load_registry(_params(tmp_path, "test-dev"))
    run = tmp_path / "runs" / "full" / EXP
    (run / "test-dev").mkdir(parents=True)
    (run / "eval.json").write_text(json.dumps(_eval(0.744)), encoding="utf-8")
    (run / "test-dev" / "eval.json").write_text(json.dumps(_server_eval(0.739)), "utf-8")
    build_table(registry, "td", "full", tmp_path / "runs", tmp_path / "tables")
    md = (tmp_path / "tables" / "td.md").read_text(encoding="utf-8")
    cells = [c.strip() for c in next(x for x in md.splitlines() if EXP in x).split("|")]
    assert "73.9 (test-dev server, full, coco, det boxes)" in cells and "74.4" not in md
    assert "+0.4" in cells  # the paper's protocol: ΔAP against the paper's 73.5
    row = json.loads((tmp_path / "tables" / "td.json").read_text(encoding="utf-8"))["rows"][0]
    assert (row["reproduced"]["split"], row["delta_ap"]) == ("test-dev", pytest.approx(0.4))


def test_a_test_dev_eval_without_its_split_is_a_data_error(tmp_path: Path) -> None:
    registry = load_registry(_params(tmp_path, "test-dev"))
    run = tmp_path / "runs" / "full" / EXP / "test-dev"
    run.mkdir(parents=True)
    (run / "eval.json").write_text(json.dumps(_eval(0.739)), encoding="utf-8")
    with pytest.raises(DataError, match=r"test-dev/eval.json: missing key 'split'"):
        build_table(registry, "td", "full", tmp_path / "runs", tmp_path / "tables")


def test_unknown_split_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"td.yaml.ap_split"):
        load_registry(_params(tmp_path, "test"))
