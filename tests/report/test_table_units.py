"""Paper tables compared in the papers' own units and columns: GFLOPs and params units per table
and per row, a printed AP measured on another split or input, the COCO columns beyond AP, the
speed figures (`pose speed` records) and the complexity total on the index page."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from pose.config import Registry, load_registry
from pose.errors import ConfigError, DataError
from pose.report.index import write_index
from pose.report.tables import (
    build_table,
    complexity_total,
    speed_command,
    speed_targets,
    summary_line,
)

REPO = Path(__file__).resolve().parents[2]
W32, W48 = "hrnet_w32_256x192", "hrnet_w48_256x192"
W16 = "hrnet_w16_256x192"  # in no table that prints a speed


def _params(tmp_path: Path, tables: dict[str, dict]) -> Path:
    """A copy of params/ with extra tables listed after the real ones."""
    params = tmp_path / "params"
    shutil.copytree(REPO / "params", params)
    for name, table in tables.items():
        (params / "papers" / f"{name}.yaml").write_text(yaml.safe_dump(table), encoding="utf-8")
    listed = yaml.safe_load((params / "tables.yaml").read_text(encoding="utf-8"))["tables"]
    (params / "tables.yaml").write_text(
        yaml.safe_dump({"tables": [*listed, *tables]}), encoding="utf-8"
    )
    return params


def _registry(params: Path) -> Registry:
    return load_registry(params, check_pipeline=False)


def _write(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj), encoding="utf-8")


def _complexity(runs: Path, exp: str, model: str, params: int, hrnet: float, macs: float):
    _write(runs / "complexity" / f"{exp}.json",
           {"model": model, "input": "256x192", "params": params, "gflops_paper": hrnet,
            "gmacs": macs})


def _cells(md: str, which: int = 0) -> dict[str, dict[str, str]]:
    """Experiment id -> {column: cell} of the page's `which`-th Markdown table."""
    block = re.findall(r"(?m)(?:^\|.*\n?)+", md)[which].splitlines()
    names = [c.strip() for c in block[0].strip().strip("|").split("|")]
    rows = {}
    for line in block[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows[cells[1].strip("`")] = dict(zip(names, cells, strict=True))
    return rows


def _build(reg: Registry, table: str, runs: Path, out: Path, scale: str = "smoke"):
    build_table(reg, table, scale, runs, out)
    md = (out / f"{table}.md").read_text(encoding="utf-8")
    return md, json.loads((out / f"{table}.json").read_text(encoding="utf-8"))


def test_gflops_compared_in_the_unit_of_each_row(tmp_path: Path):
    table = {"title": "Units", "gflops_unit": "gmacs", "rows": [
        {"label": "A", "experiment": W32, "paper": {"gflops": 7.6}},  # the table's unit
        {"label": "B", "experiment": W48, "paper": {"gflops": 14.6, "gflops_unit": "hrnet"}},
    ]}
    reg = _registry(_params(tmp_path, {"units": table}))
    runs = tmp_path / "runs"
    _complexity(runs, W32, "hrnet_w32", 28_535_000, 7.12, 7.646)
    _complexity(runs, W48, "hrnet_w48", 63_595_000, 14.614, 15.692)
    md, data = _build(reg, "units", runs, tmp_path / "tables")
    a, b = data["rows"]
    assert (a["complexity"]["gflops"], a["complexity"]["gflops_unit"]) == (7.646, "gmacs")
    assert (b["complexity"]["gflops"], b["complexity"]["gflops_unit"]) == (14.614, "hrnet")
    assert a["delta_gflops_pct"] == pytest.approx(0.6053, abs=1e-3)  # 7.646 against 7.6
    assert b["delta_gflops_pct"] == pytest.approx(0.0959, abs=1e-3)  # 14.614 against 14.6
    assert data["complexity_summary"]["gflops"] == {"within": 2, "rows": 2}
    cells = _cells(md)
    assert cells[W32]["GFLOPs unit"] == "MACs /10^9" and cells[W32]["Δ GFLOPs"] == "+0.6%"
    assert cells[W48]["GFLOPs unit"] == "HRNet /2^30" and cells[W48]["Δ GFLOPs"] == "+0.1%"
    # both measured counts stay visible, and the note names both units
    assert (cells[W32]["Measured GFLOPs"], cells[W32]["GMACs"]) == ("7.12", "7.65")
    assert "*MACs /10^9*: true multiply-adds / 10^9" in md
    assert "*HRNet /2^30*: the official HRNet model summary" in md


def test_params_printed_in_megabytes_are_compared_in_millions(tmp_path: Path):
    table = {"title": "MB", "params_unit": "MB", "rows": [
        {"label": "A", "experiment": W32, "paper": {"params_m": 114.1}},
        {"label": "B", "experiment": W48, "paper": {"params_m": 63.6, "params_unit": "M"}},
        {"label": "C", "experiment": W16, "paper": {"ap": 71.8}},  # no params figure
    ]}
    reg = _registry(_params(tmp_path, {"mb": table}))
    runs = tmp_path / "runs"
    _complexity(runs, W32, "hrnet_w32", 28_535_000, 7.12, 7.646)
    _complexity(runs, W48, "hrnet_w48", 63_595_000, 14.614, 15.692)
    md, data = _build(reg, "mb", runs, tmp_path / "tables")
    a, b, c = data["rows"]
    assert (a["paper"]["params_m"], a["paper"]["params_printed"]) == (28.525, 114.1)
    assert c["paper"]["params_m"] is None and c["params_within_2pct"] is None
    assert a["paper"]["params_unit"] == "MB" and a["params_within_2pct"] is True
    assert b["paper"]["params_m"] == 63.6 and "params_printed" not in b["paper"]
    cells = _cells(md)
    assert cells[W32]["Paper params (M)"] == "114.1 MB = 28.525"
    assert cells[W32]["Δ params"] == "+0.0%"
    assert cells[W48]["Paper params (M)"] == "63.6"
    assert cells[W16]["Paper params (M)"] == "—"
    assert "megabytes of fp32 weights" in md and "(MB / 4)" in md


def test_a_paper_ap_from_another_split_and_input_gets_no_delta(tmp_path: Path):
    printed = {"ap": 73.7, "ap_split": "test-dev", "ap_input": "384x288"}
    table = {"title": "Elsewhere", "rows": [
        {"label": "A", "experiment": W32, "paper": printed},
        {"label": "B", "experiment": W48, "paper": {"ap": 75.1}},
    ]}
    reg = _registry(_params(tmp_path, {"elsewhere": table}))
    runs = tmp_path / "runs"
    for exp, ap in ((W32, 0.741), (W48, 0.752)):
        _write(runs / "full" / exp / "eval.json",
               {"experiment": exp, "scale": "full", "dataset": "coco", "boxes": "detections",
                "input": "256x192", "flip_test": True, "epochs": 210, "AP": ap})
    md, data = _build(reg, "elsewhere", runs, tmp_path / "tables", "full")
    a, b = data["rows"]
    assert a["delta_ap"] is None and b["delta_ap"] == pytest.approx(0.1)
    assert a["not_comparable_because"] == [
        "paper AP from COCO test-dev (table: val)",
        "paper AP at input 384x288 (experiment: 256x192)",
    ]
    cells = _cells(md)
    assert cells[W32]["Paper AP"] == "73.7 (test-dev, 384x288)"
    assert cells[W32]["ΔAP"] == "n/a" and cells[W48]["ΔAP"] == "+0.1"


def test_bad_paper_ap_input_names_the_file(tmp_path: Path):
    table = {"title": "Bad", "rows": [
        {"label": "A", "experiment": W32, "paper": {"ap": 73.7, "ap_input": "384by288"}}]}
    with pytest.raises(ConfigError, match=r"bad\.yaml.*384by288"):
        _registry(_params(tmp_path, {"bad": table}))


def test_coco_columns_follow_the_table_as_paper_and_reproduced(tmp_path: Path):
    columns = {"ap": 74.4, "ap50": 90.5, "ap75": 81.9, "apm": 70.8, "apl": 81.0, "ar": 79.8}
    table = {"title": "Coco", "rows": [
        {"label": "A", "experiment": W32, "paper": columns},
        {"label": "B", "experiment": W48, "paper": {"ap": 75.1}},
    ]}
    reg = _registry(_params(tmp_path, {"coco": table, "aponly": {**table, "rows": [
        {"label": "B", "experiment": W48, "paper": {"ap": 75.1}}]}}))
    runs = tmp_path / "runs"
    _write(runs / "smoke" / W32 / "eval.json",
           {"experiment": W32, "scale": "smoke", "dataset": "synthetic", "boxes": "detections",
            "input": "128x96", "flip_test": True, "epochs": 12, "AP": 0.6134, "AP50": 0.85,
            "AP75": 0.66, "APM": 0.58, "APL": 0.67, "AR": 0.65})
    md, data = _build(reg, "coco", runs, tmp_path / "tables")
    assert data["rows"][0]["paper"]["ap50"] == 90.5 and "ap50" not in data["rows"][1]["paper"]
    cells = _cells(md, 1)
    assert cells[W32] == {"Model": "A", "Experiment": f"`{W32}`", "AP": "74.4 / 61.3",
                          "AP50": "90.5 / 85.0", "AP75": "81.9 / 66.0", "APM": "70.8 / 58.0",
                          "APL": "81.0 / 67.0", "AR": "79.8 / 65.0"}
    assert cells[W48]["AP50"] == "— / —"
    # a table whose paper prints AP only has no such section
    md, _ = _build(reg, "aponly", runs, tmp_path / "tables")
    assert "COCO columns" not in md


def _speed_record(model: str, pps: float, device: str = "cpu", threads: int | None = 8) -> dict:
    """What `pose speed` writes (pose.measure.speed.measure_speed), at batch 1."""
    return {"model": model, "input": "256x192", "device": device,
            "gpu": "Test GPU" if device == "cuda" else None, "threads": threads or 16,
            "threads_requested": threads, "cpu_count": 16, "cpu": "Test CPU", "torch": "2.x",
            "persons": 1000, "warmup_batches": 3,
            "batches": [{"batch": 1, "persons_timed": 1000, "seconds": 1000 / pps,
                         "ms_per_person": 1000 / pps, "persons_per_s": pps}]}


PPS = {"column": "PPS", "measure": "persons_per_s", "device": "cpu", "threads": 8}
GPU_MS = {"column": "GPU Time", "measure": "ms_per_person", "device": "cuda"}


def test_speed_columns_read_pose_speed_records_under_the_papers_protocols(tmp_path: Path):
    table = {"title": "Speed", "speed": [PPS, GPU_MS], "rows": [
        {"label": "A", "experiment": W32, "paper": {"ap": 74.4, "speed": {"PPS": 58,
                                                                          "GPU Time": 6}}},
        {"label": "B", "experiment": W16, "paper": {"ap": 75.1, "speed": {"PPS": 32.5}}},
    ]}
    reg = _registry(_params(tmp_path, {"speed": table}))
    runs = tmp_path / "runs"
    cpu, gpu = "cpu-8threads-b1-1000persons", "cuda-b1-1000persons"
    _write(runs / "speed" / W32 / f"{cpu}.json", _speed_record("hrnet_w32", 61.25))
    _write(runs / "speed" / W32 / f"{gpu}.json",
           _speed_record("hrnet_w32", 160.0, "cuda", None))
    md, data = _build(reg, "speed", runs, tmp_path / "tables")
    a, b = data["rows"]
    assert a["speed"]["PPS"]["persons_per_s"] == 61.25
    assert a["speed"]["GPU Time"]["ms_per_person"] == 6.25
    assert a["files"]["speed"]["PPS"].endswith(f"speed/{W32}/{cpu}.json")
    assert b["speed"] == {"PPS": None} and b["paper"]["speed"] == {"PPS": 32.5}
    cells = _cells(md, 1)
    pps, gpu_ms = "PPS (persons/s, paper / measured)", "GPU Time (ms, paper / measured)"
    assert (cells[W32][pps], cells[W32][gpu_ms]) == ("58 / 61.2", "6 / 6.25")
    assert (cells[W16][pps], cells[W16][gpu_ms]) == ("32.5 / not run", "n/a")
    assert "; measured on Test CPU, 8 threads of 16 CPUs, torch 2.x." in md
    assert "*GPU Time*: `pose speed` on cuda, batch 1" in md
    assert "; measured on Test GPU, torch 2.x." in md
    # the commands the workflow runs time each figure as the paper did
    assert set(speed_targets(reg)) >= {(W32, cpu), (W32, gpu), (W16, cpu)}
    assert (W16, gpu) not in speed_targets(reg)
    command = speed_command(reg, W32, cpu, "out.json")
    assert command.startswith("pose --no-progress speed hrnet_w32 --input 256x192")
    assert "--device cpu" in command and "--threads 8" in command and "--batch" not in command
    assert "--threads" not in speed_command(reg, W32, gpu, "out.json")
    with pytest.raises(ConfigError, match="no table gives a speed measured as"):
        speed_command(reg, W16, gpu, "out.json")
    # a record timed under another protocol is refused, naming the file and field
    _write(runs / "speed" / W32 / f"{cpu}.json", _speed_record("hrnet_w32", 61.25, threads=4))
    with pytest.raises(DataError, match=rf"{cpu}\.json.*threads_requested"):
        build_table(reg, "speed", "smoke", runs, tmp_path / "tables")


def test_a_record_written_by_pose_speed_fills_its_cell(tmp_path: Path):
    """The real measurement's record (pose.measure.speed), as the workflow's `speed` rule writes
    it with `pose speed ... --out`, is what the table reads."""
    from pose.io import write_json
    from pose.measure.speed import measure_speed

    column = {**PPS, "threads": 1, "persons": 2}
    table = {"title": "Speed", "speed": [column], "rows": [
        {"label": "A", "experiment": W16, "paper": {"speed": {"PPS": 58}}}]}
    reg = _registry(_params(tmp_path, {"speed": table}))
    (protocol,) = [p for e, p in speed_targets(reg) if e == W16]
    assert protocol == "cpu-1threads-b1-2persons"
    record = measure_speed(reg.model("hrnet_w16"), "hrnet_w16", (256, 192), threads=1,
                           persons=2, warmup=0)
    runs = tmp_path / "runs"
    write_json(runs / "speed" / W16 / f"{protocol}.json", record)
    _, data = _build(reg, "speed", runs, tmp_path / "tables")
    measured = data["rows"][0]["speed"]["PPS"]
    assert measured["persons_per_s"] == pytest.approx(record["batches"][0]["persons_per_s"],
                                                      rel=1e-3)
    assert (measured["device"], measured["threads"]) == ("cpu", 1)


@pytest.mark.parametrize(
    ("speed", "figures", "message"),
    [
        ([], {"PPS": 58}, r"nospeed\.yaml.*'A'.*\['PPS'\], not a column"),
        ([PPS], {"Time": 3.5}, r"nospeed\.yaml.*\['Time'\], not a column.*\['PPS'\]"),
        ([PPS], {"PPS": 0}, r"nospeed\.yaml.*positive numbers"),
        ([PPS, PPS], {"PPS": 58}, r"nospeed\.yaml.*column names must differ"),
    ],
    ids=["no-protocol", "unknown-column", "not-positive", "duplicate-column"],
)
def test_speed_figures_need_a_protocol_of_the_table(
    tmp_path: Path, speed: list, figures: dict, message: str
):
    row = {"label": "A", "experiment": W32, "paper": {"speed": figures}}
    with pytest.raises(ConfigError, match=message):
        _registry(_params(tmp_path, {"nospeed": {"title": "T", "speed": speed, "rows": [row]}}))


def test_index_totals_the_complexity_of_all_tables(tmp_path: Path):
    reg = _registry(_params(tmp_path, {}))
    runs, reports = tmp_path / "runs", tmp_path / "reports"
    _complexity(runs, W32, "hrnet_w32", 28_535_000, 7.12, 7.646)
    summaries = []
    for name in reg.tables:
        _, data = _build(reg, name, runs, reports / "tables")
        summaries.append(data["complexity_summary"])
    total = complexity_total(summaries)
    assert total["params"]["within"] == sum(s["params"]["within"] for s in summaries) > 0
    assert total["gflops"]["rows"] == sum(s["gflops"]["rows"] for s in summaries) > 0
    write_index(reg, "smoke", reports / "tables", reports / "plots", reports / "index.md",
                runs_dir=runs)
    index = (reports / "index.md").read_text(encoding="utf-8")
    line = f"Complexity over all {len(reg.tables)} tables: {summary_line(total)}"
    assert line in index
    assert (f"Params within 2% of the paper: {total['params']['within']} of "
            f"{total['params']['rows']} rows") in line
    # a table JSON whose summary is not counts is refused, naming the file
    built = reports / "tables" / "baselines.json"
    data = json.loads(built.read_text(encoding="utf-8"))
    data["complexity_summary"]["params"]["within"] = "3"
    built.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(DataError, match=r"baselines\.json: complexity_summary counts"):
        write_index(reg, "smoke", reports / "tables", reports / "plots", reports / "index.md",
                    runs_dir=runs)
