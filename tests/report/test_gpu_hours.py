"""The training-cost section: device-hours per paper from handmade bench.json files and train logs.

The tmp registry holds four tables: the real baselines, two tables of a paper "Alpha" and one of
"Beta", so hrnet_w32_256x192 sits in three papers and must count once in the all-papers row.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import trim_claims

from pose.config import Registry, format_input, load_registry
from pose.errors import DataError
from pose.report.gpu_hours import ALL_PAPERS, training_cost
from pose.report.index import training_cost_section, write_index
from pose.report.papers import paper_groups, paper_key
from pose.report.plots import read_train_log
from pose.report.tables import build_table

REPO = Path(__file__).resolve().parents[2]
W32, W48, R50, W16 = ("hrnet_w32_256x192", "hrnet_w48_256x192", "simplebaseline_r50_256x192",
                      "hrnet_w16_256x192")
W32_384 = "hrnet_w32_384x288"  # in Alpha's table, not trained at smoke scale
TABLES = {
    "alpha_one": ("Alpha Table 1 (components)", [W32, W32_384]),
    "alpha_two": ("Alpha Table 2 (COCO val2017)", [W48]),
    "beta": ("Beta Table 3 (COCO val2017)", [W32]),
}


@pytest.fixture(scope="module")
def base_registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    params = tmp_path_factory.mktemp("repo") / "params"
    shutil.copytree(REPO / "params", params)
    for paper in (params / "papers").glob("*.yaml"):
        if paper.stem != "baselines":
            paper.unlink()
    for name, (title, experiments) in TABLES.items():
        rows = [{"label": e, "experiment": e, "paper": {"ap": 70.0}} for e in experiments]
        (params / "papers" / f"{name}.yaml").write_text(
            yaml.safe_dump({"title": title, "rows": rows}), encoding="utf-8")
    (params / "tables.yaml").write_text(
        yaml.safe_dump({"tables": ["baselines", *TABLES]}), encoding="utf-8")
    trim_claims(params)
    return load_registry(params)


@pytest.fixture
def registry(base_registry: Registry) -> Registry:
    """Smoke trains W32, W48 and R50 only, 24 epochs; W32 is a 1-GPU experiment, W48 a 4-GPU
    one, the hrnet recipe 210 epochs at full scale (pinned here, whatever params/ says)."""
    scales = dict(base_registry.scales)
    smoke = scales["smoke"]
    scales["smoke"] = dataclasses.replace(smoke, train=[W32, W48, R50],
                                          recipe={**smoke.recipe, "epochs": 24})
    experiments = dict(base_registry.experiments)
    experiments[W32] = dataclasses.replace(experiments[W32], gpus=1)
    experiments[W48] = dataclasses.replace(experiments[W48], gpus=4)
    recipes = dict(base_registry.recipes)
    recipes["hrnet"] = dataclasses.replace(recipes["hrnet"], epochs=210)
    return dataclasses.replace(base_registry, scales=scales, experiments=experiments,
                               recipes=recipes)


def bench(registry: Registry, experiment: str, scale: str = "smoke", **over: object) -> dict:
    """A bench.json as `pose bench-train --out` writes it, for the resolved experiment."""
    exp = registry.resolve(experiment, scale)
    record = {
        "name": experiment, "experiment": experiment, "model": exp.model_name, "scale": scale,
        "input": format_input(exp.input_hw), "batch": 16, "device": "cpu",
        "device_name": "Test CPU (2 threads)", "precision": "fp32", "channels_last": False,
        "workers": 0, "steps": 20, "warmup": 5, "images_per_second": 50.0,
        "step_seconds": 0.32, "data_seconds": 0.03, "data_wait_fraction": 0.1,
        "train_samples": 1500,
    }
    return {**record, **over}


def write(path: Path, obj: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj), encoding="utf-8")
    return path


@pytest.fixture
def runs(registry: Registry, tmp_path: Path) -> Path:
    """W32 and W48 measured, W32 with a 12-epoch log; R50 trained but never benchmarked; a stray
    bench.json for W32_384, which smoke does not train."""
    runs = tmp_path / "runs"
    write(runs / f"smoke/{W32}/bench.json", bench(registry, W32, images_per_second=50.0))
    write(runs / f"smoke/{W48}/bench.json", bench(registry, W48, images_per_second=20.0))
    write(runs / f"smoke/{W32_384}/bench.json", bench(registry, W32_384, images_per_second=1.0))
    log = ["epoch,loss,val_ap,lr,seconds"] + [f"{e},0.001,,0.0005,60.0" for e in range(1, 13)]
    write(runs / f"smoke/{W32}/train_log.csv", "\n".join(log) + "\n")
    return runs


def by_id(cost: dict) -> dict[str, dict]:
    return {r["experiment"]: r for r in cost["experiments"]}


# --------------------------------------------------------------------------- the estimate
def test_device_hours_per_experiment(registry: Registry, runs: Path):
    cost = training_cost(registry, "smoke", runs)
    rows = by_id(cost)
    w32, w48 = rows[W32], rows[W48]
    assert w32["epochs"] == w48["epochs"] == 24  # the smoke preset's epochs
    # W32: 24 epochs x 1500 samples / 50 img/s = 720 s = 0.2 h.
    assert w32["device_hours"] == pytest.approx(0.2)
    # W48: 24 x 1500 / 20 = 1800 s = 0.5 h. Smoke runs on the CPU, one process whatever the
    # experiment's 4 GPUs: its wall time is its device time.
    assert (w48["gpus"], w48["device_hours"]) == (0, pytest.approx(0.5))
    assert w48["wall_hours"] == pytest.approx(0.5)
    # The log: 12 epochs x 60 s = 720 s = 0.2 h, half the 24 epochs of the recipe.
    assert w32["logged"]["hours"] == pytest.approx(0.2)
    assert w32["logged"]["epochs"] == 12
    assert w48["logged"] is None


def test_unmeasured_experiments_are_never_estimated(registry: Registry, runs: Path):
    rows = by_id(training_cost(registry, "smoke", runs))
    r50, w32_384, w16 = rows[R50], rows[W32_384], rows[W16]
    assert (r50["trained"], r50["measured"], r50["note"]) == (True, False, "bench-train not run")
    # W32_384's stray bench.json is not read: smoke does not train it.
    assert (w32_384["trained"], w32_384["measured"]) == (False, False)
    assert w32_384["note"] == w16["note"] == "not trained at smoke scale"
    for row in (r50, w32_384, w16):
        assert "device_hours" not in row and "images_per_second" not in row
    # The scale's runs are listed first.
    assert [r["experiment"] for r in training_cost(registry, "smoke", runs)["experiments"]][
        :3] == [W32, W48, R50]


def test_totals_per_paper_and_each_experiment_once(registry: Registry, runs: Path):
    cost = training_cost(registry, "smoke", runs)
    papers = {p["paper"]: p for p in cost["papers"]}
    assert list(papers) == ["Baselines", "Alpha", "Beta"]
    assert papers["Alpha"]["tables"] == ["alpha_one", "alpha_two"]
    # Baselines: W32 0.2 + W48 0.5 = 0.7 device-hours (R50 and W16 not measured).
    base = papers["Baselines"]
    assert (base["experiments"], base["measured"]) == (4, 2)
    assert base["device_hours"] == pytest.approx(0.7)
    assert base["wall_hours"] == pytest.approx(0.7)
    # Alpha: W32, W32_384 (not measured), W48 = 0.7; Beta: W32 alone = 0.2.
    assert (papers["Alpha"]["experiments"], papers["Alpha"]["measured"]) == (3, 2)
    assert papers["Alpha"]["device_hours"] == pytest.approx(0.7)
    assert papers["Beta"]["device_hours"] == pytest.approx(0.2)
    # The papers sum to 0.7 + 0.7 + 0.2 = 1.6, but W32 and W48 count once: 0.7 in all.
    everything = cost["all"]
    assert everything["paper"] == ALL_PAPERS
    assert (everything["experiments"], everything["measured"]) == (5, 2)
    assert everything["device_hours"] == pytest.approx(0.7)
    assert everything["logged_hours"] == pytest.approx(0.2)
    assert everything["devices"] == ["Test CPU (2 threads), fp32"]


def test_nothing_measured_gives_no_totals(registry: Registry, tmp_path: Path):
    cost = training_cost(registry, "smoke", tmp_path / "runs")
    assert all(p["device_hours"] is None and p["measured"] == 0
               for p in [*cost["papers"], cost["all"]])
    assert cost["all"]["devices"] == []


# --------------------------------------------------------------------------- bad records
@pytest.mark.parametrize(
    ("content", "field"),
    [
        ("{not json", "not readable JSON"),
        ("[1, 2]", "expected a JSON object"),
        ({"images_per_second": None}, "'images_per_second'"),
        ({"images_per_second": 0}, "'images_per_second' should be a positive number"),
        ({"images_per_second": "fast"}, "'images_per_second'"),
        ({"data_wait_fraction": 1.5}, "'data_wait_fraction' should be a number in 0..1"),
        ({"train_samples": 12.5}, "'train_samples' should be a positive int"),
        ({"experiment": W48}, "'experiment' should be 'hrnet_w32_256x192'"),
        ({"scale": "full"}, "'scale' should be 'smoke'"),
        ({"input": "256x192"}, "'input' should be '128x96'"),
        ({"device": "tpu"}, "'device'"),
    ],
    ids=["syntax", "not-object", "missing", "zero", "text", "fraction", "samples", "experiment",
         "scale", "input", "device"],
)
def test_bad_bench_json_names_file_and_field(registry: Registry, runs: Path, content: object,
                                             field: str):
    path = runs / f"smoke/{W32}/bench.json"
    if isinstance(content, dict):
        record = {**bench(registry, W32), **content}
        content = {k: v for k, v in record.items() if v is not None}
    write(path, content)
    with pytest.raises(DataError, match=re.escape(str(path)) + ".*" + re.escape(field)):
        training_cost(registry, "smoke", runs)


def test_train_log_seconds_must_be_numbers(tmp_path: Path):
    bad = write(tmp_path / "train_log.csv", "epoch,loss,val_ap,lr,seconds\n1,0.1,,0.001,soon\n")
    with pytest.raises(DataError, match=rf"{re.escape(str(bad))}:2: seconds"):
        read_train_log(bad, W32)


# --------------------------------------------------------------------------- papers
def test_tables_group_by_shared_name_prefix():
    names = ["baselines", "ram_gpr", "ram_gpr_ablation", "dnanet_sota", "danet_sota",
             "danet_mpii"]
    assert [paper_key(n, names) for n in names] == [
        "baselines", "ram_gpr", "ram_gpr", "dnanet_sota", "danet", "danet"]


def test_real_registry_groups_each_table_once():
    registry = load_registry(REPO / "params")
    groups = paper_groups(registry)
    assert [g.name for g in groups] == [
        "Baselines", "DNANet", "RAM + GPR", "HRNet + AM", "FR-SBN", "DANet"]
    tables = [t for g in groups for t in g.tables]
    assert sorted(tables) == sorted(registry.tables) and len(tables) == len(set(tables))
    assert groups[0].tables == ["baselines"]


# --------------------------------------------------------------------------- the report
def cells(md: str, first: str) -> list[str]:
    line = next(x for x in md.splitlines() if x.startswith(f"| {first} "))
    return [c.strip() for c in line.strip().strip("|").split("|")]


def test_section_markdown_json_and_plot(registry: Registry, runs: Path, tmp_path: Path):
    reports = tmp_path / "reports"
    md = training_cost_section(registry, "smoke", runs, reports / "plots", reports / "index.md")
    assert cells(md, "Baselines")[2:6] == ["4", "2", "0.700", "0.700"]
    assert cells(md, f"**{ALL_PAPERS}**")[2:7] == ["5", "2", "0.700", "0.700", "0.200 (1 run)"]
    w32 = cells(md, f"`{W32}`")
    assert w32[1:] == ["hrnet_w32", "128x96", "0 (CPU)", "16", "24", "50.0", "10%", "0.200",
                       "0.200", "0.200 (12 of 24 epochs)", ""]
    assert cells(md, f"`{W48}`")[8:10] == ["0.500", "0.500"]
    assert cells(md, f"`{R50}`")[8:] == ["not measured", "not measured", "—",
                                         "bench-train not run"]
    assert cells(md, f"`{W32_384}`")[-1] == "not trained at smoke scale"
    # The caption says where it was measured and that smoke is no GPU estimate of a paper.
    assert "at **smoke** scale on Test CPU (2 threads), fp32" in md
    assert "shrunk smoke models at 128x96" in md and "not a GPU estimate" in md
    assert "](plots/gpu_hours.png)" in md and "[gpu_hours.json](gpu_hours.json)" in md
    numbers = json.loads((reports / "gpu_hours.json").read_text(encoding="utf-8"))
    assert numbers["all"]["device_hours"] == pytest.approx(0.7)
    png = (reports / "plots/gpu_hours.png").read_bytes()
    svg = (reports / "plots/gpu_hours.svg").read_bytes()
    assert png.startswith(b"\x89PNG") and b"<svg" in svg
    training_cost_section(registry, "smoke", runs, reports / "plots", reports / "index.md")
    assert (reports / "plots/gpu_hours.svg").read_bytes() == svg  # same numbers, same bytes


def test_full_scale_gpu_measurement(registry: Registry, tmp_path: Path):
    runs = tmp_path / "runs"
    gpu = {"device": "cuda", "device_name": "Test GPU", "train_samples": 149_813}
    write(runs / f"full/{W32}/bench.json",
          bench(registry, W32, "full", batch=128, images_per_second=300.0, **gpu))
    write(runs / f"full/{W48}/bench.json",
          bench(registry, W48, "full", batch=32, images_per_second=150.0, **gpu))
    cost = training_cost(registry, "full", runs)
    rows = by_id(cost)
    # W32 on 1 GPU: 210 epochs x 149,813 samples / 300 img/s = 104,869.1 s = 29.1303 h, the
    # same in wall time.
    assert rows[W32]["device_hours"] == pytest.approx(29.1303, abs=1e-4)
    assert rows[W32]["wall_hours"] == pytest.approx(29.1303, abs=1e-4)
    # W48 on 4 GPUs: 210 x 149,813 / 150 = 209,738.2 s = 58.2606 device-hours, / 4 = 14.5651 h.
    assert rows[W48]["device_hours"] == pytest.approx(58.2606, abs=1e-4)
    assert rows[W48]["wall_hours"] == pytest.approx(14.5651, abs=1e-4)
    reports = tmp_path / "reports"
    md = training_cost_section(registry, "full", runs, reports / "plots", reports / "index.md")
    assert cells(md, f"`{W32}`")[3] == "1" and cells(md, f"`{W32}`")[8:10] == ["29.1", "29.1"]
    assert cells(md, f"`{W48}`")[3] == "4" and cells(md, f"`{W48}`")[8:10] == ["58.3", "14.6"]
    # Baselines: 29.13 + 58.26 = 87.39 device-hours, 29.13 + 14.57 = 43.70 wall-hours.
    assert cells(md, "Baselines")[4:6] == ["87.4", "43.7"]
    assert "at **full** scale on Test GPU, fp32" in md and "not a GPU estimate" not in md
    assert cells(md, f"`{R50}`")[-1] == "bench-train not run"  # full trains all: not run yet


def test_nothing_measured_section_has_no_plot(registry: Registry, runs: Path, tmp_path: Path):
    reports = tmp_path / "reports"
    training_cost_section(registry, "smoke", runs, reports / "plots", reports / "index.md")
    md = training_cost_section(registry, "smoke", tmp_path / "none", reports / "plots",
                               reports / "index.md")
    assert not (reports / "plots/gpu_hours.png").exists()  # the stale plot is gone
    assert "gpu_hours.png" not in md and cells(md, "Baselines")[4] == "not measured"


def test_index_holds_the_section(registry: Registry, runs: Path, tmp_path: Path):
    reports = tmp_path / "reports"
    for name in registry.tables:
        build_table(registry, name, "smoke", runs, reports / "tables")
    write_index(registry, "smoke", reports / "tables", reports / "plots", reports / "index.md",
                runs_dir=runs)
    index = (reports / "index.md").read_text(encoding="utf-8")
    assert index.index("## Beta Table 3") < index.index("## Training cost per paper")
    assert index.index("## Training cost per paper") < index.index("## Training curves")
    assert cells(index, "Alpha")[4] == "0.700"
