"""Model zoo: exact official parameter counts, output shapes, official state-dict names, and
spec validation errors that name the offending key."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from pose.errors import ConfigError
from pose.models import build_model, load_model_specs, validate_spec
from pose.spec import deep_merge

MODELS_YAML = Path(__file__).resolve().parents[2] / "params" / "models.yaml"
SPECS = load_model_specs(MODELS_YAML)

# Derived by hand from the official code (pose_hrnet.py / pose_resnet.py), e.g. SimpleBaseline-R50:
# ResNet-50 without fc 23,508,032 + deconvs 2048*256*16 + 2*256*256*16 + 3 BN(256) 1,536
# + final 1x1 conv 256*17 + 17.
PARAMS = {
    "hrnet_w32": (28_536_113, 28.5),
    "hrnet_w48": (63_595_745, 63.6),
    "simplebaseline_r50": (33_999_697, 34.0),
}
SMOKE_HRNET = deep_merge(SPECS["hrnet_w32"], {
    "width": 16, "stem_width": 32, "stage1_blocks": 1,
    "stage_modules": [1, 1, 1], "stage_blocks": [1, 1, 1],
})
SMOKE_SB = deep_merge(SPECS["simplebaseline_r50"], {"depth": 18, "head": {"deconv_channels": 64}})


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(scope="module")
def w32() -> nn.Module:
    return build_model(SPECS["hrnet_w32"], "hrnet_w32").eval()


def test_models_yaml_entries() -> None:
    assert {"hrnet_w32", "hrnet_w48", "simplebaseline_r50"} <= set(SPECS)


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_exact_parameter_counts(name: str) -> None:
    exact, millions = PARAMS[name]
    count = n_params(build_model(SPECS[name], name))
    assert count == exact
    assert round(count / 1e6, 1) == millions


@pytest.mark.parametrize("spec", [SMOKE_HRNET, SMOKE_SB], ids=["hrnet", "simplebaseline"])
@pytest.mark.parametrize("hw", [(256, 192), (384, 288)])
def test_smoke_output_shape(spec: dict, hw: tuple[int, int]) -> None:
    model = build_model(spec).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, *hw))
    assert out.shape == (2, 17, hw[0] // 4, hw[1] // 4)


@pytest.mark.parametrize("hw", [(256, 192), (384, 288)])
def test_hrnet_w32_output_shape(w32: nn.Module, hw: tuple[int, int]) -> None:
    with torch.no_grad():
        out = w32(torch.randn(1, 3, *hw))
    assert out.shape == (1, 17, hw[0] // 4, hw[1] // 4)


def test_input_not_multiple_of_32() -> None:
    model = build_model(SMOKE_HRNET).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 48)).shape == (1, 17, 16, 12)


@pytest.mark.parametrize("spec", [SMOKE_HRNET, SMOKE_SB], ids=["hrnet", "simplebaseline"])
def test_smoke_backward_reaches_every_parameter(spec: dict) -> None:
    model = build_model(spec).train()
    model(torch.randn(2, 3, 64, 48)).square().sum().backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    assert not missing


def test_hrnet_state_dict_names_and_shapes(w32: nn.Module) -> None:
    shapes = {k: tuple(v.shape) for k, v in w32.state_dict().items()}
    expected = {
        "conv1.weight": (64, 3, 3, 3),
        "bn2.running_var": (64,),
        "layer1.0.downsample.0.weight": (256, 64, 1, 1),
        "layer1.3.conv3.weight": (256, 64, 1, 1),
        "transition1.0.0.weight": (32, 256, 3, 3),  # 256 -> 32 at the same resolution
        "transition1.1.0.0.weight": (64, 256, 3, 3),  # new branch, stride 2
        "transition3.3.0.0.weight": (256, 128, 3, 3),
        "stage2.0.branches.1.3.conv2.weight": (64, 64, 3, 3),
        "stage2.0.fuse_layers.0.1.0.weight": (32, 64, 1, 1),  # upsample path
        "stage2.0.fuse_layers.1.0.0.0.weight": (64, 32, 3, 3),  # downsample path
        "stage3.3.fuse_layers.2.0.0.0.weight": (32, 32, 3, 3),  # 2-step chain keeps channels..
        "stage3.3.fuse_layers.2.0.1.1.running_mean": (128,),  # ..then maps them
        "stage4.2.branches.3.3.bn2.weight": (256,),
        "stage4.2.fuse_layers.0.3.0.weight": (32, 256, 1, 1),
        "final_layer.weight": (17, 32, 1, 1),
        "final_layer.bias": (17,),
    }
    for key, shape in expected.items():
        assert shapes.get(key) == shape, key
    # Unchanged branches have no transition; the last stage-4 module fuses only branch 0.
    assert not any(k.startswith(("transition2.0.", "transition2.1.")) for k in shapes)
    assert not any(k.startswith("stage4.2.fuse_layers.1.") for k in shapes)
    assert "stage4.1.fuse_layers.3.0.2.0.weight" in shapes


def test_simplebaseline_state_dict_names() -> None:
    keys = set(build_model(SMOKE_SB).state_dict())
    for key in ["conv1.weight", "bn1.running_mean", "layer2.0.downsample.0.weight",
                "layer2.0.downsample.1.bias", "layer4.1.conv2.weight", "deconv_layers.0.weight",
                "deconv_layers.1.running_var", "deconv_layers.6.weight", "deconv_layers.7.bias",
                "final_layer.weight", "final_layer.bias"]:
        assert key in keys, key
    assert "layer1.0.downsample.0.weight" not in keys  # resnet-18 layer1 keeps 64 channels
    assert not any(k.startswith("fc.") for k in keys)
    r50 = set(build_model(SPECS["simplebaseline_r50"]).state_dict())
    assert {"layer1.0.downsample.0.weight", "layer4.2.bn3.running_var"} <= r50


def test_official_initialisation() -> None:
    model = build_model(SMOKE_HRNET)
    for m in model.modules():
        if isinstance(m, nn.Conv2d) and m.weight.numel() > 1000:
            assert m.weight.std().item() == pytest.approx(0.001, rel=0.2)
        if isinstance(m, nn.BatchNorm2d):
            assert m.momentum == 0.1
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)
    assert torch.all(model.final_layer.bias == 0)


BAD_SPECS = [
    ({"family": "hrnet2"}, ["family", "hrnet", "simplebaseline"]),
    ({"widht": 32}, ["widht"]),
    ({"width": "32"}, ["width"]),
    ({"width": True}, ["width"]),
    ({"width": 0}, ["width"]),
    ({"stage_modules": [1, 4]}, ["stage_blocks"]),
    ({"stage_blocks": [4, "4", 4]}, ["stage_blocks"]),
    ({"fusion": "rdna2"}, ["fusion", "sum", "rdna"]),
    ({"unit_attention": ["cdna2"]}, ["unit_attention", "cdna"]),
    ({"head": {"type": "deconv"}}, ["head.type", "simple"]),
    ({"head": {"type": "simple", "final_kernel": 5}}, ["final_kernel", "1, 3"]),
    ({"head": {"type": "simple", "final_kernal": 1}}, ["final_kernal"]),
]


@pytest.mark.parametrize(("override", "words"), BAD_SPECS)
def test_bad_hrnet_spec_names_the_key(override: dict, words: list[str]) -> None:
    spec = {**SPECS["hrnet_w32"], **override}
    with pytest.raises(ConfigError) as err:
        validate_spec(spec, "params/models.yaml:hrnet_w32")
    message = str(err.value)
    assert "hrnet_w32" in message
    for word in words:
        assert word in message


@pytest.mark.parametrize(("override", "words"), [
    ({"depth": 42}, ["depth", "18", "152"]),
    ({"head": {"deconv_channels": 64.0}}, ["deconv_channels"]),
    ({"head": {"deconv_kernel": 5}}, ["deconv_kernel", "2, 3, 4"]),
    ({"head": {"deconv_layers": 2}}, ["deconv_layers", "[3]"]),
    ({"head": {"type": "simple"}}, ["head.type", "deconv"]),
])
def test_bad_simplebaseline_spec_names_the_key(override: dict, words: list[str]) -> None:
    spec = deep_merge(SPECS["simplebaseline_r50"], override)
    with pytest.raises(ConfigError) as err:
        build_model(spec, "sb")
    for word in words:
        assert word in str(err.value)


def test_missing_key_and_non_mapping() -> None:
    spec = dict(SPECS["hrnet_w32"])
    del spec["stage_blocks"]
    with pytest.raises(ConfigError, match="stage_blocks"):
        validate_spec(spec, "m")
    with pytest.raises(ConfigError, match="family"):
        validate_spec({"width": 32}, "m")
    with pytest.raises(ConfigError, match="mapping"):
        validate_spec([1, 2], "m")  # type: ignore[arg-type]


def test_validate_spec_builds_no_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object) -> None:
        raise AssertionError("weights were built")

    monkeypatch.setattr(nn.Module, "__init__", refuse)
    for name, spec in SPECS.items():
        validate_spec(spec, name)


def test_load_model_specs_reports_file_and_model(tmp_path: Path) -> None:
    bad = tmp_path / "models.yaml"
    bad.write_text("good:\n  family: simplebaseline\n  num_joints: 17\n  depth: 50\n"
                   "  head: {type: deconv, deconv_layers: 3, deconv_channels: 256,"
                   " deconv_kernel: 4, final_kernel: 1}\n"
                   "broken:\n  family: simplebaseline\n  depht: 50\n")
    with pytest.raises(ConfigError, match=r"models\.yaml:broken.*depht"):
        load_model_specs(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_model_specs(tmp_path / "absent.yaml")
