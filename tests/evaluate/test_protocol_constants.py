"""The test protocol each recipe of params/recipes.yaml relies on, read from the resolved
experiments at full scale: flip test, detection boxes, rescoring's joint-confidence threshold,
OKS-NMS, the heatmap decoding (blur, sub-pixel offset), the flip shift and the loss.

One test per recipe; every experiment of the recipe is checked. The flip shift is asserted
where it is decided (`needs_flip_shift` of the experiment's codec), for every experiment."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pose.config import ResolvedExperiment, load_registry
from pose.engine.losses import JointsMSELoss, JointsOHKMMSELoss, build_loss
from pose.evaluate.inference import needs_flip_shift
from pose.experiment_data import build_codec, protocol_boxes

ROOT = Path(__file__).resolve().parents[2]
SCALE = "full"

# the tests below, by recipe (test_every_recipe_has_its_protocol_test keeps it complete)
PINNED = {"hrnet", "hrnet_w48_384x288", "simplebaseline", "dnanet", "ram_gpr",
          "ram_gpr_no_cutout", "hrnet_am", "danet", "danet_mpii", "frsbn", "densenet_imagenet"}


@pytest.fixture(scope="module")
def registry():  # noqa: ANN201
    return load_registry(ROOT / "params", check_pipeline=False)


def _experiments(registry, recipe: str) -> list[ResolvedExperiment]:  # noqa: ANN001
    names = [n for n, e in registry.experiments.items() if e.recipe == recipe]
    assert names, f"no experiment uses recipe {recipe!r}"
    return [registry.resolve(n, SCALE) for n in names]


def _assert_official_protocol(exp: ResolvedExperiment) -> None:
    """HRNet's / SimpleBaseline's test protocol: flip test, the person detector's boxes (all
    of them), instance rescoring by the joints above 0.2, OKS-NMS at 0.9."""
    test = exp.recipe.test
    assert test.flip_test is True, exp.name
    assert test.boxes == "detections", exp.name
    assert protocol_boxes(exp, None) == "detections", exp.name
    assert test.det_score_thresh == 0.0, exp.name
    assert test.in_vis_thre == 0.2, exp.name
    assert test.oks_thre == 0.9, exp.name


def _assert_official_decoding(exp: ResolvedExperiment) -> None:
    """The official get_final_preds: no blur, quarter offset towards the higher neighbour."""
    assert exp.recipe.test.blur_kernel == 0, exp.name
    assert exp.recipe.test.offset == "neighbour", exp.name


def _assert_stride_4_flip_shift(exp: ResolvedExperiment) -> None:
    """Heatmaps at a quarter of the input: the flipped map is shifted one pixel right."""
    assert exp.output_stride == 4, exp.name
    assert needs_flip_shift(build_codec(exp)) is True, exp.name


def _assert_mse(exp: ResolvedExperiment) -> None:
    loss = build_loss(exp.recipe.loss)
    assert type(loss) is JointsMSELoss, exp.name
    assert loss.use_target_weight is True, exp.name


def _assert_stride_4_official(registry, recipe: str) -> None:  # noqa: ANN001
    for exp in _experiments(registry, recipe):
        _assert_official_protocol(exp)
        _assert_official_decoding(exp)
        _assert_stride_4_flip_shift(exp)
        _assert_mse(exp)


def test_every_recipe_has_its_protocol_test() -> None:
    recipes = yaml.safe_load((ROOT / "params" / "recipes.yaml").read_text())
    assert set(recipes) == PINNED


def test_hrnet_recipe_protocol(registry) -> None:  # noqa: ANN001
    _assert_stride_4_official(registry, "hrnet")


def test_hrnet_w48_384x288_recipe_protocol(registry) -> None:  # noqa: ANN001
    _assert_stride_4_official(registry, "hrnet_w48_384x288")


def test_densenet_imagenet_recipe_protocol(registry) -> None:  # noqa: ANN001
    """Single-crop ImageNet testing (Table X): shorter side 256, central 224 crop, top-1 and
    top-5 errors, cross-entropy."""
    import numpy as np

    from pose.data.classification import center_crop
    from pose.evaluate.topk import TOPK

    experiments = _experiments(registry, "densenet_imagenet")
    assert experiments
    for exp in experiments:
        assert exp.input_hw == (224, 224) and exp.recipe.loss.type == "cross_entropy"
    assert TOPK == (1, 5)
    # a 512x384 image: shorter side to 256 (341x256), then the central 224x224
    image = np.zeros((384, 512, 3), np.uint8)
    image[:, 256:] = 255
    crop = center_crop(image, (224, 224))
    assert crop.shape == (224, 224, 3)
    assert (crop[:, :112] == 0).all() and (crop[:, 113:] == 255).all()


def test_simplebaseline_recipe_protocol(registry) -> None:  # noqa: ANN001
    _assert_stride_4_official(registry, "simplebaseline")


def test_dnanet_recipe_protocol(registry) -> None:  # noqa: ANN001
    _assert_stride_4_official(registry, "dnanet")


def test_ram_gpr_recipe_protocol(registry) -> None:  # noqa: ANN001
    _assert_stride_4_official(registry, "ram_gpr")


def test_ram_gpr_no_cutout_recipe_protocol(registry) -> None:  # noqa: ANN001
    _assert_stride_4_official(registry, "ram_gpr_no_cutout")


def test_hrnet_am_recipe_protocol(registry) -> None:  # noqa: ANN001
    _assert_stride_4_official(registry, "hrnet_am")


def test_danet_recipe_protocol_blurs_takes_the_second_max_and_mines_the_top_8_joints(
        registry) -> None:  # noqa: ANN001
    """CPN / MSPN decoding (Gaussian blur, 5x5 on COCO and 9x9 on MPII as in the MSPN / RSN
    code, quarter offset towards the second-highest response) and OHKM over the 8 hardest
    joints; MPII experiments crop at the annotated person (boxes: gt), COCO ones at the
    detector's boxes."""
    exps = _experiments(registry, "danet") + _experiments(registry, "danet_mpii")
    assert {e.dataset_name for e in exps} == {"coco", "mpii"}
    for exp in exps:
        test = exp.recipe.test
        assert test.flip_test is True, exp.name
        assert test.blur_kernel == (9 if exp.dataset_name == "mpii" else 5), exp.name
        assert test.offset == "second_max", exp.name
        loss = build_loss(exp.recipe.loss)
        assert type(loss) is JointsOHKMMSELoss, exp.name
        assert (loss.topk, loss.use_target_weight) == (8, True), exp.name
        _assert_stride_4_flip_shift(exp)
        if exp.dataset_name == "mpii":
            assert protocol_boxes(exp, None) == "gt", exp.name
        else:
            _assert_official_protocol(exp)


def test_frsbn_recipe_protocol_drops_the_flip_shift_at_full_resolution(
        registry) -> None:  # noqa: ANN001
    """FR-SBN keeps SimpleBaseline's protocol; its full-resolution heatmaps (stride 1) take the
    flipped map unshifted, while SBN-34 (stride 4) keeps the official shift."""
    strides = {}
    for exp in _experiments(registry, "frsbn"):
        _assert_official_protocol(exp)
        _assert_official_decoding(exp)
        _assert_mse(exp)
        strides[exp.name] = exp.output_stride
        if exp.output_stride == 1:
            assert exp.heatmap_hw == exp.input_hw, exp.name
            assert needs_flip_shift(build_codec(exp)) is False, exp.name
        else:
            _assert_stride_4_flip_shift(exp)
    assert strides["frsbn_r34_sbn_256x192"] == 4
    assert strides["frsbn_r34_256x192"] == strides["frsbn_r152_384x288"] == 1
    assert sorted(set(strides.values())) == [1, 4]
