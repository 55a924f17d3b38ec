"""Model size and cost in two conventions: the papers' "GFLOPs" (the official HRNet
get_model_summary, which tables such as HRNet's and SimpleBaseline's quote) and true
multiply-adds, so reproduced tables can match the papers and still state the real cost."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from pose.models import build_model

_COUNTED = (nn.modules.conv._ConvNd, nn.Linear)


def count_params(model: nn.Module) -> int:
    """All parameters, trainable or not (what the papers' #Params column counts)."""
    return sum(p.numel() for p in model.parameters())


def _paper_cost(module: nn.Module, output: torch.Tensor) -> int:
    """weight.numel() x output positions: bias ignored, and a transposed conv is charged at its
    output resolution (stride**2 times its real multiply-adds), as the official summary does."""
    if isinstance(module, nn.Linear):
        return module.weight.numel() * (output.numel() // output.shape[-1])
    return module.weight.numel() * math.prod(output.shape[2:])


def _profile(model: nn.Module, input_hw: tuple[int, int]) -> tuple[int, int]:
    """(paper-convention multiply-adds, FlopCounterMode FLOPs) from one batch-1 eval forward."""
    paper = 0

    def hook(module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
        nonlocal paper
        paper += _paper_cost(module, output)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, _COUNTED)]
    param = next(model.parameters())
    x = torch.zeros(1, 3, *input_hw, dtype=param.dtype, device=param.device)
    was_training = model.training
    model.eval()  # keep BN running statistics untouched
    try:
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            model(x)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return paper, counter.get_total_flops()


def gflops_paper(model: nn.Module, input_hw: tuple[int, int]) -> float:
    """Paper-convention GFLOPs: conv/linear weight.numel() x output positions, / 1024**3."""
    return _profile(model, input_hw)[0] / 1024**3


def gmacs(model: nn.Module, input_hw: tuple[int, int]) -> float:
    """True multiply-adds in units of 1e9 (FlopCounterMode counts 2 FLOPs per MAC)."""
    return _profile(model, input_hw)[1] / 2 / 1e9


def measure_complexity(spec: Mapping[str, Any], name: str, input_hw: tuple[int, int]) -> dict:
    """One row of a complexity table for model `name` at input (H, W)."""
    model = build_model(spec, name)
    paper, flops = _profile(model, input_hw)
    return {
        "model": name,
        "input": f"{input_hw[0]}x{input_hw[1]}",
        "params": count_params(model),
        "gflops_paper": paper / 1024**3,
        "gmacs": flops / 2 / 1e9,
    }
