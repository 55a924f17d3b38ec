"""DANet Fig. 6: how much each layer of a dense block draws on each earlier one.

Layer l of a dense block (l = 1..L) takes the concatenation of the block's input (source s = 0)
and the `growth` new channels of every earlier layer (s = 1..l-1) into its first (1x1
bottleneck) conv. Pixel (s, l) is the mean absolute weight of that conv over the input channels
that come from source s: the "average L1 norm of weights connecting layer s to l" of the
paper's caption (DenseNet's Fig. 5 convention). As there, the block's transition (a 1x1 conv
reading all L + 1 sources) is a last target column "T", and each target's column is divided by
its largest value, so a pixel says how much of that layer's attention goes to source s. It is
read from the trained state dict alone, by name and shape: any dense backbone of this project
(DANet, the single-pyramid DenseNets, the ImageNet DenseNets) has
`...blocks.<b>.<l>.bottleneck.<i>.weight` and `...transitions.<b>.<i>.weight`.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from pose.report.figures.text import wrapped

BOTTLENECK = re.compile(r"(?:^|\.)blocks\.(\d+)\.(\d+)\.bottleneck\.\d+\.weight$")
TRANSITION = re.compile(r"(?:^|\.)transitions\.(\d+)\.\d+\.weight$")


def dense_blocks(state: dict[str, torch.Tensor]) -> list[list[torch.Tensor]]:
    """Per dense block, its layers' bottleneck conv weights (out, in, 1, 1) in layer order."""
    blocks: dict[int, dict[int, torch.Tensor]] = {}
    for name, tensor in state.items():
        match = BOTTLENECK.search(name)
        if match and tensor.dim() == 4:
            blocks.setdefault(int(match[1]), {})[int(match[2])] = tensor
    return [[layers[i] for i in sorted(layers)] for _, layers in sorted(blocks.items())]


def block_transitions(state: dict[str, torch.Tensor]) -> dict[int, torch.Tensor]:
    """{block index: its transition's 1x1 conv weight}, for the blocks whose transition has one
    (the last block of an ImageNet DenseNet ends in BN-ReLU only)."""
    return {int(m[1]): t for name, t in state.items()
            if (m := TRANSITION.search(name)) and t.dim() == 4}


def connection_matrix(layers: list[torch.Tensor], transition: torch.Tensor | None = None,
                      normalise: bool = True) -> np.ndarray:
    """Rows: source s = 0 (the block input) .. L (layer L's output); columns: target layer
    l = 1 .. L, then the transition when given (it reads every source). [s, l-1] = mean |w|
    of layer l's bottleneck conv over the input channels of source s; NaN where s > l - 1 (no
    such connection). `normalise`: each column divided by its largest value (DenseNet's
    Fig. 5). Shape (L + 1, L), or (L + 1, L + 1) with the transition."""
    widths = [w.shape[1] for w in layers]
    first = widths[0]
    growth = widths[1] - widths[0] if len(widths) > 1 else 0
    if any(w != first + i * growth for i, w in enumerate(widths)):
        raise ValueError(f"not a dense block: input widths {widths}")
    size = len(layers)
    targets = list(layers)
    if transition is not None:
        if transition.shape[1] != first + size * growth:
            raise ValueError(f"transition reads {transition.shape[1]} channels, the block gives "
                             f"{first + size * growth}")
        targets.append(transition)
    out = np.full((size + 1, len(targets)), np.nan)
    for column, weight in enumerate(targets):
        absolute = weight.detach().abs().float()
        for s in range(column + 1):
            lo = 0 if s == 0 else first + (s - 1) * growth
            hi = first if s == 0 else lo + growth
            out[s, column] = float(absolute[:, lo:hi].mean())
        peak = np.nanmax(out[:, column])
        if normalise and peak > 0:
            out[:, column] /= peak
    return out


def state_matrices(state: dict[str, torch.Tensor]) -> list[np.ndarray]:
    """Every dense block's connection matrix (with its transition column) of a state dict."""
    transitions = block_transitions(state)
    out = []
    for index, layers in enumerate(dense_blocks(state)):
        transition = transitions.get(index)
        expected = layers[0].shape[1] + len(layers) * (
            layers[1].shape[1] - layers[0].shape[1] if len(layers) > 1 else 0)
        if transition is not None and transition.shape[1] != expected:
            transition = None  # not this block's reader (a model of another layout)
        out.append(connection_matrix(layers, transition))
    return out


def weight_matrices(path: Path) -> list[np.ndarray]:
    """Every dense block's connection matrix of a trained model.pth."""
    from pose.engine.state_dict import read_plain_state_dict

    return state_matrices(read_plain_state_dict(path))


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
            layers = matrix.shape[0] - 1
            image = ax.imshow(matrix, cmap="viridis", origin="upper", aspect="auto",
                              interpolation="nearest", vmin=0.0, vmax=1.0,
                              extent=(0.5, matrix.shape[1] + 0.5, matrix.shape[0] - 0.5, -0.5))
            ticks = list(range(1, matrix.shape[1] + 1))
            ax.set_xticks(ticks, [str(t) if t <= layers else "T" for t in ticks])
            ax.set_yticks(range(matrix.shape[0]))
            ax.set_title(f"{name}\ndense block {col + 1}" if col == 0 else f"dense block {col + 1}",
                         fontsize=8)
            ax.set_xlabel("target layer l (T: transition)", fontsize=8)
            if col == 0:
                ax.set_ylabel("source layer s (0: block input)", fontsize=8)
            ax.tick_params(labelsize=7)
            fig.colorbar(image, ax=ax, shrink=0.8).ax.tick_params(labelsize=7)
    fig.suptitle(wrapped(title, fig.get_figwidth(), 9), fontsize=9)
    return fig
