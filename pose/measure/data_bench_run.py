"""One timing of the training data path, run as a script in a fresh process by `pose bench-data`.

`python -P data_bench_run.py SPEC.json` imports the `pose` package found under SPEC's `root`
(this checkout, or a `git worktree` of an earlier commit for `--compare-with`), so the same
driver times two implementations on the same samples. It therefore uses only interfaces that
earlier commits have too (load_registry, Registry.resolve, build_dataset, build_codec,
load_instances, TopDownDataset, EpochSampler, train_loader) and imports nothing else of this
module's neighbours. It writes its record as JSON to SPEC's `out`.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any


def resolve(registry: Any, name: str, scale: str, input_hw: list[int] | None) -> tuple[Any, str]:
    """An experiment at the scale, or a recipe: the first experiment training with it, at that
    experiment's paper input size. Returns the experiment and which of the two `name` was."""
    from dataclasses import replace

    from pose.errors import ConfigError

    if name in registry.experiments:
        exp, kind = registry.resolve(name, scale), "experiment"
    elif name in registry.recipes:
        users = [e for e, spec in registry.experiments.items() if spec.recipe == name]
        if not users:
            raise ConfigError(f"bench-data: no experiment of experiments.yaml uses recipe "
                              f"{name!r}, so it has no dataset or input size")
        exp = registry.resolve(users[0], scale)
        exp, kind = replace(exp, input_hw=exp.paper_input), "recipe"
    else:
        raise ConfigError(f"bench-data: {name!r} is neither an experiment nor a recipe; known "
                          "recipes: " + ", ".join(sorted(registry.recipes)))
    if input_hw is not None:
        exp = replace(exp, input_hw=tuple(input_hw))
    return exp, kind


def build(spec: dict) -> tuple[Any, Any, str, str]:
    """The training dataset of the spec: the experiment's, or the COCO-format folder given."""
    from pose.config import load_registry
    from pose.experiment_data import build_codec, build_dataset

    registry = load_registry(Path(spec["params"]))
    exp, kind = resolve(registry, spec["name"], spec["scale"], spec.get("input_hw"))
    if spec.get("annotations"):
        from pose.data.coco import load_instances
        from pose.data.dataset import TopDownDataset

        h, w = exp.input_hw
        instances = load_instances(Path(spec["annotations"]), Path(spec["images"]), boxes="gt",
                                   aspect_ratio=w / h)
        dataset = TopDownDataset(instances, build_codec(exp), train=True,
                                 augment=exp.recipe.augment, seed=exp.seed,
                                 keypoints=exp.keypoints)
        source = str(spec["annotations"])
    else:
        dataset = build_dataset(exp, "train")
        source = exp.dataset_name
    for key, value in spec.get("options", {}).items():
        if not hasattr(dataset, key):
            raise SystemExit(f"bench-data: the implementation at {spec['root']} has no dataset "
                             f"option {key!r}")
        setattr(dataset, key, Path(value) if key == "decode_cache" else value)
    if spec.get("options", {}).get("decode_cache"):
        # Steady state: every image decoded into the cache before the timing, as after the
        # first epoch of a training.
        from pose.data.dataset import cached_bgr

        for path in dict.fromkeys(inst.image_path for inst in dataset.instances):
            cached_bgr(path, dataset.decode_cache)
    return exp, dataset, kind, source


def keys(dataset: Any, seed: int, batch: int, count: int) -> list[tuple[int, int]]:
    """The first `count` (epoch, index) keys of training's order, over as many epochs as
    needed."""
    from pose.engine.sampler import EpochSampler

    sampler = EpochSampler(len(dataset), seed, batch)
    out: list[tuple[int, int]] = []
    epoch = 0
    while len(out) < count:
        sampler.set_epoch(epoch)
        out += list(sampler)
        epoch += 1
    return out[:count]


def dump(dataset: Any, chosen: list[tuple[int, int]], path: Path) -> None:
    """The samples of `chosen`, for the comparison of two implementations."""
    import numpy as np

    arrays: dict[str, Any] = {}
    for i, key in enumerate(chosen):
        sample = dataset[key]
        arrays[f"{i}/image"] = sample["image"].numpy()
        arrays[f"{i}/target"] = sample["target"].numpy()
        arrays[f"{i}/target_weight"] = sample["target_weight"].numpy()
        for name, value in sample["meta"].items():
            arrays[f"{i}/meta/{name}"] = np.asarray(value)
    np.savez(path, **arrays)


def run(spec: dict) -> dict:
    """Time the trainer's loader over spec['samples'] samples after one untimed batch."""
    sys.path.insert(0, spec["root"])
    import cv2
    import torch

    import pose
    from pose.engine.step import train_loader

    # As the trainer's loader workers (pose.engine.step._worker_init): one thread each, so that
    # with --workers 0 the timed process is one core.
    torch.set_num_threads(1)
    cv2.setNumThreads(0)
    exp, dataset, kind, source = build(spec)
    batch = spec["batch"] or max(1, exp.recipe.batch_size // exp.gpus)
    timed = spec["samples"]
    chosen = keys(dataset, exp.seed, batch, batch + timed)
    if spec.get("dump"):
        dump(dataset, chosen[batch:batch + spec["dump_count"]], Path(spec["dump"]))
    loader = train_loader(dataset, chosen, batch, spec["workers"], torch.device("cpu"))
    batches = iter(loader)
    next(batches)  # untimed: workers start, first reads warm the file cache
    count = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for data in batches:
        count += len(data["image"])
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {
        "pose": str(Path(pose.__file__).resolve().parent),
        "experiment": exp.name,
        "kind": kind,
        "dataset": source,
        "input": f"{exp.input_hw[0]}x{exp.input_hw[1]}",
        "batch": batch,
        "samples": count,
        "seconds": wall,
        "cpu_seconds": cpu,
        "train_samples": len(dataset),
    }


if __name__ == "__main__":
    spec = json.loads(Path(sys.argv[1]).read_text())
    Path(spec["out"]).write_text(json.dumps(run(spec)))
