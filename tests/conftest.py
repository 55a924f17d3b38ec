"""Shared fixtures: a tiny copy of the project (params + small synthetic data) for stages."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

# A scale smaller than smoke: seconds per stage, same code path. It trains two experiments:
# simplebaseline_r50_256x192 is left out, so the workflow tests see an experiment whose row has
# complexity only.
TINY_TRAIN = ["hrnet_w32_256x192", "hrnet_w48_256x192"]
TINY_SCALE = {
    "train": TINY_TRAIN,
    "dataset": "synthetic",
    "input": "96x64",
    "recipe": {"epochs": 2, "batch_size": 8, "schedule": {"milestones": [1]}},
    "models": {
        "hrnet": {
            "width": 8,
            "stem_width": 16,
            "stage1_blocks": 1,
            "stage_modules": [1, 1, 1],
            "stage_blocks": [1, 1, 1],
            "pretrained": None,
        },
        # No ImageNet file at tiny scale either (smoke sets the same).
        "simplebaseline": {"depth": 18, "base_width": 16, "head": {"deconv_channels": 16},
                           "pretrained": None},
    },
    "device": "cpu",
    "eval_device": "cpu",
    "num_workers": 0,
    "threads": 1,
    "val_every": 1,
}
TINY_SYNTH = {"seed": 3, "num_train": 8, "num_val": 4}


# The registry subset a tiny project keeps: the baselines table and its experiments, so workflow
# tests run every stage without measuring the whole zoo at paper size.
TINY_TABLES = ["baselines"]


def _keep_tiny_registry(params: Path) -> None:
    """Drop every table but TINY_TABLES and every experiment they do not name."""
    rows = [row for table in TINY_TABLES
            for row in yaml.safe_load((params / "papers" / f"{table}.yaml").read_text())["rows"]]
    keep = {row["experiment"] for row in rows}
    experiments = yaml.safe_load((params / "experiments.yaml").read_text())
    experiments["experiments"] = {
        k: v for k, v in experiments["experiments"].items() if k in keep
    }
    (params / "experiments.yaml").write_text(yaml.safe_dump(experiments, sort_keys=False))
    (params / "tables.yaml").write_text(yaml.safe_dump({"tables": TINY_TABLES}))
    for paper in (params / "papers").glob("*.yaml"):
        if paper.stem not in TINY_TABLES:
            paper.unlink()
    scales = yaml.safe_load((params / "scales.yaml").read_text())
    for preset in scales.values():
        if isinstance(preset.get("train"), list):
            preset["train"] = [e for e in preset["train"] if e in keep]
        if preset.get("cpu_ddp"):
            ddp = preset["cpu_ddp"]
            ddp["experiments"] = [e for e in ddp["experiments"] if e in keep]
        if preset.get("seeds"):
            seeds = preset["seeds"]
            seeds["experiments"] = {e: n for e, n in seeds.get("experiments", {}).items()
                                    if e in keep}
            seeds["papers"] = {p: n for p, n in seeds.get("papers", {}).items()
                               if p in TINY_TABLES}
    (params / "scales.yaml").write_text(yaml.safe_dump(scales, sort_keys=False))
    trim_claims(params)


def trim_claims(params: Path) -> None:
    """Keep the claims of params/claims.yaml whose table is still listed and whose rows'
    experiments still exist, for tests that cut the registry down."""
    claims_file = params / "claims.yaml"
    if not claims_file.is_file():
        return
    tables = set(yaml.safe_load((params / "tables.yaml").read_text())["tables"])
    experiments = set(yaml.safe_load((params / "experiments.yaml").read_text())["experiments"])
    claims = yaml.safe_load(claims_file.read_text())

    def kept(c: dict) -> bool:
        if c["table"] not in tables:
            return False
        rows = {r["experiment"] for r in
                yaml.safe_load((params / "papers" / f"{c['table']}.yaml").read_text())["rows"]}
        named = {c["experiment"], c["baseline"], c.get("matched_baseline") or c["baseline"]}
        return named <= experiments and {c["experiment"], c["baseline"]} <= rows

    claims["claims"] = {k: c for k, c in (claims.get("claims") or {}).items() if kept(c)}
    claims_file.write_text(yaml.safe_dump(claims, sort_keys=False))


def write_tiny_params(dst: Path) -> Path:
    """Copy params/ to `dst`/params, keep the baselines table's experiments only, and make the
    tiny scale the pipeline default (pipeline.yaml written by `pose use-scale tiny`'s code)."""
    from pose.stages import use_scale_stage

    params = dst / "params"
    shutil.copytree(ROOT / "params", params)
    _keep_tiny_registry(params)
    datasets = yaml.safe_load((params / "datasets.yaml").read_text())
    datasets["synthetic"]["synth"] = dict(TINY_SYNTH)
    (params / "datasets.yaml").write_text(yaml.safe_dump(datasets, sort_keys=False))
    scales = yaml.safe_load((params / "scales.yaml").read_text())
    scales["tiny"] = TINY_SCALE
    (params / "scales.yaml").write_text(yaml.safe_dump(scales, sort_keys=False))
    use_scale_stage(params, "tiny")
    return params


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic COCO-format dataset, generated once per test session."""
    from pose.data.synth import SynthConfig, write_synthetic_dataset

    root = tmp_path_factory.mktemp("tiny") / "synthetic"
    write_synthetic_dataset(root, SynthConfig(**TINY_SYNTH), progress=False)
    return root


@pytest.fixture()
def tiny_project(tmp_path: Path, tiny_dataset: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with tiny params and the tiny dataset at data/synthetic."""
    write_tiny_params(tmp_path)
    shutil.copytree(tiny_dataset, tmp_path / "data" / "synthetic")
    monkeypatch.chdir(tmp_path)
    return tmp_path
