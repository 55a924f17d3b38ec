"""ImageNet initialisation of HRNet and its variants from an HRNet-Image-Classification state dict:
the plain trunk loads strictly by name and shape, the classification head and the last module's
extra fuse layers are dropped by name, the variants' additions and the pose head keep their
initialisation, and a file that does not fit names the file and the keys."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from pose.config import load_registry
from pose.errors import ConfigError
from pose.models import build_model, load_model_specs, validate_spec
from pose.models.pretrained import load_pretrained
from pose.spec import deep_merge

PARAMS_DIR = Path(__file__).resolve().parents[2] / "params"
SPECS = load_model_specs(PARAMS_DIR / "models.yaml")

# The official pose_hrnet's PRETRAINED_LAYERS, written out independently of the loader.
PRETRAINED_LAYERS = ("conv1", "bn1", "conv2", "bn2", "layer1", "transition1", "stage2",
                     "transition2", "stage3", "transition3", "stage4")
# A narrow plain HRNet; stage 4 has two modules, so only the second one's fuse layers differ
# between the classification network and the pose network.
TRUNK = {"width": 4, "stem_width": 8, "stage1_blocks": 1, "stage_modules": [1, 1, 2],
         "stage_blocks": [1, 1, 1]}
SMALL = {"family": "hrnet", "num_joints": 3, **TRUNK, "head": {"type": "simple", "final_kernel": 1}}
# HRNet-Image-Classification's head, at toy sizes: dropped whatever it holds.
CLASSIFIER = {
    "incre_modules.0.0.conv1.weight": (8, 4, 1, 1),
    "incre_modules.0.0.bn1.running_var": (8,),
    "downsamp_modules.0.0.weight": (16, 8, 3, 3),
    "downsamp_modules.0.1.bias": (16,),
    "final_layer.0.weight": (64, 32, 1, 1),
    "final_layer.1.weight": (64,),
    "classifier.weight": (10, 64),
    "classifier.bias": (10,),
}


def _conv_bn(out: dict[str, torch.Tensor], name: str, c_out: int, c_in: int, k: int) -> None:
    out[f"{name}.0.weight"] = torch.randn(c_out, c_in, k, k)
    for field in ("weight", "bias", "running_mean"):
        out[f"{name}.1.{field}"] = torch.randn(c_out)
    out[f"{name}.1.running_var"] = torch.rand(c_out) + 0.5
    out[f"{name}.1.num_batches_tracked"] = torch.tensor(7)


def classification_fuse_layers(spec: dict) -> dict[str, torch.Tensor]:
    """The last stage-4 module's fuse layers towards branches 2..4, named and shaped as the
    classification network's multi-scale fuse layers are: from a lower resolution a 1x1 conv +
    BN, from a higher one a chain of stride-2 3x3 conv + BN (the last to the target's width)."""
    widths = [spec["width"] * 2**b for b in range(4)]
    last = f"stage4.{spec['stage_modules'][-1] - 1}"
    out: dict[str, torch.Tensor] = {}
    for i in range(1, 4):
        for j in range(4):
            if j > i:
                _conv_bn(out, f"{last}.fuse_layers.{i}.{j}", widths[i], widths[j], 1)
            for k in range(i - j):
                c_out = widths[i] if k == i - j - 1 else widths[j]
                _conv_bn(out, f"{last}.fuse_layers.{i}.{j}.{k}", c_out, widths[j], 3)
    return out


def classification_state(spec: dict, seed: int = 0) -> dict[str, torch.Tensor]:
    """A file in the classification layout for the plain HRNet of `spec`'s trunk: its trunk
    entries (random values), the extra fuse layers, then the classification head."""
    torch.manual_seed(seed)
    plain = build_model({**SMALL, **{k: spec[k] for k in TRUNK}})
    state = {
        k: (torch.randint(0, 99, v.shape) if v.dtype == torch.long else torch.randn(v.shape))
        for k, v in plain.state_dict().items() if k.split(".")[0] in PRETRAINED_LAYERS
    }
    state.update(classification_fuse_layers(spec))
    state.update({k: torch.randn(shape) for k, shape in CLASSIFIER.items()})
    return state


def save(tmp_path: Path, state: dict[str, torch.Tensor], name: str = "hrnet_w4-test.pth") -> Path:
    path = tmp_path / name
    torch.save(state, path)
    return path


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_same(a: torch.Tensor, b: torch.Tensor) -> None:
    torch.testing.assert_close(a, b, rtol=0, atol=0)


# --------------------------------------------------------------------------- plain HRNet


def test_classification_file_loads_exactly(tmp_path: Path) -> None:
    source = classification_state(SMALL)
    path = save(tmp_path, source)
    model = build_model(SMALL)
    before = snapshot(model)
    assert not torch.equal(before["conv1.weight"], source["conv1.weight"])

    dropped = load_pretrained(model, path)

    extra_fuse = list(classification_fuse_layers(SMALL))
    assert dropped == extra_fuse + list(CLASSIFIER)  # in file order, named one by one
    state = model.state_dict()
    loaded = [k for k in source if k not in dropped]
    assert set(state) - set(loaded) == {"final_layer.weight", "final_layer.bias"}
    for key in loaded:
        assert_same(state[key], source[key])
    for key in ("final_layer.weight", "final_layer.bias"):  # the pose head keeps its init
        assert_same(state[key], before[key])


def test_pose_final_layer_is_never_read_from_the_file(tmp_path: Path) -> None:
    """Even a `final_layer` entry of exactly the pose head's shape stays in the file."""
    source = classification_state(SMALL)
    source["final_layer.weight"] = torch.randn(3, 4, 1, 1)
    source["final_layer.bias"] = torch.randn(3)
    model = build_model(SMALL)
    before = snapshot(model)
    dropped = load_pretrained(model, save(tmp_path, source))
    assert {"final_layer.weight", "final_layer.bias"} <= set(dropped)
    assert_same(model.final_layer.weight, before["final_layer.weight"])
    assert_same(model.final_layer.bias, before["final_layer.bias"])


def test_files_without_bn_counters_load(tmp_path: Path) -> None:
    source = {k: v for k, v in classification_state(SMALL).items()
              if not k.endswith("num_batches_tracked")}
    model = build_model(SMALL)
    load_pretrained(model, save(tmp_path, source))
    assert_same(model.state_dict()["stage3.0.branches.2.0.conv2.weight"],
                source["stage3.0.branches.2.0.conv2.weight"])


# --------------------------------------------------------------------------- variants

VARIANTS = {
    "dna_gates_rdna_f2c": {"unit_attention": ["cdna", "sdna"], "fusion": "rdna",
                           "fine_to_coarse": True, "channel_reduction": 2},
    "attention_modules": {"stage_attention": [[2, 1], [3, 2], [4, 4]], "channel_reduction": 2},
    "ram_gpr": {"fusion": "ram", "transition_inputs": "all",
                "head": {"type": "pyramid", "deconv_kernel": 4, "final_kernel": 1}},
}
# Where each variant's additions live in the state dict.
ADDITIONS = {
    "dna_gates_rdna_f2c": (".attention.", ".fuse_weights.", ".fine_to_coarse."),
    "attention_modules": ("attention2.", "attention3.", "attention4."),
    "ram_gpr": (".fuse_weights.", "new_branch"),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variant_loads_the_hrnet_part_and_keeps_its_additions(tmp_path: Path, name: str) -> None:
    spec = deep_merge(SMALL, VARIANTS[name])
    source = classification_state(SMALL)
    model = build_model(spec)
    before = snapshot(model)

    dropped = load_pretrained(model, save(tmp_path, source))

    state = model.state_dict()
    additions = [k for k in state if k not in source]
    assert all(k.startswith("final_layer.") or any(a in k for a in ADDITIONS[name])
               for k in additions), additions
    for marker in ADDITIONS[name]:
        assert any(marker in k for k in additions), f"{name}: no addition under {marker}"
    for key in additions:  # gates, fusion weights, links, modules, head: their own init
        assert_same(state[key], before[key])
    for key in source:
        if key not in dropped:
            assert_same(state[key], source[key])
    extra_fuse = set(classification_fuse_layers(SMALL))
    if spec["head"]["type"] == "pyramid":  # the head reads every branch: the last module keeps
        assert extra_fuse <= set(state) and not extra_fuse & set(dropped)  # them, as the file
    else:
        assert extra_fuse <= set(dropped)
    assert set(CLASSIFIER) <= set(dropped)


@pytest.mark.parametrize("name", sorted(n for n, s in SPECS.items() if s["family"] == "hrnet"))
def test_every_hrnet_model_of_the_zoo_takes_its_plain_trunk(tmp_path: Path, name: str) -> None:
    """Every registered HRNet variant, narrowed, holds the plain HRNet's trunk unchanged."""
    spec = deep_merge(SPECS[name], {**TRUNK, "channel_reduction": 2})
    source = classification_state(spec)
    model = build_model(spec)
    dropped = load_pretrained(model, save(tmp_path, source))
    state = model.state_dict()
    assert set(dropped) <= set(CLASSIFIER) | set(classification_fuse_layers(spec))
    assert all(torch.equal(state[k], source[k]) for k in source if k not in dropped)


def test_a_variant_that_changes_the_trunk_is_refused(tmp_path: Path) -> None:
    """A module that reshapes a plain trunk entry cannot take the ImageNet weights."""
    model = build_model(SMALL)
    model.stage2[0].branches[1][0].conv2 = nn.Conv2d(8, 8, 1, bias=False)
    path = save(tmp_path, classification_state(SMALL))
    with pytest.raises(ConfigError) as err:
        load_pretrained(model, path)
    message = str(err.value)
    assert str(path) in message and "stage2.0.branches.1.0.conv2.weight" in message
    assert "pretrained: null" in message


# --------------------------------------------------------------------------- mismatches


@pytest.mark.parametrize(("key", "value", "words"), [
    ("stage3.0.branches.2.0.conv2.weight", None, ["missing keys"]),
    ("stage4.1.fuse_layers.0.3.0.weight", None, ["missing keys"]),  # the pose network's fusion
    ("stage5.0.branches.0.0.conv1.weight", torch.zeros(1), ["unexpected keys"]),
    ("stage2.0.fine_to_coarse.0.0.0.weight", torch.zeros(4, 8, 1, 1), ["unexpected keys"]),
    ("transition1.0.0.weight", torch.zeros(4, 32, 1, 1),
     ["shape mismatches", "(4, 32, 1, 1)", "(4, 32, 3, 3)"]),
    ("stage4.1.fuse_layers.2.0.1.0.weight", torch.zeros(16, 4, 1, 1),
     ["shape mismatches", "(16, 4, 1, 1)", "(16, 4, 3, 3)"]),
], ids=["missing", "missing-fusion", "extra", "variant-key", "shape", "extra-fuse-shape"])
def test_mismatch_names_key_and_file(
    tmp_path: Path, key: str, value: torch.Tensor | None, words: list[str]
) -> None:
    source = classification_state(SMALL)
    if value is None:
        del source[key]
    else:
        assert key not in source or source[key].shape != value.shape
        source[key] = value
    path = save(tmp_path, source)
    model = build_model(SMALL)
    before = snapshot(model)
    with pytest.raises(ConfigError) as err:
        load_pretrained(model, path)
    message = str(err.value)
    assert str(path) in message and key in message and "HRNet" in message
    for word in words:
        assert word in message
    for name, tensor in model.state_dict().items():  # nothing half-loaded
        assert_same(tensor, before[name])


def test_file_of_another_width_is_refused(tmp_path: Path) -> None:
    path = save(tmp_path, classification_state({**SMALL, "width": 8}), "hrnet_w8-test.pth")
    with pytest.raises(ConfigError, match=r"shape mismatches: .*width 4"):
        load_pretrained(build_model(SMALL), path)


def test_missing_file_names_path_and_fetch(tmp_path: Path) -> None:
    path = tmp_path / "data" / "pretrained" / "hrnet" / "hrnet_w32-36af842e.pth"
    with pytest.raises(ConfigError) as err:
        load_pretrained(build_model(SMALL), path)
    assert str(path) in str(err.value) and "pose fetch" in str(err.value)


# --------------------------------------------------------------------------- registry


def test_registry_points_hrnet_models_at_their_width_and_smoke_at_none() -> None:
    reg = load_registry(PARAMS_DIR, check_pipeline=False)
    for exp, width in (("hrnet_w32_256x192", 32), ("hrnet_w48_256x192", 48),
                       ("dnanet_w32_256x192", 32), ("ram_gpr_w32_256x192", 32),
                       ("hrnet_am_w32_256x192", 32)):
        full = reg.resolve(exp, "full").model_spec
        assert full["width"] == width
        assert full["pretrained"].startswith(f"data/pretrained/hrnet/hrnet_w{width}-")
        assert reg.resolve(exp, "smoke").model_spec["pretrained"] is None
    assert SPECS["hrnet_w16"]["pretrained"] is None
    resnet = [s["pretrained"] for s in SPECS.values() if s["family"] in ("simplebaseline", "frsbn")]
    assert resnet and all(p.startswith("data/pretrained/resnet/resnet") for p in resnet)


def test_empty_pretrained_path_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"hrnet_x\.pretrained"):
        validate_spec({**SMALL, "pretrained": ""}, "hrnet_x")
    build_model({**SMALL, "pretrained": "data/pretrained/hrnet/absent.pth"})  # never read here


def test_trainer_loads_the_hrnet_trunk(tiny_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    from pose.engine import trainer

    exp = load_registry("params").resolve("hrnet_w32_256x192", "tiny")
    source = classification_state({**SMALL, **{k: exp.model_spec[k] for k in TRUNK}})
    path = save(tiny_project, source)
    exp = replace(exp, model_spec={**exp.model_spec, "pretrained": str(path)})
    seen = []

    class Loaded(Exception):
        pass

    def loaded(model: nn.Module, file: str) -> list[str]:
        seen.append((load_pretrained(model, file), model.state_dict()["conv1.weight"].clone()))
        raise Loaded

    monkeypatch.setattr(trainer, "load_pretrained", loaded)
    with pytest.raises(Loaded):
        trainer.train_experiment(exp, progress=False)
    dropped, weight = seen[0]
    assert set(CLASSIFIER) <= set(dropped)
    assert_same(weight, source["conv1.weight"])
