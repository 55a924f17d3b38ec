"""The state-dict key names and shapes of the models the published HRNet / SimpleBaseline COCO
weights load into (params/official_weights.yaml), as committed lists in
tests/models/state_dicts/<model>.txt.

The lists were written once from the models, which match the official code's definitions; the
test compares against them, so a change to a module that renames or reshapes an entry fails
before a published file refuses to load. After a deliberate change, regenerate them:

    .venv/bin/python tests/state_dict_names.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
LISTS = Path(__file__).resolve().parent / "models" / "state_dicts"
MODELS = ("hrnet_w32", "hrnet_w48", "simplebaseline_r50", "simplebaseline_r101",
          "simplebaseline_r152")


def state_dict_lines(model: str) -> list[str]:
    """`name shape` per entry (BatchNorm buffers included), in the model's order; the paper-size
    spec of the registry with COCO's 17 joints, built on the meta device (no memory)."""
    from pose.models import build_model, load_model_specs

    spec = {**load_model_specs(ROOT / "params" / "models.yaml")[model], "num_joints": 17}
    with torch.device("meta"):
        state = build_model(spec, model).state_dict()
    return [f"{k} {'x'.join(map(str, v.shape)) or 'scalar'}" for k, v in state.items()]


def main() -> int:
    LISTS.mkdir(exist_ok=True)
    for model in MODELS:
        lines = state_dict_lines(model)
        (LISTS / f"{model}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"{LISTS / model}.txt: {len(lines)} entries")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
