"""The report stage on a fake runs/ tree: tables, plots, provenance and the index page."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

import pose.models
from pose.config import Registry, load_registry
from pose.errors import DataError
from pose.report.index import write_index
from pose.report.plots import plot_training
from pose.report.provenance import collect_provenance
from pose.report.tables import build_table

REPO = Path(__file__).resolve().parents[2]
ROWS = ("hrnet_w32_256x192", "hrnet_w48_256x192", "simplebaseline_r50_256x192")

# A stand-in for params/models.yaml while the model zoo is not there (family is all resolve needs).
MINIMAL_MODELS = {
    "hrnet_w32": {"family": "hrnet", "width": 32},
    "hrnet_w48": {"family": "hrnet", "width": 48},
    "simplebaseline_r50": {"family": "simplebaseline", "depth": 50},
}


def make_registry(params: Path, monkeypatch: pytest.MonkeyPatch) -> Registry:
    """The real loader on a params/ copy; the model check is stubbed only if it is not written."""
    if not (params / "models.yaml").exists():
        (params / "models.yaml").write_text(yaml.safe_dump(MINIMAL_MODELS), encoding="utf-8")
        monkeypatch.setattr(pose.models, "validate_spec", lambda spec, where: None, raising=False)
    elif not hasattr(pose.models, "validate_spec"):
        monkeypatch.setattr(pose.models, "validate_spec", lambda spec, where: None, raising=False)
    return load_registry(params)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(REPO / "params", root / "params")
    return root


@pytest.fixture
def registry(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Registry:
    return make_registry(repo / "params", monkeypatch)


def write(path: Path, obj: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj), encoding="utf-8")
    return path


def fake_eval(experiment: str, scale: str = "smoke", ap: float = 0.6134, **over: object) -> dict:
    ev = {
        "experiment": experiment,
        "scale": scale,
        "dataset": "synthetic",
        "boxes": "detections",
        "input": "128x96",
        "flip_test": True,
        "epochs": 12,
        "AP": ap,
        "AP50": 0.85,
        "AP75": 0.66,
        "APM": 0.58,
        "APL": 0.67,
        "AR": 0.65,
        "AR50": 0.88,
        "AR75": 0.7,
        "ARM": 0.6,
        "ARL": 0.71,
    }
    return {**ev, **over}


def fake_complexity(model: str, params: int, gflops: float, gmacs: float) -> dict:
    return {
        "model": model,
        "input": "256x192",
        "params": params,
        "gflops_paper": gflops,
        "gmacs": gmacs,
    }


@pytest.fixture
def runs(repo: Path) -> Path:
    """hrnet_w32: eval + complexity + log; hrnet_w48: complexity + log; r50: nothing."""
    runs = repo / "runs"
    write(runs / "smoke/hrnet_w32_256x192/eval.json", fake_eval("hrnet_w32_256x192"))
    write(runs / "complexity/hrnet_w32_256x192.json", {})  # a stray file the table must ignore
    write(
        runs / "complexity/hrnet_w32_256x192.json",
        fake_complexity("hrnet_w32", 28_535_000, 7.10, 7.12),
    )
    write(
        runs / "complexity/hrnet_w48_256x192.json",
        fake_complexity("hrnet_w48", 63_595_000, 14.64, 14.66),
    )
    for i, exp in enumerate(ROWS[:2]):
        lines = ["epoch,loss,val_ap,lr,seconds"]
        for e in range(1, 13):
            lr = 1e-3 * (0.1 ** ((e >= 10) + (e >= 12)))
            val = "" if e % 3 and e != 12 else f"{0.05 * e + 0.02 * i:.4f}"
            lines.append(f"{e},{0.002 / (e + i) ** 0.7:.6f},{val},{lr:g},{3.5 + i}")
        write(runs / f"smoke/{exp}/train_log.csv", "\n".join(lines) + "\n")
    return runs


def table_lines(md: str, which: int = 0) -> dict[str, list[str]]:
    """Experiment id -> the cells of its Markdown row, in the page's `which`-th table (0: the
    main table; the COCO columns and speed tables follow it)."""
    tables = re.findall(r"(?m)(?:^\|.*\n?)+", md)
    rows = {}
    for line in tables[which].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) > 1 and cells[1].strip("`") in ROWS:
            rows[cells[1].strip("`")] = cells
    return rows


def header(md: str) -> list[str]:
    line = next(x for x in md.splitlines() if x.startswith("| Model"))
    return [c.strip() for c in line.strip().strip("|").split("|")]


# --------------------------------------------------------------------------- tables
def test_table_side_by_side_with_smoke_marking(registry: Registry, runs: Path, tmp_path: Path):
    out = tmp_path / "tables"
    build_table(registry, "baselines", "smoke", runs, out)
    md = (out / "baselines.md").read_text(encoding="utf-8")
    rows = table_lines(md)
    assert list(rows) == list(ROWS)
    col = {name: i for i, name in enumerate(header(md))}
    w32 = rows["hrnet_w32_256x192"]
    assert w32[col["Model"]] == "HRNet-W32"
    assert w32[col["Paper AP"]] == "74.4"
    assert w32[col["Reproduced AP"]] == "61.3 (smoke, synthetic, det boxes)"
    assert w32[col["ΔAP"]] == "n/a"
    assert (w32[col["Paper params (M)"]], w32[col["Measured params (M)"]]) == ("28.5", "28.54")
    assert w32[col["Δ params"]] == "+0.1%"
    assert (w32[col["Paper GFLOPs"]], w32[col["Measured GFLOPs"]]) == ("7.1", "7.10")
    assert w32[col["GMACs"]] == "7.12"
    assert "COCO" not in w32[col["Reproduced AP"]]
    # Caption and the complexity note sit under the table.
    assert registry.table("baselines").caption.strip() in md
    assert "paper-size model at the paper's input (256x192)" in md

    data = json.loads((out / "baselines.json").read_text(encoding="utf-8"))
    assert data["scale"] == "smoke"
    first = data["rows"][0]
    assert first["reproduced"]["ap"] == pytest.approx(61.34)
    assert first["paper"]["ap"] == 74.4
    assert first["delta_ap"] is None
    assert first["complexity"]["params_m"] == pytest.approx(28.535)
    assert first["delta_params_pct"] == pytest.approx((28.535 - 28.5) / 28.5 * 100, abs=1e-3)


def test_missing_inputs_say_not_run(registry: Registry, runs: Path, tmp_path: Path):
    out = tmp_path / "tables"
    build_table(registry, "baselines", "smoke", runs, out)
    md = (out / "baselines.md").read_text(encoding="utf-8")
    col = {name: i for i, name in enumerate(header(md))}
    w48, r50 = table_lines(md)["hrnet_w48_256x192"], table_lines(md)["simplebaseline_r50_256x192"]
    assert w48[col["Reproduced AP"]] == "not run"
    assert w48[col["Measured params (M)"]] == "63.59"  # complexity alone still fills its columns
    for name in ("Reproduced AP", "Measured params (M)", "Measured GFLOPs", "GMACs"):
        assert r50[col[name]] == "not run"
    assert r50[col["Δ params"]] == "n/a"
    data = json.loads((out / "baselines.json").read_text(encoding="utf-8"))
    assert data["rows"][2]["reproduced"] is None and data["rows"][2]["complexity"] is None


def test_table_with_complexity_only(registry: Registry, runs: Path, tmp_path: Path):
    shutil.rmtree(runs / "smoke")
    build_table(registry, "baselines", "smoke", runs, tmp_path / "tables")
    md = (tmp_path / "tables/baselines.md").read_text(encoding="utf-8")
    assert md.count("| not run |") >= 3


def test_delta_ap_at_full_scale_on_the_papers_protocol(
    registry: Registry, runs: Path, tmp_path: Path
):
    write(
        runs / "full/hrnet_w32_256x192/eval.json",
        fake_eval("hrnet_w32_256x192", "full", 0.7412, dataset="coco", input="256x192", epochs=210),
    )
    write(
        runs / "full/hrnet_w48_256x192/eval.json",
        fake_eval(
            "hrnet_w48_256x192",
            "full",
            0.7612,
            dataset="coco",
            input="256x192",
            epochs=210,
            boxes="gt",
        ),
    )
    build_table(registry, "baselines", "full", runs, tmp_path / "tables")
    md = (tmp_path / "tables/baselines.md").read_text(encoding="utf-8")
    col = {name: i for i, name in enumerate(header(md))}
    rows = table_lines(md)
    assert rows["hrnet_w32_256x192"][col["Reproduced AP"]] == "74.1 (full, coco, det boxes)"
    assert rows["hrnet_w32_256x192"][col["ΔAP"]] == "-0.3"
    # GT boxes are not the paper's protocol: no ΔAP against a detection-box figure.
    assert rows["hrnet_w48_256x192"][col["Reproduced AP"]] == "76.1 (full, coco, GT boxes)"
    assert rows["hrnet_w48_256x192"][col["ΔAP"]] == "n/a"


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[1, 2]",
        json.dumps(fake_eval("hrnet_w32_256x192", ap=61.3)),
        json.dumps({"experiment": "hrnet_w32_256x192"}),
        json.dumps(fake_eval("hrnet_w48_256x192")),
    ],
    ids=["syntax", "not-object", "ap-not-fraction", "missing-keys", "other-experiment"],
)
def test_malformed_eval_raises_naming_it_and_writes_nothing(
    registry: Registry, runs: Path, tmp_path: Path, content: str
):
    bad = write(runs / "smoke/hrnet_w32_256x192/eval.json", content)
    out = tmp_path / "tables"
    with pytest.raises(DataError, match=str(bad)):
        build_table(registry, "baselines", "smoke", runs, out)
    assert not out.exists() or list(out.iterdir()) == []


def test_malformed_complexity_raises(registry: Registry, runs: Path, tmp_path: Path):
    bad = write(
        runs / "complexity/hrnet_w48_256x192.json",
        fake_complexity("hrnet_w48", 63_595_000, 14.6, 14.6) | {"input": "128x96"},
    )
    with pytest.raises(DataError, match=str(bad)):
        build_table(registry, "baselines", "smoke", runs, tmp_path / "tables")


def test_failed_rebuild_keeps_the_previous_table(registry: Registry, runs: Path, tmp_path: Path):
    out = tmp_path / "tables"
    build_table(registry, "baselines", "smoke", runs, out)
    before = (out / "baselines.md").read_text(encoding="utf-8")
    write(runs / "smoke/hrnet_w32_256x192/eval.json", "{")
    with pytest.raises(DataError):
        build_table(registry, "baselines", "smoke", runs, out)
    assert (out / "baselines.md").read_text(encoding="utf-8") == before
    assert sorted(p.name for p in out.iterdir()) == ["baselines.json", "baselines.md"]


def trains(registry: Registry, scale: str, train: list[str]) -> Registry:
    """The registry with `scale` training only `train` (as scales.yaml would say)."""
    scales = dict(registry.scales)
    scales[scale] = dataclasses.replace(scales[scale], train=train)
    return dataclasses.replace(registry, scales=scales)


def test_row_not_trained_at_the_scale(registry: Registry, runs: Path, tmp_path: Path):
    reg = trains(registry, "smoke", ["hrnet_w32_256x192", "simplebaseline_r50_256x192"])
    # An eval.json left from an earlier selection is not this scale's figure.
    write(runs / "smoke/hrnet_w48_256x192/eval.json", fake_eval("hrnet_w48_256x192"))
    out = tmp_path / "tables"
    build_table(reg, "baselines", "smoke", runs, out)
    md = (out / "baselines.md").read_text(encoding="utf-8")
    col = {name: i for i, name in enumerate(header(md))}
    rows = table_lines(md)
    assert rows["hrnet_w48_256x192"][col["Reproduced AP"]] == "not trained at smoke scale"
    assert rows["hrnet_w48_256x192"][col["Measured params (M)"]] == "63.59"  # still measured
    assert rows["simplebaseline_r50_256x192"][col["Reproduced AP"]] == "not run"  # trained, no eval
    assert rows["hrnet_w32_256x192"][col["Reproduced AP"]].startswith("61.3 (smoke")
    assert "experiments this scale does not train" in md
    data = json.loads((out / "baselines.json").read_text(encoding="utf-8"))
    by_id = {r["experiment"]: r for r in data["rows"]}
    w48 = by_id["hrnet_w48_256x192"]
    assert (w48["trained"], w48["reproduced"], w48["files"]["eval"]) == (False, None, None)
    assert [by_id[e]["trained"] for e in ROWS] == [True, False, True]
    # At full scale every experiment is trained: a missing figure is "not run" again.
    build_table(reg, "baselines", "full", runs, out)
    assert "not trained" not in (out / "baselines.md").read_text(encoding="utf-8")


def test_complexity_within_2pct_counts(
    registry: Registry, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    params = repo / "params"
    papers = [  # B gives no params figure, D no GFLOPs: those cells are not counted
        {"ap": 74.4, "params_m": 28.5, "gflops": 7.1},
        {"ap": 75.1, "gflops": 14.6},
        {"params_m": 34.0, "gflops": 8.9},
        {"params_m": 34.0},
    ]
    rows = [
        {"label": label, "experiment": exp, "paper": paper}
        for label, exp, paper in zip("ABCD", [*ROWS, ROWS[2]], papers, strict=True)
    ]
    write(params / "papers/cx.yaml", yaml.safe_dump({"title": "Cx", "rows": rows}))
    listed = yaml.safe_load((params / "tables.yaml").read_text(encoding="utf-8"))["tables"]
    write(params / "tables.yaml", yaml.safe_dump({"tables": [*listed, "cx"]}))
    reg = make_registry(params, monkeypatch)
    runs = tmp_path / "runs"
    # A: +0.12% params, +0.0% GFLOPs; B: +2.7% GFLOPs; C: +2.6% params, +1.1% GFLOPs.
    cx = runs / "complexity"
    write(cx / f"{ROWS[0]}.json", fake_complexity("hrnet_w32", 28_535_000, 7.1, 7.1))
    write(cx / f"{ROWS[1]}.json", fake_complexity("hrnet_w48", 63_595_000, 15.0, 15.0))
    build_table(reg, "cx", "smoke", runs, tmp_path / "tables")
    before = json.loads((tmp_path / "tables/cx.json").read_text(encoding="utf-8"))
    assert [r["params_within_2pct"] for r in before["rows"]] == [True, None, False, False]
    assert before["complexity_summary"]["not_measured"] == 2

    write(
        runs / "complexity" / f"{ROWS[2]}.json",
        fake_complexity("simplebaseline_r50", 34_884_000, 8.99, 8.99),
    )
    build_table(reg, "cx", "smoke", runs, tmp_path / "tables")
    data = json.loads((tmp_path / "tables/cx.json").read_text(encoding="utf-8"))
    assert [r["params_within_2pct"] for r in data["rows"]] == [True, None, False, False]
    assert [r["gflops_within_2pct"] for r in data["rows"]] == [True, False, True, None]
    assert data["complexity_summary"] == {
        "within_pct": 2.0,
        "params": {"within": 1, "rows": 3},
        "gflops": {"within": 2, "rows": 3},
        "not_measured": 0,
    }
    assert {"table", "title", "caption", "scale", "rows"} <= set(data)
    md = (tmp_path / "tables/cx.md").read_text(encoding="utf-8")
    assert "Params within 2% of the paper: 1 of 3 rows; GFLOPs within 2%: 2 of 3 rows.\n" in md


# --------------------------------------------------------------------------- plots
def test_plots_png_and_svg(registry: Registry, runs: Path, tmp_path: Path):
    out = tmp_path / "plots"
    paths = plot_training(registry, "smoke", runs, out)
    assert paths == [out / "training.png", out / "training.svg"]
    png, svg = (p.read_bytes() for p in paths)
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    assert b"<svg" in svg and len(svg) > 10_000
    assert sorted(p.name for p in out.iterdir()) == ["training.png", "training.svg"]
    # Same logs, same bytes: the pipeline does not see a spurious change.
    plot_training(registry, "smoke", runs, out)
    assert (out / "training.svg").read_bytes() == svg


def test_no_logs_no_plots(registry: Registry, runs: Path, tmp_path: Path):
    out = tmp_path / "plots"
    plot_training(registry, "smoke", runs, out)
    assert plot_training(registry, "full", runs, out) == []
    assert not (out / "training.png").exists()  # a stale plot would be linked by the index


def test_malformed_train_log(registry: Registry, runs: Path, tmp_path: Path):
    bad = write(
        runs / "smoke/hrnet_w32_256x192/train_log.csv",
        "epoch,loss,val_ap,lr,seconds\n1,abc,,0.001,3\n",
    )
    with pytest.raises(DataError, match=rf"{bad}:2: loss"):
        plot_training(registry, "smoke", runs, tmp_path / "plots")
    assert not (tmp_path / "plots").exists() or list((tmp_path / "plots").iterdir()) == []


# --------------------------------------------------------------------------- provenance
def test_provenance_outside_git_and_params_hash(repo: Path):
    prov = collect_provenance(repo / "params", repo / "dvc.lock")
    assert prov["git"]["commit"] is None  # tmp_path is not inside a git repository
    assert prov["dvc_lock_sha256"] is None
    assert set(prov["packages"]) == {"torch", "numpy", "pycocotools", "opencv", "snakemake", "dvc"}
    assert prov["packages"]["numpy"]
    assert prov["hardware"]["cores"] >= 1
    assert prov["timestamp_utc"].endswith("+00:00")
    before = prov["params_sha256"]
    assert collect_provenance(repo / "params")["params_sha256"] == before
    scales = repo / "params/scales.yaml"
    scales.write_text(scales.read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")
    (repo / "dvc.lock").write_text("schema: '2.0'\n", encoding="utf-8")
    after = collect_provenance(repo / "params", repo / "dvc.lock")
    assert after["params_sha256"] != before
    assert after["dvc_lock_sha256"] and len(after["dvc_lock_sha256"]) == 64


def test_provenance_in_this_repository():
    prov = collect_provenance(REPO / "params", REPO / "dvc.lock")
    commit = prov["git"]["commit"]
    assert commit is None or len(commit) == 40  # None before the first commit
    assert prov["git"]["dirty"] in (True, False, None)


# --------------------------------------------------------------------------- index
def test_index_page(registry: Registry, runs: Path, repo: Path):
    reports = repo / "reports"
    for name in registry.tables:
        build_table(registry, name, "smoke", runs, reports / "tables")
    plot_training(registry, "smoke", runs, reports / "plots")
    assumed = dict(registry.models)
    assumed["hrnet_w32"] = {**assumed["hrnet_w32"], "assumptions": ["BN momentum 0.1: unstated"]}
    reg = dataclasses.replace(registry, models=assumed)
    write_index(reg, "smoke", reports / "tables", reports / "plots", reports / "index.md")
    index = (reports / "index.md").read_text(encoding="utf-8")
    table = (reports / "tables/baselines.md").read_text(encoding="utf-8").strip()
    assert table in index
    assert "never a COCO figure" in index
    trained = ", ".join(f"`{e}`" for e in registry.trained_experiments("smoke"))
    assert "Trained and evaluated at **smoke** scale" in index and trained in index
    assert "](plots/training.png)" in index
    assert "## Assumptions of this reproduction" in index
    assert "BN momentum 0.1: unstated" in index
    assert "## Provenance" in index and '"params_sha256"' in index
    prov = json.loads((reports / "provenance.json").read_text(encoding="utf-8"))
    assert prov["scale"] == "smoke" and prov["params_sha256"] in index


def test_index_without_logs_and_with_tables_in_order(
    registry: Registry, runs: Path, repo: Path, monkeypatch: pytest.MonkeyPatch
):
    params = repo / "params"
    (params / "papers/ablation.yaml").write_text(
        yaml.safe_dump(
            {
                "title": "Ablation",
                "caption": "One row.",
                "rows": [
                    {"label": "W32", "experiment": "hrnet_w32_256x192", "paper": {"ap": 74.4}}
                ],
            }
        ),
        encoding="utf-8",
    )
    if (params / "tables.yaml").exists():
        listed = yaml.safe_load((params / "tables.yaml").read_text(encoding="utf-8"))["tables"]
        (params / "tables.yaml").write_text(
            yaml.safe_dump({"tables": ["ablation", *listed]}), encoding="utf-8"
        )
    reg = make_registry(params, monkeypatch)
    reports = repo / "reports"
    for name in reg.tables:
        build_table(reg, name, "smoke", runs, reports / "tables")
    write_index(reg, "smoke", reports / "tables", reports / "plots", reports / "index.md")
    index = (reports / "index.md").read_text(encoding="utf-8")
    assert index.index("## Baselines") < index.index("## Ablation")
    assert "No training logs" in index and "training.png" not in index
    # recipes' assumptions are listed with their source
    for name, recipe in reg.recipes.items():
        for text in recipe.assumptions:
            assert f"recipes.yaml: {name}" in index and " ".join(text.split())[:40] in index
    bare = dataclasses.replace(
        reg,
        recipes={k: dataclasses.replace(v, assumptions=[]) for k, v in reg.recipes.items()},
        models={k: {**v, "assumptions": []} for k, v in reg.models.items()},
        tables={k: dataclasses.replace(v, assumptions=[]) for k, v in reg.tables.items()},
    )
    write_index(bare, "smoke", reports / "tables", reports / "plots", reports / "index.md")
    assert "None recorded" in (reports / "index.md").read_text(encoding="utf-8")


def test_index_refuses_missing_or_other_scale_tables(registry: Registry, runs: Path, repo: Path):
    reports = repo / "reports"
    with pytest.raises(DataError, match="baselines.md"):
        write_index(registry, "smoke", reports / "tables", reports / "plots", reports / "index.md")
    build_table(registry, "baselines", "full", runs, reports / "tables")
    with pytest.raises(DataError, match="scale 'full'"):
        write_index(registry, "smoke", reports / "tables", reports / "plots", reports / "index.md")
    assert not (reports / "index.md").exists() and not (reports / "provenance.json").exists()
