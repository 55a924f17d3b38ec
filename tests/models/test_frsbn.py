"""FR-SBN (Ou et al., MMAsia 2020) and the ImageNet trunk loader: the global context block adds
one vector everywhere, SA-MFCD carries stages 1-3 into decoders 2-4, the output stride follows
the number of decoders, SimpleBaseline on every ResNet depth, and a strict `pretrained` load."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from pose.config import load_registry
from pose.errors import ConfigError
from pose.models import build_model, load_model_specs, parse_spec, validate_spec
from pose.models.context import SAMFCD, GlobalContextBlock
from pose.models.frsbn import FRSBN
from pose.models.pretrained import load_pretrained
from pose.models.resnet import ResNet
from pose.spec import deep_merge

PARAMS_DIR = Path(__file__).resolve().parents[2] / "params"
SPECS = load_model_specs(PARAMS_DIR / "models.yaml")

# A narrow FR-SBN with every module (GCBs, SA-MFCD) that runs in milliseconds.
SMALL = {
    "family": "frsbn", "num_joints": 5, "depth": 18, "base_width": 8,
    "decoders": 5, "decoder_channels": [16, 16, 16, 8, 4], "gcb": True, "gcb_ratio": 0.25,
    "fusion": "sa_mfcd", "mfcd_channels": 6,
}
SMALL_SBN = {**SMALL, "decoders": 3, "decoder_channels": [16, 16, 16], "gcb": False,
             "fusion": "none"}


def randomise(model: nn.Module) -> nn.Module:
    """Non-trivial weights everywhere (the zero-initialised GCB transforms included)."""
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.2)
    return model.eval()


# --------------------------------------------------------------------------- GCB
def test_gcb_adds_one_vector_to_every_position() -> None:
    gcb = randomise(GlobalContextBlock(12, ratio=0.25))
    x = torch.randn(2, 12, 7, 5)
    out, sah = gcb(x)
    added = out - x
    assert added.shape == x.shape and sah.shape == (2, 1, 7, 5)
    # the same vector at every (h, w), for every channel of every image
    torch.testing.assert_close(added, added[:, :, :1, :1].expand_as(added))
    assert added.abs().amax() > 1e-3  # and not the trivial zero
    assert not torch.allclose(added[0], added[1])  # one vector per image


def test_gcb_sah_softmax_sums_to_one_over_positions() -> None:
    gcb = randomise(GlobalContextBlock(8, ratio=1 / 16))
    x = torch.randn(3, 8, 6, 4)
    sah, weights = gcb.attention(x)
    torch.testing.assert_close(weights.sum(dim=(2, 3)), torch.ones(3, 1))
    assert (weights > 0).all()
    # the SAH handed to SA-MFCD is the 1x1 conv's map the softmax is taken over
    torch.testing.assert_close(sah, gcb.conv_mask(x))
    torch.testing.assert_close(weights, sah.flatten(2).softmax(-1).view_as(sah))
    _, returned = gcb(x)
    torch.testing.assert_close(returned, sah)


def test_gcb_bottleneck_follows_gcnet() -> None:
    gcb = GlobalContextBlock(64, ratio=1 / 16)
    first, norm, _, last = gcb.channel_add
    assert (first.in_channels, first.out_channels) == (64, 4)
    assert isinstance(norm, nn.LayerNorm) and norm.normalized_shape == (4, 1, 1)
    assert (last.in_channels, last.out_channels) == (4, 64)
    gcb.init_weights()  # GCNet's: starts as the identity
    x = torch.randn(1, 64, 5, 5)
    torch.testing.assert_close(gcb(x)[0], x)


# --------------------------------------------------------------------------- SA-MFCD
def record_merges(model: FRSBN, what: Callable[[tuple, torch.Tensor], Any]) -> dict[str, Any]:
    """What reaches each decoder's concatenate-and-fuse merge, by decoder number."""
    seen: dict[str, Any] = {}

    def hook(name: str) -> Callable:
        def record(_module: nn.Module, inputs: tuple, out: torch.Tensor) -> None:
            seen[name] = what(inputs, out)
        return record

    for name, merge in model.merges.items():
        merge.register_forward_hook(hook(name))
    return seen


def test_sa_mfcd_feeds_decoders_2_to_4_from_stages_1_to_3() -> None:
    model = randomise(build_model(SMALL))
    assert isinstance(model, FRSBN)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        feats, sahs = model.encode(x)
        extra = model.decoder_inputs(feats, sahs)
        assert sorted(extra) == [2, 3, 4]
        refined = extra[2]
        assert refined.shape == (1, 6, 16, 16)  # mfcd_channels at stage 1's stride 4

        def refined_with(k: int, feature: bool) -> torch.Tensor:
            f, s = list(feats), list(sahs)
            if feature:
                f[k] = f[k] + torch.randn_like(f[k])
            else:
                s[k] = s[k] + torch.randn_like(s[k])
            return model.decoder_inputs(f, s)[2]

        for k in range(3):  # stages 1-3: their features and their attention heatmaps
            assert not torch.allclose(refined_with(k, feature=True), refined)
            assert not torch.allclose(refined_with(k, feature=False), refined)
        torch.testing.assert_close(refined_with(3, feature=True), refined)  # stage 4: not read

    # In the forward pass the merges of decoders 2, 3, 4 receive it at their own resolution.
    seen = record_merges(model, lambda inputs, out: (inputs[1], out.shape))
    with torch.no_grad():
        model(x)
    assert sorted(seen) == ["2", "3", "4"]
    for name, size in (("2", 8), ("3", 16), ("4", 32)):
        torch.testing.assert_close(seen[name][0], refined)
        assert seen[name][1][-2:] == (size, size)


def test_decoders_2_to_4_depend_on_the_stage_features_through_sa_mfcd() -> None:
    """Gradient of each merged decoder output reaches every SA-MFCD input directly."""
    mfcd = randomise(SAMFCD([8, 16, 32], 6)).train()
    feats = [torch.randn(2, c, s, s, requires_grad=True) for c, s in ((8, 16), (16, 8), (32, 4))]
    sahs = [torch.randn(2, 1, s, s, requires_grad=True) for s in (16, 8, 4)]
    mfcd(feats, sahs).sum().backward()
    for t in [*feats, *sahs]:
        assert t.grad is not None and t.grad.abs().sum() > 0


def test_skip_feeds_each_stage_to_the_decoder_of_its_resolution() -> None:
    model = randomise(build_model({**SMALL, "fusion": "skip"}))
    x = torch.randn(1, 3, 64, 64)
    seen = record_merges(model, lambda inputs, out: (inputs[1].shape, inputs[0].shape))
    with torch.no_grad():
        feats, _ = model.encode(x)
        model(x)
    assert sorted(seen) == ["1", "2", "3"]
    for decoder, stage in (("1", 3), ("2", 2), ("3", 1)):
        extra_shape, deconv_shape = seen[decoder]
        assert extra_shape == feats[stage - 1].shape
        assert extra_shape[-2:] == deconv_shape[-2:]  # same resolution: no resizing


# --------------------------------------------------------------------------- output stride
@pytest.mark.parametrize(("spec", "stride"), [(SMALL, 1), (SMALL_SBN, 4)], ids=["5dec", "3dec"])
@pytest.mark.parametrize("hw", [(64, 64), (128, 96)])
def test_output_size_follows_the_decoders(spec: dict, stride: int, hw: tuple[int, int]) -> None:
    assert parse_spec(spec).output_stride == stride
    model = build_model(spec).eval()
    assert model.output_stride == stride
    with torch.no_grad():
        out = model(torch.randn(2, 3, *hw))
    assert out.shape == (2, 5, hw[0] // stride, hw[1] // stride)


@pytest.mark.parametrize("fusion", ["none", "skip", "sa_mfcd"])
def test_every_composition_trains(fusion: str) -> None:
    model = build_model({**SMALL, "fusion": fusion, "gcb": True}).train()
    model(torch.randn(2, 3, 64, 32)).square().sum().backward()
    assert not [n for n, p in model.named_parameters() if p.grad is None]


def test_three_decoders_are_simplebaseline_r34() -> None:
    """SBN-34 of Table 1 is registered once, as simplebaseline_r34: the frsbn family with three
    256-wide decoders and neither GCB nor fusion computes the same function."""
    spec = {"family": "frsbn", "num_joints": 17, "depth": 34, "decoders": 3,
            "decoder_channels": [256, 256, 256]}
    torch.manual_seed(0)
    sbn = randomise(build_model(SPECS["simplebaseline_r34"]))
    frsbn = build_model(spec).eval()
    theirs, ours = sbn.state_dict(), frsbn.state_dict()
    assert [v.shape for v in theirs.values()] == [v.shape for v in ours.values()]
    frsbn.load_state_dict(dict(zip(ours, theirs.values(), strict=True)))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(frsbn(x), sbn(x))


def test_full_resolution_experiment_targets() -> None:
    """Table 1 / 2 FR-SBN rows regress full-size heatmaps (sigma 8 / 12; smoke halves them with
    the input); SBN-34 keeps stride 4 and sigma 2; smoke reads no ImageNet file."""
    reg = load_registry(PARAMS_DIR, check_pipeline=False)
    full = reg.resolve("frsbn_r34_256x192", "full")
    assert full.heatmap_hw == (256, 192) and full.recipe.sigma == 8.0
    assert full.model_spec["pretrained"] == "data/pretrained/resnet/resnet34-333f7ec4.pth"
    big = reg.resolve("frsbn_r34_384x288", "full")
    assert big.heatmap_hw == (384, 288) and big.recipe.sigma == 12.0
    sbn = reg.resolve("frsbn_r34_sbn_256x192", "full")
    assert sbn.heatmap_hw == (64, 48) and sbn.recipe.sigma == 2.0
    smoke = reg.resolve("frsbn_r34_256x192", "smoke")
    assert smoke.heatmap_hw == (128, 96) and smoke.recipe.sigma == 4.0
    assert smoke.model_spec["pretrained"] is None and smoke.model_spec["depth"] == 18
    assert "frsbn_r34_256x192" in reg.trained_experiments("smoke")


# --------------------------------------------------------------------------- ResNet depths
# torchvision trunk without fc (R18 11,176,512; R34 21,284,672; R50 23,508,032; R101 42,500,160;
# R152 58,143,808) + deconvs (512 or 2048)*256*16 + 2*256*256*16 + 3 BN(256) + 1x1 conv to 17.
SIMPLEBASELINE_PARAMS = {
    "simplebaseline_r18": 15_376_721,
    "simplebaseline_r34": 25_484_881,
    "simplebaseline_r50": 33_999_697,
    "simplebaseline_r101": 52_991_825,
    "simplebaseline_r152": 68_635_473,
}


@pytest.mark.parametrize("name", sorted(SIMPLEBASELINE_PARAMS))
def test_simplebaseline_every_depth(name: str) -> None:
    model = build_model(SPECS[name], name)
    assert sum(p.numel() for p in model.parameters()) == SIMPLEBASELINE_PARAMS[name]
    depth = SPECS[name]["depth"]
    assert SPECS[name]["pretrained"].startswith(f"data/pretrained/resnet/resnet{depth}-")


# --------------------------------------------------------------------------- pretrained
SMALL_TRUNK = {"family": "frsbn", "num_joints": 5, "depth": 18, "decoders": 5,
               "decoder_channels": [8, 8, 8, 4, 4], "gcb": True, "fusion": "sa_mfcd",
               "mfcd_channels": 4}
SB_R18 = deep_merge(SPECS["simplebaseline_r18"], {"head": {"deconv_channels": 8}})


def imagenet_file(tmp_path: Path, depth: int = 18, **edits: torch.Tensor | None) -> Path:
    """A torchvision-style state dict: one of our fresh ResNets plus a fake 1000-way fc."""
    trunk = randomise(ResNet(depth))
    state = trunk.state_dict()
    state["fc.weight"] = torch.randn(1000, trunk.out_channels)
    state["fc.bias"] = torch.randn(1000)
    for key, value in edits.items():
        if value is None:
            del state[key]
        else:
            state[key] = value
    path = tmp_path / f"resnet{depth}-test.pth"
    torch.save(state, path)
    return path


@pytest.mark.parametrize("spec", [SMALL_TRUNK, SB_R18], ids=["frsbn", "simplebaseline"])
def test_pretrained_trunk_loads_by_name(tmp_path: Path, spec: dict) -> None:
    path = imagenet_file(tmp_path)
    source = torch.load(path, weights_only=True)
    model = build_model(spec)
    head_before = {k: v.clone() for k, v in model.state_dict().items()
                   if not k.startswith(("conv1.", "bn1.", "layer"))}
    assert load_pretrained(model, path) == ["fc.weight", "fc.bias"]
    state = model.state_dict()
    trunk = [k for k in state if k.startswith(("conv1.", "bn1.", "layer"))]
    assert len(trunk) == len(source) - 2
    for key in trunk:
        torch.testing.assert_close(state[key], source[key], rtol=0, atol=0)
    for key, value in head_before.items():  # decoders, GCBs, SA-MFCD, final layer untouched
        torch.testing.assert_close(state[key], value, rtol=0, atol=0)
    assert not any(k.startswith("fc.") for k in state)


def test_pretrained_files_before_torch_041_load(tmp_path: Path) -> None:
    """The official resnet*-*.pth files have no BN num_batches_tracked; nothing else may lack."""
    path = imagenet_file(tmp_path)
    state = torch.load(path, weights_only=True)
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    torch.save(state, path)
    model = build_model(SB_R18)
    load_pretrained(model, path)
    torch.testing.assert_close(model.state_dict()["layer3.1.conv2.weight"],
                               state["layer3.1.conv2.weight"])


@pytest.mark.parametrize(("edits", "words"), [
    ({"layer2.0.conv1.weight": None}, ["missing keys", "layer2.0.conv1.weight"]),
    ({"layer5.0.conv1.weight": torch.zeros(1)}, ["unexpected keys", "layer5.0.conv1.weight"]),
    ({"classifier.weight": torch.zeros(1)}, ["unexpected keys", "classifier.weight"]),
    ({"layer1.0.bn1.weight": torch.ones(32)}, ["shape", "layer1.0.bn1.weight", "(32,)", "(64,)"]),
], ids=["missing", "extra", "other-head", "shape"])
def test_pretrained_mismatch_names_key_and_file(
    tmp_path: Path, edits: dict, words: list[str]
) -> None:
    path = imagenet_file(tmp_path, **edits)
    model = build_model(SB_R18)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ConfigError) as err:
        load_pretrained(model, path)
    message = str(err.value)
    assert str(path) in message
    for word in words:
        assert word in message
    for key, value in model.state_dict().items():  # nothing half-loaded
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)


def test_pretrained_of_another_depth_is_refused(tmp_path: Path) -> None:
    path = imagenet_file(tmp_path, depth=34)
    with pytest.raises(ConfigError, match=r"unexpected keys: layer1\.2\.conv1\.weight"):
        load_pretrained(build_model(SB_R18), path)


def test_missing_pretrained_file_says_who_places_it(tmp_path: Path) -> None:
    path = tmp_path / "data" / "pretrained" / "resnet18-5c106cde.pth"
    with pytest.raises(ConfigError) as err:
        load_pretrained(build_model(SB_R18), path)
    assert str(path) in str(err.value) and "pose fetch" in str(err.value)


def test_unreadable_pretrained_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.pth"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="broken.pth"):
        load_pretrained(build_model(SB_R18), path)
    torch.save({"state_dict": {"conv1.weight": torch.zeros(1)}, "epoch": 3}, path)
    with pytest.raises(ConfigError, match="state dict"):
        load_pretrained(build_model(SB_R18), path)


def test_build_model_reads_no_pretrained_file() -> None:
    spec = {**SMALL_TRUNK, "pretrained": "data/pretrained/does-not-exist.pth"}
    build_model(spec)  # complexity and tests build without the file


def test_trainer_loads_the_pretrained_trunk(
    tiny_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    from pose.engine import trainer

    path = imagenet_file(tiny_project)
    exp = load_registry("params").resolve("simplebaseline_r50_256x192", "tiny")
    spec = {**exp.model_spec, "base_width": 64, "pretrained": str(path)}
    exp = replace(exp, model_spec=spec)
    seen = []

    class Loaded(Exception):
        pass

    def loaded(model: nn.Module, file: str) -> None:
        load_pretrained(model, file)
        seen.append((model.state_dict()["conv1.weight"].clone(), file))
        raise Loaded

    monkeypatch.setattr(trainer, "load_pretrained", loaded)
    with pytest.raises(Loaded):
        trainer.train_experiment(exp, progress=False)
    weight, file = seen[0]
    assert file == str(path)
    torch.testing.assert_close(weight, torch.load(path, weights_only=True)["conv1.weight"])


# --------------------------------------------------------------------------- bad specs
@pytest.mark.parametrize(("override", "words"), [
    ({"fusion": "unet"}, ["fusion", "unet", "sa_mfcd"]),
    ({"decoders": 4, "decoder_channels": [8, 8, 8, 8]}, ["decoders", "[3, 5]"]),
    ({"decoders": 3}, ["decoder_channels", "3"]),
    ({"decoder_channels": [8, 8, 8, 0, 4]}, ["decoder_channels[3]"]),
    ({"gcb": False}, ["fusion", "gcb"]),
    ({"decoders": 3, "decoder_channels": [8, 8, 8]}, ["fusion", "decoders"]),
    ({"gcb_ratio": 0.0}, ["gcb_ratio"]),
    ({"gcb": "yes"}, ["gcb"]),
    ({"depth": 42}, ["depth", "152"]),
    ({"deconv_kernel": 5}, ["deconv_kernel"]),
    ({"mfcd_channel": 32}, ["mfcd_channel"]),
    ({"pretrained": ""}, ["pretrained"]),
    ({"pretrained": "x.pth", "base_width": 16}, ["pretrained", "base_width"]),
])
def test_bad_frsbn_spec_names_the_key(override: dict, words: list[str]) -> None:
    spec = {**SPECS["frsbn_r34"], **override}
    with pytest.raises(ConfigError) as err:
        validate_spec(spec, "params/models.yaml:frsbn_r34")
    message = str(err.value)
    assert "frsbn_r34" in message
    for word in words:
        assert word in message


def test_narrowed_simplebaseline_cannot_load_imagenet() -> None:
    with pytest.raises(ConfigError, match="pretrained.*base_width"):
        validate_spec({**SPECS["simplebaseline_r50"], "base_width": 16}, "sb")
