"""The published HRNet / SimpleBaseline COCO weights load strictly by name: every state-dict
entry of the models they fit (BatchNorm buffers included) keeps its name, shape and order, as the
committed lists in tests/models/state_dicts/ record them (regenerate: tests/state_dict_names.py)."""

from __future__ import annotations

import pytest
from state_dict_names import LISTS, MODELS, state_dict_lines


@pytest.mark.parametrize("model", MODELS)
def test_state_dict_names_and_shapes_are_the_committed_ones(model: str) -> None:
    committed = (LISTS / f"{model}.txt").read_text(encoding="utf-8").splitlines()
    built = state_dict_lines(model)
    assert built == committed  # pytest names the first entry that differs


def test_the_lists_hold_every_kind_of_entry() -> None:
    """17 heatmaps, and BatchNorm's running statistics and counters, not only parameters."""
    for model in MODELS:
        lines = (LISTS / f"{model}.txt").read_text(encoding="utf-8").splitlines()
        assert lines[0] == ("conv1.weight 64x3x3x3" if model.startswith("hrnet")
                            else "conv1.weight 64x3x7x7")  # stride-2 stems: HRNet 3x3, ResNet 7x7
        assert any(line.endswith(".running_var 64") for line in lines)
        assert any(line.endswith(".num_batches_tracked scalar") for line in lines)
        assert lines[-2].startswith("final_layer.weight 17x") and lines[-1] == "final_layer.bias 17"
