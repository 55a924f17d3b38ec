"""Complexity: the papers' GFLOPs convention (official get_model_summary) and true MACs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from pose.measure.complexity import count_params, gflops_paper, gmacs, measure_complexity
from pose.models import build_model, load_model_specs

SPECS = load_model_specs(Path(__file__).resolve().parents[2] / "params" / "models.yaml")
GIB = 1024**3

# Published / official-summary values (HRNet paper Table 1; SimpleBaseline in the HRNet table).
PAPER_GFLOPS = [
    ("hrnet_w32", (256, 192), 7.12),
    ("hrnet_w48", (256, 192), 14.61),
    ("simplebaseline_r50", (256, 192), 8.99),
    ("hrnet_w32", (384, 288), 16.02),
    ("hrnet_w48", (384, 288), 32.88),
]
_models: dict[str, nn.Module] = {}


def model(name: str) -> nn.Module:
    if name not in _models:
        _models[name] = build_model(SPECS[name], name)
    return _models[name]


@pytest.mark.parametrize(("name", "hw", "expected"), PAPER_GFLOPS)
def test_paper_gflops(name: str, hw: tuple[int, int], expected: float) -> None:
    assert gflops_paper(model(name), hw) == pytest.approx(expected, abs=0.02)


def test_simplebaseline_true_macs() -> None:
    """Paper count minus true count is exactly 3x the deconvs' real MACs (charged 4x)."""
    net = model("simplebaseline_r50")
    paper = round(gflops_paper(net, (256, 192)) * GIB)
    true = round(gmacs(net, (256, 192)) * 1e9)
    deconv = 2048 * 256 * 16 * 8 * 6 + 256 * 256 * 16 * (16 * 12 + 32 * 24)
    assert paper - true == 3 * deconv
    assert true == 5_426_380_800


def test_hrnet_true_macs_equal_paper_count() -> None:
    """No transposed convs in HRNet: both conventions count the same MACs (only units differ)."""
    net = model("hrnet_w32")
    assert round(gmacs(net, (256, 192)) * 1e9) == round(gflops_paper(net, (256, 192)) * GIB)


def test_transposed_conv_is_charged_at_output_resolution() -> None:
    deconv = nn.ConvTranspose2d(3, 4, kernel_size=4, stride=2, padding=1, bias=False)
    true_macs = 3 * 4 * 4 * 4 * (8 * 6)  # every input pixel meets the whole kernel once
    assert gmacs(deconv, (8, 6)) * 1e9 == pytest.approx(true_macs)
    assert gflops_paper(deconv, (8, 6)) * GIB == 4 * true_macs


def test_single_conv_macs() -> None:
    conv = nn.Conv2d(3, 8, kernel_size=3, stride=2, padding=1, bias=True)
    macs = 8 * 3 * 3 * 3 * (8 * 6)  # output 8x6 from a 16x12 input; bias not counted
    assert gmacs(conv, (16, 12)) * 1e9 == pytest.approx(macs)
    assert gflops_paper(conv, (16, 12)) * GIB == macs


def test_only_conv_and_linear_are_counted() -> None:
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Upsample(scale_factor=2), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 5),
    )
    expected = 4 * 3 * 9 * (8 * 8) + 5 * 4
    assert gflops_paper(net, (8, 8)) * GIB == expected


def test_measurement_leaves_model_state_alone() -> None:
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    gflops_paper(net, (8, 8))
    gmacs(net, (8, 8))
    assert net.training
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_count_params() -> None:
    assert count_params(nn.Conv2d(3, 8, 3)) == 8 * 3 * 9 + 8
    assert count_params(model("simplebaseline_r50")) == 33_999_697


def test_measure_complexity_row() -> None:
    row = measure_complexity(SPECS["hrnet_w32"], "hrnet_w32", (256, 192))
    assert set(row) == {"model", "input", "params", "gflops_paper", "gmacs"}
    assert row["model"] == "hrnet_w32" and row["input"] == "256x192"
    assert row["params"] == 28_536_113 and isinstance(row["params"], int)
    assert row["gflops_paper"] == pytest.approx(7.12, abs=0.02)
    assert row["gmacs"] == pytest.approx(7.645, abs=0.001)
