"""DANet's modules by their defining property: the MAU masks out of the new features what the layer
input already represents (and its variants apply M or 1 + M instead), the CAU re-weights the
channels of the layer input only, a dense layer keeps its input and adds `growth` channels, the
SFU's two weights sum to 1, Table I's layer counts give the DANet-S names, and bad keys fail by
name."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from torch import nn

from pose.errors import ConfigError
from pose.models import build_model, load_model_specs, parse_spec
from pose.models.dense import DenseBackbone, DenseLayer, MaskAttentionUnit, XUnit, danet_depth
from pose.models.pyramid import SecondOrderFusion
from pose.models.spec import DenseBackboneSpec

MODELS_YAML = Path(__file__).resolve().parents[2] / "params" / "models.yaml"

TINY_DENSE = {
    "type": "dense", "blocks": [1, 1, 1, 1], "transitions": [16, 16, 16, 16], "stem_width": 8,
    "growth": 8, "bottleneck": 8, "cau": True, "mau": True, "cau_squeeze": 4,
    "attention_kernel": 3,
}
TINY = {
    "family": "danet", "num_joints": 3, "backbone": TINY_DENSE, "pyramid_width": 8,
    "fusion": "sfu", "sfu_hidden": 4, "sfu_kernel": 3,
    "head": {"type": "regressor", "final_kernel": 3},
}


def _randomise(module: nn.Module) -> None:
    """Non-trivial conv weights (the official N(0, 0.001) init makes every gate ~0.5); BNs stay
    the identity so no ReLU silences a branch."""
    torch.manual_seed(1)
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            for p in m.parameters():
                nn.init.normal_(p, std=0.5)


def _layer_spec(**keys: object) -> DenseBackboneSpec:
    return dataclasses.replace(parse_spec(TINY).backbone, **keys)


def _mau_reading_input(in_ch: int, mode: str) -> MaskAttentionUnit:
    """psi = sum over channels of ReLU(f_p), kept at each pixel (identity BN, 1x1 conv of ones,
    depthwise kernel with only its centre tap)."""
    mau = MaskAttentionUnit(in_ch, 4, kernel=3, mode=mode).eval()
    conv1, dw = mau.psi[2], mau.psi[5]
    with torch.no_grad():
        conv1.weight.fill_(1.0)
        dw.weight.zero_()
        dw.weight[:, :, 1, 1] = 1.0
    return mau


@pytest.mark.parametrize(("mode", "where_seen", "elsewhere"),
                         [("one_minus", 0.0, 0.5), ("times", 1.0, 0.5), ("one_plus", 2.0, 1.5)])
def test_mau_masks_what_the_input_already_represents(mode: str, where_seen: float,
                                                     elsewhere: float) -> None:
    mau = _mau_reading_input(6, mode)
    f_p = torch.zeros(1, 6, 5, 7)
    f_p[0, :, 2, 3] = 10.0  # the input responds strongly at one pixel only
    f_n = torch.randn(1, 4, 5, 7)
    out = mau(f_p, f_n)
    ratio = out / f_n
    # |psi| = 60 there: M = 1, so (1 - M) removes the new features; psi = 0 elsewhere: M = 1/2.
    assert torch.allclose(ratio[0, :, 2, 3], torch.full((4,), where_seen), atol=1e-4)
    mask = torch.ones(5, 7, dtype=torch.bool)
    mask[2, 3] = False
    assert torch.allclose(ratio[0][:, mask], torch.full((4, 34), elsewhere), atol=1e-4)


def test_mau_psi_applies_relu_before_its_depthwise_conv() -> None:
    """Fig. 4's blocks are BN-ReLU-conv: a negative pointwise map is zeroed before the depthwise
    conv, so M stays 1/2 (psi 0) where, without the ReLU, |psi| = 60 would give M = 1."""
    mau = _mau_reading_input(6, "one_minus")
    assert [type(m) for m in mau.psi] == [nn.BatchNorm2d, nn.ReLU, nn.Conv2d] * 2
    assert mau.psi[5].groups == 4  # depthwise
    with torch.no_grad():
        mau.psi[2].weight.fill_(-1.0)
    f_p = torch.zeros(1, 6, 5, 7)
    f_p[0, :, 2, 3] = 10.0
    assert torch.allclose(mau.mask(f_p), torch.full((1, 4, 5, 7), 0.5))


def test_xunit_keeps_bn_straight_into_its_depthwise_conv() -> None:
    unit = XUnit(4, kernel=3)
    assert [type(m) for m in unit.features] == [nn.BatchNorm2d, nn.ReLU, nn.Conv2d,
                                                 nn.BatchNorm2d, nn.Conv2d]


@pytest.mark.parametrize(("mode", "factor"), [
    ("one_minus", lambda m: 1 - m), ("times", lambda m: m), ("one_plus", lambda m: 1 + m),
])
def test_mau_modes_apply_their_factor_of_the_mask(mode: str, factor) -> None:
    mau = MaskAttentionUnit(6, 4, kernel=3, mode=mode)
    _randomise(mau)
    mau.eval()
    f_p, f_n = torch.randn(2, 6, 5, 7), torch.randn(2, 4, 5, 7)
    m = mau.mask(f_p)
    assert m.shape == f_n.shape and (m >= 0.5).all() and (m < 1).all() and m.std() > 0.01
    assert torch.allclose(mau(f_p, f_n), f_n * factor(m))


def test_dense_layer_keeps_its_input_and_adds_growth_channels() -> None:
    layer = DenseLayer(12, _layer_spec())
    _randomise(layer)
    x = torch.randn(2, 12, 6, 5)
    y = layer(x)
    assert y.shape == (2, 12 + 8, 6, 5)
    assert torch.equal(y[:, :12], x)
    assert y[:, 12:].abs().sum() > 0


def _inputs_seen(layer: DenseLayer, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """What the 1x1 conv (phi) and the MAU's psi receive in one forward."""
    seen: dict[str, torch.Tensor] = {}
    hooks = [
        layer.bottleneck.register_forward_pre_hook(lambda _m, a: seen.update(phi=a[0].clone())),
        layer.mau.psi.register_forward_pre_hook(lambda _m, a: seen.update(psi=a[0].clone())),
    ]
    layer(x)
    for h in hooks:
        h.remove()
    return seen


@pytest.mark.parametrize(("position", "phi_scaled", "psi_scaled"), [
    ("before_bottleneck", True, False), ("before_split", True, True),
    ("before_mask", False, True),
])
def test_cau_scales_the_channels_of_the_layer_input_only(position: str, phi_scaled: bool,
                                                          psi_scaled: bool) -> None:
    layer = DenseLayer(12, _layer_spec(cau_position=position))
    _randomise(layer)
    layer.eval()
    x = torch.rand(2, 12, 6, 5) + 0.5
    seen = _inputs_seen(layer, x)
    w = layer.cau.weights(x)
    assert w.shape == (2, 12, 1, 1) and w.std() > 0.01  # one factor per channel and sample
    for branch, scaled in (("phi", phi_scaled), ("psi", psi_scaled)):
        if scaled:
            ratio = seen[branch] / x
            # constant over positions, and the gate's weights
            assert torch.allclose(ratio, ratio[..., :1, :1].expand_as(ratio), atol=1e-5)
            assert torch.allclose(ratio[..., 0, 0], w[..., 0, 0], atol=1e-5)
        else:
            assert torch.equal(seen[branch], x)
    assert torch.equal(layer(x)[:, :12], x)  # the concatenated input is never re-weighted


def test_cau_gate_shared_by_the_batch_is_normalised_away_by_phis_bn() -> None:
    """C scales f_p before phi's first BN (eq. 2, phi(f_p x C)): in training, a gate equal for
    every sample cancels in that BN, so the layer computes what it computes without a CAU
    (after phi's BN-ReLU it would scale the 1x1 conv's input by 0.27 instead)."""
    layer = DenseLayer(12, _layer_spec())
    _randomise(layer)
    with torch.no_grad():
        layer.cau.excite.weight.zero_()
        layer.cau.excite.bias.fill_(-1.0)  # C = sigmoid(-1) = 0.27 for every sample and channel
    plain = DenseLayer(12, _layer_spec(cau=False))
    plain.load_state_dict({k: v for k, v in layer.state_dict().items()
                           if not k.startswith("cau.")})
    x = torch.randn(4, 12, 6, 5)
    layer.train(), plain.train()
    assert torch.allclose(layer(x), plain(x), atol=1e-3)
    assert isinstance(layer.bottleneck[0], nn.BatchNorm2d)


def test_xunit_is_a_gaussian_gate_of_the_features() -> None:
    unit = XUnit(4, kernel=3)
    _randomise(unit)
    unit.eval()
    x = torch.randn(1, 4, 5, 5)
    g = unit.gate(x)
    assert (g > 0).all() and (g <= 1).all() and torch.allclose(unit(x), x * g)
    with torch.no_grad():
        unit.features[4].weight.zero_()  # zero map -> exp(0) = 1: the unit passes x through
    assert torch.allclose(unit(x), x)


def test_sfu_weights_sum_to_one_and_identical_inputs_come_back() -> None:
    sfu = SecondOrderFusion(6, hidden=4, kernel=3)
    _randomise(sfu)
    sfu.eval()
    f_td, f_bu = torch.randn(2, 6, 5, 7), torch.randn(2, 6, 5, 7)
    lam, rest = sfu.weights(f_td, f_bu)
    assert lam.shape == (2, 1, 5, 7) and lam.std() > 0.01
    assert torch.allclose(lam + rest, torch.ones_like(lam))
    assert torch.allclose(sfu(f_td, f_bu), lam * f_td + rest * f_bu)
    assert torch.allclose(sfu(f_td, f_td), f_td, atol=1e-6)


@pytest.mark.parametrize("name", ["danet_72", "danet_88", "danet_98", "danet_102"])
def test_table_i_layer_counts_give_the_depth_names(name: str) -> None:
    spec = parse_spec(load_model_specs(MODELS_YAML)[name], name)
    depth = int(name.split("_")[1])
    assert danet_depth(spec.backbone.blocks) == depth
    plain = dataclasses.replace(spec.backbone, cau=False, mau=False)
    convs = [m for m in DenseBackbone(plain).modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == depth  # stem + 2 per dense layer + transitions, nothing else


@pytest.mark.parametrize("backbone", [TINY_DENSE, {"type": "resnet", "depth": 18,
                                                   "base_width": 8}])
def test_heatmaps_at_stride_4_and_every_parameter_trains(backbone: dict) -> None:
    torch.manual_seed(0)
    model = build_model({**TINY, "backbone": backbone}).train()
    y = model(torch.randn(1, 3, 64, 48))
    assert y.shape == (1, 3, 16, 12)
    y.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_deconv_upsampling_is_a_4x4_stride_2_transposed_conv_per_merge() -> None:
    model = build_model({**TINY, "upsample": "deconv"}).eval()
    ups = [m for m in model.pyramid.up.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert len(ups) == 3 and all(u.weight.shape == (8, 8, 4, 4) and u.stride == (2, 2)
                                 for u in ups)
    assert model(torch.randn(1, 3, 64, 32)).shape == (1, 3, 16, 8)
    with pytest.raises(ValueError, match="multiples of 32"):
        model(torch.randn(1, 3, 48, 32))


# Rows sharing DANet-102's widths (Tables II, IV-VII); DANet-72 and Baseline2 are off the common
# offset in the paper itself (params/models.yaml danet_102 assumptions).
DANET_102_ROWS = {"danet_102": 5.8, "danet_98": 5.7, "danet_88": 5.3, "danet_102_baseline1": 3.4,
                  "danet_102_cau": 4.8, "danet_102_mau": 4.2, "danet_102_sfu": 3.5,
                  "danet_102_cau_mau": 5.7, "danet_102_oab_variant1": 5.7,
                  "danet_102_xunit": 3.6, "danet_102_mau_variant1": 4.2}


def _params_m(spec: dict, name: str) -> float:
    with torch.device("meta"):
        return sum(p.numel() for p in build_model(spec, name).parameters()) / 1e6


@pytest.mark.parametrize(("name", "paper"), DANET_102_ROWS.items())
def test_danet_rows_meet_the_paper_params_with_transposed_conv_upsampling(name: str,
                                                                         paper: float) -> None:
    spec = load_model_specs(MODELS_YAML)[name]
    assert spec["upsample"] == "deconv"
    assert abs(_params_m(spec, name) - paper) <= 0.2
    # MSPN's bilinear unit leaves the constant shortfall the transposed convs close
    assert paper - _params_m({**spec, "upsample": "bilinear"}, name) >= 0.55


@pytest.mark.parametrize(("change", "key"), [
    ({"fusion": "concat"}, "fusion"),
    ({"upsample": "nearest"}, "upsample"),
    ({"backbone": {**TINY_DENSE, "mau_mode": "twice"}}, "backbone.mau_mode"),
    ({"backbone": {**TINY_DENSE, "cau_position": "after_3x3"}}, "backbone.cau_position"),
    ({"backbone": {**TINY_DENSE, "mau": False, "cau_position": "before_split"}},
     "backbone.cau_position"),
    ({"backbone": {**TINY_DENSE, "blocks": [1, 1, 1]}}, "backbone.blocks"),
    ({"backbone": {**TINY_DENSE, "transitions": [16, 16, 16]}}, "backbone.transitions"),
    ({"backbone": {**TINY_DENSE, "pool": "min"}}, "backbone.pool"),
    ({"backbone": {**TINY_DENSE, "growht": 8}}, "growht"),
    ({"backbone": {"type": "vgg"}}, "backbone.type"),
    ({"backbone": {"type": "resnet", "depth": 20}}, "backbone.depth"),
    ({"head": {"type": "deconv"}}, "head.type"),
])
def test_bad_keys_fail_with_the_key_named(change: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        parse_spec({**TINY, **change})
