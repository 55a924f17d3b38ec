"""The registry: loads, resolves scales, and stops on bad params with a message naming the place."""

import shutil
from pathlib import Path

import pytest
import yaml

from pose.config import check_pipeline, load_registry, parse_input
from pose.errors import ConfigError
from pose.stages import use_scale_stage

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def params(tmp_path: Path) -> Path:
    dst = tmp_path / "params"
    shutil.copytree(ROOT / "params", dst)
    return dst


def _edit(path: Path, fn) -> None:
    data = yaml.safe_load(path.read_text())
    fn(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_registry_loads_and_lists_baselines() -> None:
    reg = load_registry(ROOT / "params")
    assert {"hrnet_w32", "hrnet_w48", "simplebaseline_r50"} <= set(reg.models)
    assert reg.default_scale == "smoke"
    assert "baselines" in reg.tables


def test_smoke_shrinks_training_but_not_the_paper_model() -> None:
    reg = load_registry(ROOT / "params")
    smoke = reg.resolve("hrnet_w32_256x192", "smoke")
    full = reg.resolve("hrnet_w32_256x192", "full")
    assert smoke.dataset_name == "synthetic" and full.dataset_name == "coco"
    assert smoke.paper_model_spec == full.model_spec == reg.model("hrnet_w32")
    assert smoke.model_spec != full.model_spec
    assert full.input_hw == full.paper_input == (256, 192)
    assert smoke.recipe.epochs < full.recipe.epochs == 210
    assert full.recipe.schedule.milestones == [170, 200]
    assert smoke.run_dir == Path("runs/smoke/hrnet_w32_256x192")
    assert smoke.config_hash != full.config_hash


def test_parse_input() -> None:
    assert parse_input("256x192", "x") == (256, 192)
    assert parse_input("384×288", "x") == (384, 288)
    with pytest.raises(ConfigError, match="256x19"):
        parse_input("256x19", "x")


def test_unknown_key_names_file_and_key(params: Path) -> None:
    _edit(params / "recipes.yaml", lambda d: d["hrnet"].update(learning_rate=1))
    with pytest.raises(ConfigError, match=r"recipes.yaml: hrnet.*learning_rate"):
        load_registry(params)


def test_wrong_type_names_field(params: Path) -> None:
    _edit(params / "recipes.yaml", lambda d: d["hrnet"].update(epochs="many"))
    with pytest.raises(ConfigError, match=r"hrnet\.epochs: expected int"):
        load_registry(params)


def test_unknown_model_reference(params: Path) -> None:
    _edit(
        params / "experiments.yaml",
        lambda d: d["experiments"]["hrnet_w32_256x192"].update(model="hrnet_w33"),
    )
    with pytest.raises(ConfigError, match="hrnet_w33"):
        load_registry(params)


def test_unknown_experiment_in_table(params: Path) -> None:
    _edit(params / "papers" / "baselines.yaml", lambda d: d["rows"][0].update(experiment="nope"))
    with pytest.raises(ConfigError, match=r"baselines.yaml.*nope"):
        load_registry(params)


def test_pipeline_dataset_must_match_scale(params: Path) -> None:
    _edit(params / "pipeline.yaml", lambda d: d.update(dataset="coco"))
    with pytest.raises(ConfigError, match="synthetic"):
        load_registry(params)


def test_missing_file_and_bad_yaml(params: Path) -> None:
    (params / "scales.yaml").write_text("smoke: [unclosed")
    with pytest.raises(ConfigError, match="scales.yaml: not valid YAML"):
        load_registry(params)
    (params / "scales.yaml").unlink()
    with pytest.raises(ConfigError, match="scales.yaml: params file not found"):
        load_registry(params)


def test_unknown_experiment_lookup() -> None:
    reg = load_registry(ROOT / "params")
    with pytest.raises(ConfigError, match="unknown experiment 'x'.*hrnet_w32_256x192"):
        reg.resolve("x", "smoke")


def test_scale_overrides_by_family_then_by_model_name() -> None:
    reg = load_registry(ROOT / "params")
    w32 = reg.resolve("hrnet_w32_256x192", "smoke").model_spec
    w48 = reg.resolve("hrnet_w48_256x192", "smoke").model_spec
    assert w32["width"] < w48["width"] < reg.model("hrnet_w48")["width"]
    assert w32["stage_modules"] == w48["stage_modules"]  # the family entry applies to both


def test_scale_model_override_must_name_a_family_or_model(params: Path) -> None:
    _edit(params / "scales.yaml", lambda d: d["smoke"]["models"].update(hrnet_w99={"width": 8}))
    with pytest.raises(ConfigError, match=r"smoke.models.hrnet_w99"):
        load_registry(params)


def test_typo_in_a_scale_override_names_the_scale(params: Path) -> None:
    _edit(params / "scales.yaml", lambda d: d["smoke"]["models"]["hrnet"].update(widht=8))
    with pytest.raises(ConfigError, match=r"scales.yaml: smoke.models.*widht"):
        load_registry(params)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [("val_every", 0, r"smoke.val_every: must be > 0"), ("threads", -1, r"smoke.threads")],
)
def test_scale_values_out_of_range(params: Path, key: str, value: int, message: str) -> None:
    _edit(params / "scales.yaml", lambda d: d["smoke"].update({key: value}))
    with pytest.raises(ConfigError, match=message):
        load_registry(params)


def test_recipe_values_out_of_range(params: Path) -> None:
    _edit(params / "recipes.yaml", lambda d: d["hrnet"].update(epochs=-3))
    with pytest.raises(ConfigError, match=r"recipes.yaml: hrnet.*epochs: must be > 0"):
        load_registry(params)
    _edit(params / "recipes.yaml", lambda d: d["hrnet"].update(epochs=3))
    _edit(params / "recipes.yaml", lambda d: d["hrnet"]["schedule"].update(milestones=[5, 2]))
    with pytest.raises(ConfigError, match=r"milestones: must increase"):
        load_registry(params)


# --------------------------------------------------------------------------- what a scale trains
BASELINES = ["hrnet_w32_256x192", "hrnet_w48_256x192", "simplebaseline_r50_256x192"]


def _smoke_trains(params: Path, train: object, regenerate: bool = False) -> None:
    _edit(params / "scales.yaml", lambda d: d["smoke"].update(train=train))
    if regenerate:
        use_scale_stage(params, "smoke")


def test_train_all_and_a_list_resolve_in_registry_order(params: Path) -> None:
    reg = load_registry(params)
    assert reg.scale("full").train == "all"
    assert reg.trained_experiments("full") == list(reg.experiments)
    _smoke_trains(params, BASELINES[::-1][:2])
    reg = load_registry(params, check_pipeline=False)
    assert reg.trained_experiments("smoke") == ["hrnet_w48_256x192", "simplebaseline_r50_256x192"]
    assert reg.datasets_for_scale("smoke") == ["synthetic"]


@pytest.mark.parametrize(
    ("train", "message"),
    [
        ([*BASELINES, "hrnet_w99_256x192"], r"scales.yaml: smoke.train: unknown.*hrnet_w99_256x"),
        (
            [*BASELINES, "hrnet_w48_256x192"],
            r"scales.yaml: smoke.train: .*'hrnet_w48_256x192'.* more than once",
        ),
        ([], r"scales.yaml: smoke.train: empty"),
        ("some", r"scales.yaml: smoke.train: expected"),
    ],
    ids=["unknown", "duplicate", "empty", "not-all"],
)
def test_bad_train_selection_names_scale_and_id(params: Path, train: object, message: str) -> None:
    _smoke_trains(params, train)
    with pytest.raises(ConfigError, match=message):
        load_registry(params, check_pipeline=False)


def test_stale_pipeline_train_names_the_command(params: Path) -> None:
    _smoke_trains(params, BASELINES, regenerate=True)
    load_registry(params)
    _smoke_trains(params, BASELINES[:2])
    with pytest.raises(ConfigError, match=r"pipeline.yaml: `train`") as err:
        load_registry(params)
    assert "`pose use-scale smoke`" in str(err.value)
    assert "not trained at this scale: ['simplebaseline_r50_256x192']" in str(err.value)


def test_pipeline_train_model_change_is_stale(params: Path) -> None:
    _edit(params / "pipeline.yaml", lambda d: d["train"]["hrnet_w32_256x192"].update(recipe="x"))
    with pytest.raises(ConfigError,
                       match=r"model, recipe or params differ: \['hrnet_w32_256x192'\]"):
        load_registry(params)
    _edit(params / "pipeline.yaml", lambda d: d.pop("train"))
    with pytest.raises(ConfigError, match=r"missing: .*pose use-scale smoke"):
        load_registry(params)


def test_another_scale_than_the_files_skips_its_train_check(params: Path) -> None:
    """Snakemake's `--config scale=full dataset=coco`: the file's (smoke) `train` is not checked."""
    _smoke_trains(params, BASELINES[:1])
    reg = load_registry(params, check_pipeline=False)
    check_pipeline(reg, "full", "coco")
    with pytest.raises(ConfigError, match="synthetic"):
        check_pipeline(reg, "full", "synthetic")
    with pytest.raises(ConfigError, match="pose use-scale smoke"):
        check_pipeline(reg, "smoke", "synthetic")


def test_use_scale_writes_a_pipeline_the_check_accepts(params: Path) -> None:
    _smoke_trains(params, BASELINES[1:])
    use_scale_stage(params, "smoke")
    text = (params / "pipeline.yaml").read_text()
    assert text.startswith("# ") and "pose use-scale" in text  # the header is kept
    data = yaml.safe_load(text)
    scratch = "pose/models/pretrained.py"  # smoke loads no ImageNet checkpoint
    reg = load_registry(params, check_pipeline=False)
    hashes = {e: reg.resolve(e, "smoke").train_hash for e in BASELINES[1:]}
    assert data == {
        "scale": "smoke",
        "dataset": "synthetic",
        "data": {"synthetic": {"out": "data/synthetic"}},
        "train": {
            "hrnet_w48_256x192": {"model": "hrnet_w48", "recipe": "hrnet", "init": scratch,
                                  "train_hash": hashes["hrnet_w48_256x192"]},
            "simplebaseline_r50_256x192": {
                "model": "simplebaseline_r50",
                "recipe": "simplebaseline",
                "init": scratch,
                "train_hash": hashes["simplebaseline_r50_256x192"],
            },
        },
        # one training per experiment: neither is among smoke's `seeds`
        "runs": {e: {**v, "experiment": e} for e, v in data["train"].items()},
        "speed": {},  # timing runs at a scale on the papers' own data only
        "curves": data["curves"],
    }
    logs = {f"runs/smoke/{e}/train_log.csv" for e in BASELINES[1:]}
    assert set(data["curves"]["val_ap"]["validation AP per epoch"]["y"]) == logs
    assert set(data["curves"]["loss"]["training loss per epoch"]["y"]) == logs
    assert load_registry(params).default_scale == "smoke"
    use_scale_stage(params, "full")
    reg = load_registry(params)
    assert (reg.default_scale, reg.pipeline["dataset"]) == ("full", "coco")
    # DANet-72's CPU speed (Sec. IV-B) is one of DVC's speed stages, as a Snakemake speed job
    danet = {k: v for k, v in reg.pipeline["speed"].items() if k.startswith("danet_72_256x192--")}
    assert len(danet) == 1
    (job,) = danet.values()
    assert job["command"].startswith("pose --no-progress speed danet_72 --input 256x192 --device "
                                     "cpu --persons 1000 --threads 8")
    assert job["command"].endswith(f"--out {job['out']}") and job["out"].startswith("runs/speed/")
    _edit(params / "pipeline.yaml", lambda d: d["speed"].pop(next(iter(danet))))
    with pytest.raises(ConfigError, match=r"`speed` is out of date .*pose use-scale full"):
        load_registry(params)
    use_scale_stage(params, "full")
    reg = load_registry(params)
    # full trains every experiment; a pipeline run covers one dataset (COCO by default)
    on_coco = [e for e, spec in reg.experiments.items() if spec.dataset == "coco"]
    assert list(reg.pipeline["train"]) == on_coco == reg.trained_experiments("full", "coco")
    # full scale fetches COCO's folders and the checkpoints its models start from
    assert list(reg.pipeline["data"]) == [
        "coco_train2017", "coco_val2017", "coco_annotations", "coco_detections",
        "imagenet_hrnet", "imagenet_resnet"]
    assert reg.pipeline["train"]["simplebaseline_r50_256x192"]["init"] == "data/pretrained/resnet"
    assert reg.pipeline["train"]["hrnet_w32_256x192"]["init"] == "data/pretrained/hrnet"
    # the rest of full's experiments: MPII's and ImageNet's, each in a pipeline of their own
    use_scale_stage(params, "full", "mpii")
    reg = load_registry(params)
    on_mpii = list(reg.pipeline["train"])
    assert list(reg.pipeline["data"]) == ["mpii_images", "mpii_annotations"]
    use_scale_stage(params, "full", "imagenet")
    reg = load_registry(params)
    assert list(reg.pipeline["data"]) == ["imagenet"]
    assert sorted(on_coco + on_mpii + list(reg.pipeline["train"])) == sorted(reg.experiments)
    with pytest.raises(ConfigError,
                       match=r"dataset\(s\) \['coco', 'imagenet', 'mpii'\].*'synthetic'"):
        use_scale_stage(params, "full", "synthetic")


def test_dataset_paths_must_lie_in_its_sources(params: Path) -> None:
    datasets = yaml.safe_load((params / "datasets.yaml").read_text())
    datasets["coco"]["sources"].remove("coco_detections")
    (params / "datasets.yaml").write_text(yaml.safe_dump(datasets, sort_keys=False))
    with pytest.raises(ConfigError, match=r"coco.val: data/coco/person_detection_results/COCO_"
                                          r"val2017\S+ is in none of the dataset's sources"):
        load_registry(params, check_pipeline=False)


def test_pretrained_file_must_come_from_a_source(params: Path) -> None:
    models = (params / "models.yaml").read_text()
    (params / "models.yaml").write_text(
        models.replace("data/pretrained/resnet/resnet50", "weights/resnet50", 1))
    with pytest.raises(ConfigError, match="weights/resnet50-19c8e357.pth is in no source"):
        load_registry(params, check_pipeline=False)


def test_gpus_must_split_the_total_batch_and_the_nodes(params: Path) -> None:
    """The recipe's batch is the papers' total: 128 over 3 GPUs would change it."""
    _edit(params / "experiments.yaml",
          lambda d: d["experiments"]["hrnet_w32_256x192"].update(gpus=3))
    with pytest.raises(ConfigError, match=r"batch_size: 128 .*hrnet_w32_256x192.gpus = 3"):
        load_registry(params)
    _edit(params / "experiments.yaml",
          lambda d: d["experiments"]["hrnet_w32_256x192"].update(gpus=4, nodes=3))
    with pytest.raises(ConfigError, match=r"hrnet_w32_256x192: gpus 4 do not split evenly"):
        load_registry(params)


def test_speed_options_are_checked_recipe_keys(params: Path) -> None:
    _edit(params / "recipes.yaml", lambda d: d["hrnet"].update(precision="fp16"))
    with pytest.raises(ConfigError, match=r"hrnet\.precision"):
        load_registry(params)
    _edit(params / "recipes.yaml", lambda d: d["hrnet"].update(precision="bf16",
                                                               channels_last=True))
    # the weights depend on them: the derived pipeline.yaml is stale until use-scale
    with pytest.raises(ConfigError, match=r"params differ.*pose use-scale smoke"):
        load_registry(params)
    use_scale_stage(params, "smoke")
    full = load_registry(params).resolve("hrnet_w32_256x192", "full")
    assert (full.recipe.precision, full.recipe.channels_last, full.recipe.sync_bn) == (
        "bf16", True, False)


# ---- issue 15, item 4: a key written twice is an error naming file and line
def test_duplicate_yaml_key_is_rejected_naming_file_and_line(params: Path) -> None:
    recipes = params / "recipes.yaml"
    lines = recipes.read_text().splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if line.strip() == "epochs: 210")
    lines.insert(first + 1, "  epochs: 3\n")
    recipes.write_text("".join(lines))
    with pytest.raises(ConfigError) as err:
        load_registry(params, check_pipeline=False)
    assert str(err.value) == (f"{recipes}:{first + 2}: duplicate key 'epochs' (first at line "
                              f"{first + 1}); a key may appear once per mapping")


def test_duplicate_yaml_key_but_a_merge_key_may_be_overridden(tmp_path: Path) -> None:
    from pose.config import read_yaml
    from pose.models import load_model_specs

    f = tmp_path / "x.yaml"
    f.write_text("base: &b {a: 1, b: 2}\nchild: {<<: *b, a: 3}\n")
    assert read_yaml(f) == {"base": {"a": 1, "b": 2}, "child": {"a": 3, "b": 2}}
    f.write_text("base: &b {a: 1}\nchild: {<<: *b, a: 3, a: 4}\n")
    with pytest.raises(ConfigError, match=r"x.yaml:2: duplicate key 'a' \(first at line 2\)"):
        read_yaml(f)
    models = tmp_path / "models.yaml"
    models.write_text("m:\n  type: hrnet\n  width: 32\n  width: 48\n")
    with pytest.raises(ConfigError, match=r"models.yaml:4: duplicate key 'width' \(first at "
                                          r"line 3\)"):
        load_model_specs(models)


# ---- issue 15, item 12: messages that say what is allowed
def test_literal_type_error_lists_the_allowed_values(params: Path) -> None:
    _edit(params / "recipes.yaml", lambda d: d["hrnet"]["schedule"].update(type="cosine"))
    with pytest.raises(ConfigError) as err:
        load_registry(params, check_pipeline=False)
    assert str(err.value).endswith("hrnet.schedule.type: expected one of 'step', 'sgdr', "
                                   "'linear', got str 'cosine'")


def test_unknown_names_suggest_the_closest_ones(params: Path) -> None:
    reg = load_registry(ROOT / "params")
    with pytest.raises(ConfigError, match=r"^unknown model 'hrnet_w23'; did you mean "
                                          r"'hrnet_w32' or 'hrnet_w48' or 'hrnet_w16'\? known: "):
        reg.model("hrnet_w23")
    with pytest.raises(ConfigError, match=r"^unknown experiment 'hrnet_w32_256x19'; did you "
                                          r"mean 'hrnet_w32_256x192'"):
        reg.resolve("hrnet_w32_256x19", "smoke")
    with pytest.raises(ConfigError, match=r"^unknown table 'baseline'; did you mean "
                                          r"'baselines'\?"):
        reg.table("baseline")
    with pytest.raises(ConfigError, match=r"^unknown dataset 'synthtic'; did you mean "
                                          r"'synthetic'\?"):
        reg.dataset("synthtic")
    _edit(params / "experiments.yaml",
          lambda d: d["experiments"]["hrnet_w32_256x192"].update(recipe="hrnte"))
    with pytest.raises(ConfigError, match=r"hrnet_w32_256x192.recipe: unknown recipe 'hrnte'; "
                                          r"did you mean 'hrnet' or"):
        load_registry(params, check_pipeline=False)


def test_use_scale_with_a_dataset_the_scale_does_not_take_names_the_ones_it_does(
        params: Path) -> None:
    with pytest.raises(ConfigError) as err:
        use_scale_stage(params, "smoke", "coco")
    assert str(err.value) == (
        "scale 'smoke' trains on dataset(s) ['synthetic'], not 'coco': name one of "
        "['synthetic'] (`pose use-scale smoke --dataset synthetic`, or `dataset` in "
        f"{params}/pipeline.yaml or the profile's config)")


# ---- the recipe's batch: the total (batch_size) or each GPU's share (batch_per_gpu)
def test_batch_per_gpu_resolves_to_the_total_over_the_experiments_gpus(params: Path) -> None:
    _edit(params / "recipes.yaml", lambda d: (d["hrnet"].pop("batch_size"),
                                              d["hrnet"].update(batch_per_gpu=24)))
    _edit(params / "experiments.yaml",
          lambda d: d["experiments"]["hrnet_w32_384x288"].update(gpus=2))
    reg = load_registry(params, check_pipeline=False)
    full = reg.resolve("hrnet_w32_256x192", "full")  # gpus 4
    assert (full.recipe.batch_size, full.recipe.batch_per_gpu) == (96, None)
    assert reg.resolve("hrnet_w32_384x288", "full").recipe.batch_size == 48  # gpus 2
    # the resolved record holds the total only
    assert "batch_per_gpu" not in full.to_dict()["recipe"]
    assert full.to_dict()["recipe"]["batch_size"] == 96
    # a scale's batch replaces the recipe's, whichever key either names
    assert reg.resolve("hrnet_w32_256x192", "smoke", "synthetic").recipe.batch_size == 16


def test_per_gpu_and_total_batch_of_the_same_training_have_one_train_hash(params: Path) -> None:
    """32 per GPU on 4 GPUs is the training of a total batch of 128: same weights, same hash."""
    before = load_registry(params, check_pipeline=False).resolve("hrnet_w32_256x192", "full")
    _edit(params / "recipes.yaml", lambda d: (d["hrnet"].pop("batch_size"),
                                              d["hrnet"].update(batch_per_gpu=32)))
    after = load_registry(params, check_pipeline=False).resolve("hrnet_w32_256x192", "full")
    assert before.recipe.batch_size == after.recipe.batch_size == 128
    assert (after.train_hash, after.config_hash) == (before.train_hash, before.config_hash)


@pytest.mark.parametrize("batch, message", [
    ({"batch_size": 64, "batch_per_gpu": 8},
     r"recipes.yaml: dnanet: give exactly one of batch_size .* and batch_per_gpu .*; got "
     r"batch_size: 64, batch_per_gpu: 8"),
    ({}, r"recipes.yaml: dnanet: give exactly one of batch_size .*; got neither"),
    ({"batch_per_gpu": 0}, r"recipes.yaml: dnanet: batch_per_gpu: must be > 0, got 0"),
])
def test_a_recipe_gives_its_batch_once(params: Path, batch: dict, message: str) -> None:
    def edit(d: dict) -> None:
        d["dnanet"].pop("batch_size")
        d["dnanet"].update(batch)

    _edit(params / "recipes.yaml", edit)
    with pytest.raises(ConfigError, match=message):
        load_registry(params, check_pipeline=False)


def test_paper_recipes_resolve_to_their_stated_totals() -> None:
    """DNANet 64 and RAM+GPR 32 are totals (8 per GPU); HRNet-W48 384x288 24 per GPU x 4."""
    from pose.preflight import paper_batch_per_gpu

    reg = load_registry(ROOT / "params", check_pipeline=False)
    for name, total, gpus in (("dnanet_w48_384x288", 64, 8), ("ram_gpr_w48_384x288", 32, 4),
                              ("hrnet_w48_384x288", 96, 4), ("hrnet_w48_256x192", 128, 4)):
        assert reg.resolve(name, "full").recipe.batch_size == total, name
        assert paper_batch_per_gpu(reg, reg.resolve(name, "preflight", "synthetic")) == (
            total // gpus, gpus), name


def test_schedule_update_is_recorded_only_when_set(params: Path) -> None:
    """`update: epoch` is the default and absent from the record (hashes of runs made before the
    key existed stay); `iteration` is recorded, and a step schedule refuses it."""
    reg = load_registry(params, check_pipeline=False)
    assert "update" not in reg.resolve("hrnet_w32_256x192", "full").to_dict()["recipe"]["schedule"]
    assert reg.resolve("dnanet_w32_256x192", "full").to_dict()["recipe"]["schedule"][
        "update"] == "iteration"
    _edit(params / "recipes.yaml", lambda d: d["hrnet"]["schedule"].update(update="iteration"))
    with pytest.raises(ConfigError, match=r"recipes.yaml: hrnet.schedule: update: 'iteration' "
                                          r"applies to the sgdr and linear"):
        load_registry(params, check_pipeline=False)


def test_seeds_add_runs_beside_the_experiments_own(params: Path) -> None:
    """`seeds` adds <experiment>-seed<k> runs with their own seed and train_hash; the
    experiment's own run keeps its id, seed and hash; papers and single experiments choose."""
    _smoke_trains(params, BASELINES)
    _edit(params / "scales.yaml", lambda d: d["smoke"].update(
        seeds={"default": 1, "papers": {"baselines": 2},
               "experiments": {"hrnet_w48_256x192": 3}}))
    before = load_registry(params, check_pipeline=False).resolve("hrnet_w32_256x192", "smoke")
    use_scale_stage(params, "smoke")
    reg = load_registry(params)
    assert reg.seed_runs("hrnet_w32_256x192", "smoke") == [
        "hrnet_w32_256x192", "hrnet_w32_256x192-seed1"]
    assert reg.seed_runs("hrnet_w48_256x192", "smoke") == [
        "hrnet_w48_256x192", "hrnet_w48_256x192-seed1", "hrnet_w48_256x192-seed2"]
    assert reg.seed_runs("hrnet_w32_256x192", "full") == ["hrnet_w32_256x192"]
    seed1 = reg.resolve("hrnet_w32_256x192-seed1", "smoke")
    own = reg.resolve("hrnet_w32_256x192", "smoke")
    assert (own.seed, own.train_hash) == (before.seed, before.train_hash)
    assert seed1.seed == own.seed + 1 and seed1.train_hash != own.train_hash
    assert str(seed1.run_dir) == "runs/smoke/hrnet_w32_256x192-seed1"
    runs = reg.pipeline["runs"]
    assert runs["hrnet_w48_256x192-seed2"]["experiment"] == "hrnet_w48_256x192"
    assert runs["hrnet_w32_256x192-seed1"]["train_hash"] == seed1.train_hash
    assert set(reg.pipeline["train"]) == set(BASELINES)  # throughput, complexity: per experiment


@pytest.mark.parametrize("seeds, message", [
    ({"papers": {"nosuchpaper": 2}}, r"seeds.papers: unknown paper\(s\) \['nosuchpaper'\]"),
    ({"experiments": {"hrnet_w32": 2}}, r"seeds.experiments: unknown experiment"),
    ({"default": 0}, r"seeds.default: expected a count of 1 or more, got 0"),
])
def test_bad_seeds_are_named(params: Path, seeds: dict, message: str) -> None:
    _edit(params / "scales.yaml", lambda d: d["smoke"].update(seeds=seeds))
    with pytest.raises(ConfigError, match=message):
        load_registry(params, check_pipeline=False)
