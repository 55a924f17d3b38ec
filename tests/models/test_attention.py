"""Each attention module's defining property: DNA weights leave (0, 1) through their affine, rDNA's
pre-affine weights sum to 1 over resolutions, RAM weighs every output separately (the new branch
of a transition too, made from every branch), fine-to-coarse links make a branch depend on the
coarser one, the attention module touches only its branch, and the multi-branch heads read every
branch."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pose.errors import ConfigError
from pose.models import build_model
from pose.models.attention import (
    AttentionModule,
    ChannelGate,
    ResolutionWeights,
    SpatialGate,
    unit_attention,
)
from pose.models.hrnet import HighResolutionModule, NewBranchFusion

TINY = {
    "family": "hrnet", "num_joints": 3, "width": 8, "stem_width": 8, "stage1_blocks": 1,
    "stage_modules": [1, 1, 1], "stage_blocks": [1, 1, 1],
    "head": {"type": "simple", "final_kernel": 1},
}


def tiny(**keys: object) -> nn.Module:
    torch.manual_seed(0)
    return build_model({**TINY, **keys})


def _randomise(module: nn.Module) -> None:
    """Non-trivial weights (the official N(0, 0.001) init makes every gate ~0.5)."""
    torch.manual_seed(1)
    for p in module.parameters():
        nn.init.normal_(p, std=0.5)


@pytest.mark.parametrize("gate", [
    ChannelGate(16, 4, ("avg", "max"), relu=False, denormalize=True),
    SpatialGate(16, ("conv", "max", "avg"), (7,), denormalize=True),
])
def test_dna_weights_leave_the_unit_interval_through_the_affine(gate: nn.Module) -> None:
    x = torch.randn(2, 16, 12, 10)
    assert gate.weights(x).min() > 0 and gate.weights(x).max() < 1  # starts as the identity affine
    with torch.no_grad():
        gate.denormalize.weight.fill_(3.0)
        gate.denormalize.bias.fill_(0.2)
    w = gate.weights(x)
    assert w.max() > 1
    assert torch.allclose(gate(x), x * w)


def test_dna_affine_is_learned() -> None:
    gate = ChannelGate(8, 2, ("avg", "max"), relu=False, denormalize=True)
    gate(torch.randn(2, 8, 5, 5)).sum().backward()
    assert gate.denormalize.weight.grad is not None and gate.denormalize.weight.grad.abs() > 0
    assert gate.denormalize.bias.grad.abs() > 0


def test_conventional_gates_have_no_affine() -> None:
    gate = ChannelGate(8, 2, ("avg", "max"), relu=False, denormalize=False)
    assert not any("denormalize" in n for n, _ in gate.named_parameters())
    _randomise(gate)
    w = gate.weights(torch.randn(4, 8, 5, 5))
    assert (w > 0).all() and (w < 1).all() and w.std() > 0.05


def test_channel_gate_uses_both_pools_and_spatial_gate_is_per_position() -> None:
    gate = ChannelGate(8, 2, ("avg", "max"), relu=False, denormalize=True)
    assert len(gate.squeeze) == 2 and gate.excite.in_channels == 4
    _randomise(gate)
    x = torch.randn(1, 8, 6, 6)
    y = x.clone()
    y[..., 0, 0] += 50  # same mean shift is small, max changes a lot
    assert not torch.allclose(gate.weights(x), gate.weights(y))
    spatial = SpatialGate(8, ("conv", "max", "avg"), (7,), denormalize=True)
    assert spatial.weights(x).shape == (1, 1, 6, 6)


def test_unit_attention_order_and_squeeze() -> None:
    seq = unit_attention(["sdna", "cdna"], channels=64, reduction=16)
    assert isinstance(seq[0], SpatialGate) and isinstance(seq[1], ChannelGate)
    assert seq[1].squeeze[0].out_channels == 4
    assert unit_attention(["cdna"], 8, 16)[0].squeeze[0].out_channels == 1  # at least 1
    assert unit_attention([], 8, 16) is None


def test_resolution_weights_sum_to_one_before_the_affine() -> None:
    weights = ResolutionWeights(channels=8, num_inputs=3, affine="shared")
    _randomise(weights)
    with torch.no_grad():
        weights.denormalize.weight.fill_(2.5)
        weights.denormalize.bias.fill_(-0.1)
    terms = [torch.randn(4, 8, 6, 5) for _ in range(3)]
    soft = weights.softmax(terms)
    assert soft.shape == (4, 3)
    assert torch.allclose(soft.sum(1), torch.ones(4))
    assert torch.allclose(weights(terms), 2.5 * soft - 0.1)
    assert weights(terms).sum(1).sub(1).abs().max() > 0.1  # after the affine, no longer a simplex


def test_rdna_shares_weights_across_outputs_and_ram_weighs_each_output() -> None:
    rdna = HighResolutionModule([8, 16, 32], 1, True, fusion="rdna")
    ram = HighResolutionModule([8, 16, 32], 1, True, fusion="ram")
    assert len(rdna.fuse_weights) == 1
    assert len(ram.fuse_weights) == 3
    assert ram.fuse_weights[1].denormalize.weight.shape == (3,)  # omega_h^i per input
    plain = HighResolutionModule([8, 16, 32], 1, True, fusion="sum")
    assert not hasattr(plain, "fuse_weights")


def test_resolution_weighted_fusion_scales_each_input() -> None:
    """With the affine set to weight 0, bias c, the fusion is c times the plain sum."""
    torch.manual_seed(0)
    plain = HighResolutionModule([8, 16], 1, True, fusion="sum").eval()
    rdna = HighResolutionModule([8, 16], 1, True, fusion="rdna").eval()
    rdna.load_state_dict(plain.state_dict(), strict=False)
    with torch.no_grad():
        rdna.fuse_weights[0].denormalize.weight.fill_(0.0)
        rdna.fuse_weights[0].denormalize.bias.fill_(1.0)
    xs = [torch.randn(2, 8, 8, 6), torch.randn(2, 16, 4, 3)]
    for a, b in zip(plain(list(xs)), rdna(list(xs)), strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_fine_to_coarse_makes_a_branch_depend_on_the_coarser_one() -> None:
    xs = [torch.randn(1, 8, 8, 6), torch.randn(1, 16, 4, 3, requires_grad=True)]
    for f2c, depends in ((False, False), (True, True)):
        module = HighResolutionModule([8, 16], 2, True, fine_to_coarse=f2c)
        _randomise(module)
        top = module._run_branches(list(xs))[0]
        (grad,) = torch.autograd.grad(top.sum(), xs[1], allow_unused=True)
        assert (grad is not None and grad.abs().sum() > 0) == depends
    assert len(HighResolutionModule([8, 16, 32], 3, True, fine_to_coarse=True).fine_to_coarse) == 3


@pytest.mark.parametrize("site", [(2, 1), (3, 2), (4, 4)])
def test_attention_module_touches_only_its_branch(site: tuple[int, int]) -> None:
    model = tiny(stage_attention=[list(site)]).eval()
    seen: list[tuple[int, ...]] = []
    for module in model.modules():
        if isinstance(module, AttentionModule):
            module.register_forward_hook(lambda m, i, o: seen.append(tuple(i[0].shape[1:])))
    with torch.no_grad():
        model(torch.randn(1, 3, 128, 96))
    stage, branch = site
    channels, scale = TINY["width"] * 2 ** (branch - 1), 4 * 2 ** (branch - 1)
    assert seen == [(channels, 128 // scale, 96 // scale)]
    others = [m for m in model.modules() if isinstance(m, AttentionModule)]
    assert len(others) == 1


def test_attention_module_adds_its_output_to_the_input() -> None:
    am = AttentionModule(32)
    _randomise(am)
    x = torch.randn(2, 32, 6, 5)
    inner = am.spatial(am.channel(x))
    assert torch.allclose(am(x), x + inner)
    assert am.channel.squeeze[0].out_channels == 2  # C/16
    assert [m.kernel_size for m in am.spatial.encode if isinstance(m, nn.Conv2d)] == [(3, 3)] * 2


@pytest.mark.parametrize("head", [
    {"type": "pyramid", "deconv_kernel": 3, "final_kernel": 1},
    {"type": "pyramid", "deconv_kernel": 4, "final_kernel": 1},
    {"type": "rescale_sum", "final_kernel": 1},
])
def test_multi_branch_heads_read_every_branch(head: dict) -> None:
    model = tiny(head=head)
    assert model.stage4[-1].fuse_layers.__len__() == 4  # the last module fuses every output
    branch_outputs: list[torch.Tensor] = []

    def keep(_module: nn.Module, _inputs: object, outputs: list[torch.Tensor]) -> None:
        for t in outputs:
            t.retain_grad()
            branch_outputs.append(t)

    model.stage4.register_forward_hook(keep)
    model(torch.randn(1, 3, 64, 48)).sum().backward()
    assert len(branch_outputs) == 4
    assert all(t.grad is not None and t.grad.abs().sum() > 0 for t in branch_outputs)


def test_simple_head_reads_only_the_top_branch() -> None:
    model = tiny()
    assert len(model.stage4[-1].fuse_layers) == 1


@pytest.mark.parametrize(("keys", "words"), [
    ({"stage_attention": [[5, 1]]}, ["stage_attention[0]", "[5, 1]", "2..4"]),
    ({"stage_attention": [[2, 3]]}, ["stage_attention[0]", "branches 1..s"]),
    ({"stage_attention": [[2, 1], [2, 1]]}, ["stage_attention", "repeated"]),
    ({"unit_attention": ["cdna", "cdna"]}, ["unit_attention", "repeats"]),
    ({"unit_attention": ["cbam"]}, ["unit_attention[0]", "'cbam'", "sdna"]),
    ({"fusion": "concat"}, ["fusion", "'concat'", "rdna"]),
    ({"unit_attention_scope": "stage"}, ["unit_attention_scope", "branches"]),
    ({"transition_inputs": "every"}, ["transition_inputs", "'every'", "lowest"]),
    ({"head": {"type": "pyramid", "deconv_kernel": 5, "final_kernel": 1}},
     ["head.deconv_kernel", "5"]),
])
def test_bad_variant_keys_name_the_key(keys: dict, words: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        build_model({**TINY, **keys}, "params/models.yaml:variant")
    for word in ["params/models.yaml:variant", *words]:
        assert word in str(err.value)


def test_unit_attention_scope_chooses_which_units_are_gated() -> None:
    everywhere = tiny(unit_attention=["cdna"])
    branches_only = tiny(unit_attention=["cdna"], unit_attention_scope="branches")
    for model, stage1_gated in ((everywhere, True), (branches_only, False)):
        gated = [isinstance(b.attention, nn.Sequential) for b in model.layer1]
        assert all(g == stage1_gated for g in gated)
        assert all(isinstance(b.attention, nn.Sequential)
                   for branch in model.stage2[0].branches for b in branch)


def _new_branch_grads(model: nn.Module) -> list[bool]:
    """Whether stage 3's new (third) branch depends on each output of stage 2."""
    seen: dict[str, list[torch.Tensor]] = {}
    model.stage2.register_forward_hook(lambda m, i, o: seen.__setitem__("stage2", o))
    model.stage3.register_forward_pre_hook(lambda m, i: seen.__setitem__("stage3", i[0]))
    model(torch.randn(1, 3, 64, 48))
    grads = torch.autograd.grad(seen["stage3"][2].sum(), seen["stage2"], allow_unused=True)
    return [g is not None and g.abs().sum().item() > 0 for g in grads]


def test_transition_inputs_all_makes_the_new_branch_from_every_branch() -> None:
    """HRNet spawns a new branch from the lowest-resolution branch only; RAM's M -> M + 1
    reading brings every branch to the new resolution."""
    lowest, every = tiny(fusion="ram"), tiny(fusion="ram", transition_inputs="all")
    assert _new_branch_grads(lowest) == [False, True]
    assert _new_branch_grads(every) == [True, True]
    assert not hasattr(lowest, "new_branch2") and not hasattr(every, "new_branch1")  # M = 1
    assert hasattr(every, "new_branch2") and hasattr(every, "new_branch3")


def test_new_branch_fusion_maps_m_inputs_to_the_new_resolution() -> None:
    """Three inputs (8, 16, 32 channels) to a fourth branch of 64: HRNet's down-paths (k - 1
    stride-2 convs, the last to the new width) from branches 0 and 1, the transition conv's term
    from branch 2, RAM weights over the three terms (omega_h, beta_h per input)."""
    channels = [8, 16, 32, 64]
    fusion = NewBranchFusion(channels, "ram")
    assert [len(p) for p in fusion.paths] == [3, 2]
    assert fusion.paths[0][-1][0].out_channels == 64
    assert fusion.weights.denormalize.weight.shape == (3,)
    _randomise(fusion)
    xs = [torch.randn(2, c, 16 // 2**i, 12 // 2**i) for i, c in enumerate(channels[:3])]
    lowest = torch.randn(2, 64, 2, 2)  # the transition conv of the 4x3 branch 2
    out = fusion(xs, lowest)
    assert out.shape == (2, 64, 2, 2) and out.min() >= 0
    w = fusion.weights([fusion.paths[0](xs[0]), fusion.paths[1](xs[1]), lowest])
    expected = (w[:, 0, None, None, None] * fusion.paths[0](xs[0])
                + w[:, 1, None, None, None] * fusion.paths[1](xs[1])
                + w[:, 2, None, None, None] * lowest).relu()
    assert torch.allclose(out, expected, atol=1e-5)
    plain = NewBranchFusion(channels, "sum")
    assert not hasattr(plain, "weights")
    plain.load_state_dict(fusion.state_dict(), strict=False)
    summed = (plain.paths[0](xs[0]) + plain.paths[1](xs[1]) + lowest).relu()
    assert torch.allclose(plain(xs, lowest), summed, atol=1e-5)
    with pytest.raises(ValueError, match="two input branches"):
        NewBranchFusion([8, 16], "ram")


def test_transition_inputs_all_keeps_the_official_transition_names() -> None:
    """The lowest branch's term is HRNet's transition conv, under its official name (so the
    ImageNet file still initialises it); the other paths and weights are additions."""
    lowest = tiny(fusion="ram").state_dict()
    every = tiny(fusion="ram", transition_inputs="all").state_dict()
    assert all(every[k].shape == v.shape for k, v in lowest.items())
    added = sorted({k.split(".", 1)[0] for k in every if k not in lowest})
    assert added == ["new_branch2", "new_branch3"]


@pytest.mark.parametrize("name", ["ram_gpr_w32", "ram_gpr_w48", "ram_gpr_w32_no_ram_weights",
                                  "ram_gpr_w32_rescale_sum"])
def test_ram_gpr_models_add_exactly_the_new_branch_paths(name: str) -> None:
    """Each registered RAM + GPR model is its HRNet-transition counterpart plus, at the stage
    2 -> 3 and 3 -> 4 transitions, a down-path from every branch but the lowest (3x3 convs +
    BN) and, when the fusion is weighted, RAM's 1x1 score conv and (omega, beta) per input."""
    from pose.models.builder import load_model_specs

    spec = load_model_specs()[name]
    assert spec["transition_inputs"] == "all"
    weighted = spec.get("fusion", "sum") == "ram"
    width = spec["width"]
    expected = 0
    for m in (2, 3):  # input branches at the transitions that spawn branches 3 and 4
        new = width * 2**m
        for j in range(m - 1):
            c = width * 2**j
            expected += (m - j - 1) * (9 * c * c + 2 * c) + 9 * c * new + 2 * new
        expected += m * (new + 1) + 2 * m if weighted else 0
    counts = [sum(p.numel() for p in build_model(s).parameters())
              for s in (spec, {**spec, "transition_inputs": "lowest"})]
    assert counts[0] - counts[1] == expected
