"""DANet Table X's classifiers: DenseNet-169 / 201 as torchvision builds them (counts and state
dict names), and DxNet169 / OAB-DenseNet169 as DenseNet-169 with their units."""

from __future__ import annotations

import pytest
import torch

from pose.errors import ConfigError
from pose.measure.complexity import count_params, measure_complexity
from pose.models import build_model, load_model_specs
from pose.models.classifier import torchvision_name, torchvision_to_dense

SPECS = load_model_specs()


def torchvision_densenet_shapes(blocks: list[int], growth: int = 32, init: int = 64,
                                classes: int = 1000) -> dict[str, tuple[int, ...]]:
    """The state dict torchvision's DenseNet-BC (bn_size 4, compression 0.5) holds, written
    from its module layout: features.conv0/norm0, denseblockN.denselayerM.norm1/conv1/norm2/
    conv2, transitionN.norm/conv, norm5, classifier."""
    shapes: dict[str, tuple[int, ...]] = {"features.conv0.weight": (init, 3, 7, 7)}

    def bn(name: str, ch: int) -> None:
        for key in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{name}.{key}"] = (ch,)
        shapes[f"{name}.num_batches_tracked"] = ()

    bn("features.norm0", init)
    ch = init
    for b, layers in enumerate(blocks, 1):
        for i in range(1, layers + 1):
            layer = f"features.denseblock{b}.denselayer{i}"
            bn(f"{layer}.norm1", ch)
            shapes[f"{layer}.conv1.weight"] = (4 * growth, ch, 1, 1)
            bn(f"{layer}.norm2", 4 * growth)
            shapes[f"{layer}.conv2.weight"] = (growth, 4 * growth, 3, 3)
            ch += growth
        if b < len(blocks):
            bn(f"features.transition{b}.norm", ch)
            shapes[f"features.transition{b}.conv.weight"] = (ch // 2, ch, 1, 1)
            ch //= 2
    bn("features.norm5", ch)
    shapes["classifier.weight"] = (classes, ch)
    shapes["classifier.bias"] = (classes,)
    return shapes


@pytest.mark.parametrize(("name", "blocks", "params"), [
    ("densenet169", [6, 12, 32, 32], 14_149_480),   # torchvision's counts
    ("densenet201", [6, 12, 48, 32], 20_013_928),
])
def test_densenet_loads_a_torchvision_state_dict_strictly(name: str, blocks: list[int],
                                                          params: int) -> None:
    model = build_model(SPECS[name])
    assert count_params(model) == params
    shapes = torchvision_densenet_shapes(blocks)
    state = {k: torch.randn(s) if s else torch.tensor(0) for k, s in shapes.items()}
    model.load_state_dict(torchvision_to_dense(state), strict=True)  # every key, every shape
    key = "features.denseblock3.denselayer32.conv2.weight"
    assert torch.equal(model.state_dict()[torchvision_name(key)], state[key])


def test_a_name_outside_densenet_is_refused() -> None:
    with pytest.raises(ConfigError, match="not a torchvision DenseNet"):
        torchvision_name("features.denseblock1.denselayer1.cau.excite.weight")


@pytest.mark.parametrize(("name", "params_mi", "gflops"), [
    ("densenet169", 13.5, 3.1),   # Table X counts 2^20 params and 2^30 multiply-adds a unit
    ("dxnet169", 13.8, 3.3),      # (DenseNet-201's 20,013,928 params print as 19.1: above)
])
def test_table_x_complexity(name: str, params_mi: float, gflops: float) -> None:
    row = measure_complexity(SPECS[name], name, (224, 224))
    assert row["params"] / 2**20 == pytest.approx(params_mi, abs=0.05)
    assert row["gflops_paper"] == pytest.approx(gflops, abs=0.051)


def test_oab_densenet169_is_densenet169_with_danets_oab() -> None:
    spec = SPECS["oab_densenet169"]
    assert spec["backbone"] == {**SPECS["densenet169"]["backbone"], "cau": True, "mau": True}
    row = measure_complexity(spec, "oab_densenet169", (224, 224))
    assert row["gflops_paper"] == pytest.approx(3.6, abs=0.05)  # Table X's GFLOPs ...
    assert row["params"] / 2**20 == pytest.approx(19.83, abs=0.01)  # ... not its 18.0 params


def test_classifier_gives_logits_per_class() -> None:
    spec = {**SPECS["densenet169"], "num_classes": 7,
            "backbone": {**SPECS["densenet169"]["backbone"], "blocks": [1, 1, 1, 1],
                         "transitions": [8, 8, 8, None], "stem_width": 8, "growth": 8,
                         "bottleneck": 32}}
    out = build_model(spec).eval()(torch.zeros(2, 3, 64, 48))
    assert out.shape == (2, 7)


def test_classifier_backbone_must_be_dense() -> None:
    with pytest.raises(ConfigError, match="backbone.type"):
        build_model({**SPECS["densenet169"],
                     "backbone": {**SPECS["densenet169"]["backbone"], "type": "resnet"}})
