"""DANet Fig. 6: how much each layer of a dense block draws on each earlier one.

Layer l of a dense block (l = 1..L) takes the concatenation of the block's input (source s = 0)
and the `growth` new channels of every earlier layer (s = 1..l-1) into its first (1x1
bottleneck) conv. Pixel (s, l) is the mean absolute weight of that conv over the input channels
that come from source s: the "average L1 norm of weights connecting layer s to l" of the
paper's caption (DenseNet's Fig. 5 convention). It is read from the trained state dict alone,
by name and shape: any dense backbone of this project (DANet, the single-pyramid DenseNets, the
ImageNet DenseNets) has `...blocks.<b>.<l>.bottleneck.<i>.weight`.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

BOTTLENECK = re.compile(r"(?:^|\.)blocks\.(\d+)\.(\d+)\.bottleneck\.\d+\.weight$")


def dense_blocks(state: dict[str, torch.Tensor]) -> list[list[torch.Tensor]]:
    """Per dense block, its layers' bottleneck conv weights (out, in, 1, 1) in layer order."""
    blocks: dict[int, dict[int, torch.Tensor]] = {}
    for name, tensor in state.items():
        match = BOTTLENECK.search(name)
        if match and tensor.dim() == 4:
            blocks.setdefault(int(match[1]), {})[int(match[2])] = tensor
    return [[layers[i] for i in sorted(layers)] for _, layers in sorted(blocks.items())]


def connection_matrix(layers: list[torch.Tensor]) -> np.ndarray:
    """(L, L) matrix, [s, l-1] = mean |w| of layer l's bottleneck over source s's channels;
    NaN where s >= l (no such connection). Growth = the channels each layer adds."""
    widths = [w.shape[1] for w in layers]
    first = widths[0]
    growth = widths[1] - widths[0] if len(widths) > 1 else 0
    if any(w != first + i * growth for i, w in enumerate(widths)):
        raise ValueError(f"not a dense block: input widths {widths}")
    size = len(layers)
    out = np.full((size, size), np.nan)
    for l_index, weight in enumerate(layers):
        absolute = weight.detach().abs().float()
        for s in range(l_index + 1):
            lo = 0 if s == 0 else first + (s - 1) * growth
            hi = first if s == 0 else lo + growth
            out[s, l_index] = float(absolute[:, lo:hi].mean())
    return out


def weight_matrices(path: Path) -> list[np.ndarray]:
    """Every dense block's connection matrix of a trained model.pth."""
    from pose.engine.state_dict import read_plain_state_dict

    return [connection_matrix(layers) for layers in dense_blocks(read_plain_state_dict(path))]


def draw_dense_weights(panels: dict[str, list[np.ndarray] | str], title: str) -> Figure:
    """One row per model, one heat map per dense block; a panel given as text is a note (not
    trained at this scale)."""
    columns = max((len(v) for v in panels.values() if not isinstance(v, str)), default=1)
    fig = Figure(figsize=(3.0 * columns + 0.6, 2.9 * len(panels) + 0.8), layout="constrained")
    axes = fig.subplots(len(panels), columns, squeeze=False)
    for row, (name, value) in enumerate(panels.items()):
        for col in range(columns):
            ax = axes[row][col]
            if isinstance(value, str) or col >= len(value):
                ax.set_axis_off()
                if col == 0:
                    ax.text(0.0, 0.5, f"{name}\n{value if isinstance(value, str) else ''}",
                            fontsize=9, va="center", wrap=True)
                continue
            matrix = value[col]
            image = ax.imshow(matrix, cmap="viridis", origin="upper", aspect="auto",
                              interpolation="nearest",
                              extent=(0.5, matrix.shape[1] + 0.5, matrix.shape[0] - 0.5, -0.5))
            ax.set_title(f"{name}\ndense block {col + 1}" if col == 0 else f"dense block {col + 1}",
                         fontsize=8)
            ax.set_xlabel("target layer l", fontsize=8)
            if col == 0:
                ax.set_ylabel("source layer s (0: block input)", fontsize=8)
            ax.tick_params(labelsize=7)
            fig.colorbar(image, ax=ax, shrink=0.8).ax.tick_params(labelsize=7)
    fig.suptitle(title, fontsize=9)
    return fig
