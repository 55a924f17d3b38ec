"""The whole model zoo of params/models.yaml: every model builds, runs forward and backward at both
paper input sizes, and every parameter takes part; every paper table row names a listed model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from pose.models import build_model, load_model_specs, parse_spec

PARAMS_DIR = Path(__file__).resolve().parents[2] / "params"
SPECS = load_model_specs(PARAMS_DIR / "models.yaml")


@pytest.mark.parametrize("hw", [(256, 192), (384, 288)], ids=["256x192", "384x288"])
@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_model_trains_one_step(name: str, hw: tuple[int, int]) -> None:
    torch.manual_seed(0)
    model = build_model(SPECS[name], name).train()
    heatmaps = model(torch.randn(1, 3, *hw))
    if "num_classes" in SPECS[name]:  # an image classifier (DANet Table X): one score a class
        assert heatmaps.shape == (1, SPECS[name]["num_classes"])
    else:
        stride = parse_spec(SPECS[name], name).output_stride  # 4, or 1 for full-res. FR-SBN
        assert heatmaps.shape == (1, SPECS[name]["num_joints"], hw[0] // stride,
                                  hw[1] // stride)
    heatmaps.square().mean().backward()
    unused = [n for n, p in model.named_parameters() if p.grad is None]
    assert not unused, f"{name}: parameters outside the forward pass: {unused[:5]}"


def test_every_table_row_names_a_listed_model() -> None:
    experiments = yaml.safe_load((PARAMS_DIR / "experiments.yaml").read_text())["experiments"]
    tables = yaml.safe_load((PARAMS_DIR / "tables.yaml").read_text())["tables"]
    for table in tables:
        rows = yaml.safe_load((PARAMS_DIR / "papers" / f"{table}.yaml").read_text())["rows"]
        for row in rows:
            assert experiments[row["experiment"]]["model"] in SPECS, (table, row["label"])
