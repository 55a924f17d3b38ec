# Step 1 of a cluster run: the published HRNet / SimpleBaseline COCO weights through this
# pipeline's evaluation (`pose verify-official`), published AP beside measured AP. Not part of
# `all`: `snakemake verify_official --config scale=full dataset=coco`. The files are placed by hand
# (params/sources.yaml official_pose_weights); the table lists those not placed.

OFFICIAL = REGISTRY.official_weights
OFFICIAL_DIR = REGISTRY.sources.get(OFFICIAL.source).out
# Which files are placed is read when the workflow is parsed (as table_inputs reads imported
# stats): a file placed later is evaluated by the next run.
OFFICIAL_PLACED = [f for f in OFFICIAL.weights if os.path.exists(f"{OFFICIAL_DIR}/{f}")]


# The source folders of the official dataset's val annotations, images and detections.
_OFFICIAL_VAL = REGISTRY.dataset(OFFICIAL.dataset)
OFFICIAL_VAL_FOLDERS = sorted({
    REGISTRY.sources.get(REGISTRY.sources.owner_of(_OFFICIAL_VAL.path(p))).out
    for p in (_OFFICIAL_VAL.val.annotations, _OFFICIAL_VAL.val.images,
              _OFFICIAL_VAL.val.detections) if p
})


ruleorder: verify_official > table


rule fetch_official_pose_weights:
    """Verifies the placed files (or names where to get them when none is placed)."""
    localrule: True
    output:
        directory(OFFICIAL_DIR),
    log:
        "logs/fetch_official_pose_weights.log",
    resources:
        gpu=0,
    shell:
        f"pose --no-progress fetch {OFFICIAL.source} 2> {{log}}"


rule verify_official:
    """Every placed official weights file evaluated on the dataset's val split (full scale)."""
    input:
        OFFICIAL_VAL_FOLDERS,
        weights=[f"{OFFICIAL_DIR}/{f}" for f in OFFICIAL_PLACED] or [OFFICIAL_DIR],
        spec="params/official_weights.yaml",
    output:
        md="reports/tables/official_weights.md",
        json="reports/tables/official_weights.json",
        records=expand("runs/official/{stem}/eval.json",
                       stem=[os.path.splitext(f)[0] for f in OFFICIAL_PLACED]),
    log:
        "logs/official/verify_official.log",
    resources:
        gpu=1 if REGISTRY.scale("full").eval_device == "cuda" else 0,
        cpus_per_task=REGISTRY.scale("full").num_workers + 1,
    shell:
        "pose --no-progress --claim-gpus {resources.gpu} verify-official --scale full > {log} 2>&1"
