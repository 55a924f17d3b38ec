"""A small dataset in COCO's real layout and the archives COCO publishes it in, built from the
project's synthetic generator: train2017/, val2017/, annotations/person_keypoints_*2017.json,
annotations_trainval2017.zip (with an instances file the fetch must leave out), and the person
detection file."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from pose.data.synth import SynthConfig, write_synthetic_dataset


@dataclass
class Sample:
    folder: Path                 # the unpacked COCO-layout folder
    archives: dict[str, bytes]   # URL path -> archive bytes
    counts: dict[str, int]       # train / val / test-dev image counts
    detections: Path             # the val detection file (placed by hand in COCO)


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def build_sample(root: Path, num_train: int = 12, num_val: int = 6, seed: int = 0) -> Sample:
    synth = root / "synthetic"
    write_synthetic_dataset(synth, SynthConfig(seed=seed, num_train=num_train, num_val=num_val,
                                               max_people=2), progress=False)
    coco = root / "coco_sample"
    (coco / "annotations").mkdir(parents=True)
    (coco / "person_detection_results").mkdir()
    shutil.copytree(synth / "images/train", coco / "train2017")
    shutil.copytree(synth / "images/val", coco / "val2017")
    for split in ("train", "val"):
        shutil.copy(synth / f"annotations/person_keypoints_{split}.json",
                    coco / f"annotations/person_keypoints_{split}2017.json")
    det = coco / "person_detection_results/COCO_val2017_detections_AP_H_56_person.json"
    shutil.copy(synth / "detections/person_detections_val.json", det)
    val = json.loads((coco / "annotations/person_keypoints_val2017.json").read_text())
    info = {"images": val["images"], "categories": val["categories"]}
    (coco / "annotations/image_info_test-dev2017.json").write_text(json.dumps(info))
    shutil.rmtree(synth)

    def folder_zip(name: str) -> bytes:
        return _zip({f"{name}/{p.name}": p.read_bytes()
                     for p in sorted((coco / name).iterdir())})

    ann = coco / "annotations"
    archives = {
        "/zips/train2017.zip": folder_zip("train2017"),
        "/zips/val2017.zip": folder_zip("val2017"),
        "/annotations/annotations_trainval2017.zip": _zip({
            "annotations/person_keypoints_train2017.json":
                (ann / "person_keypoints_train2017.json").read_bytes(),
            "annotations/person_keypoints_val2017.json":
                (ann / "person_keypoints_val2017.json").read_bytes(),
            "annotations/instances_val2017.json": b'{"images": [], "annotations": []}',
        }),
        "/annotations/image_info_test2017.zip": _zip({
            "annotations/image_info_test-dev2017.json":
                (ann / "image_info_test-dev2017.json").read_bytes(),
        }),
    }
    counts = {"train": num_train, "val": num_val, "test-dev": len(val["images"])}
    return Sample(coco, archives, counts, det)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def coco_sources(sample: Sample, base_url: str, downloads: Path, out_root: str) -> dict:
    """sources.yaml entries for the sample: the real COCO entries with the URLs pointing at
    the loopback server (or a mirror), and the sample's sizes, checksums and counts."""
    a = sample.archives

    def file(path: str, **extra: object) -> dict:
        return {"url": base_url + path, "size": len(a[path]), "md5": md5(a[path]),
                "unpack": "zip", **extra}

    return {
        "settings": {"downloads": str(downloads), "retries": 3, "backoff": 0.0,
                     "timeout": 10.0},
        "sources": {
            "coco_train2017": {"out": f"{out_root}/train2017", "check": {
                "images": sample.counts["train"]},
                "files": [file("/zips/train2017.zip", take={"train2017": "."})]},
            "coco_val2017": {"out": f"{out_root}/val2017", "check": {
                "images": sample.counts["val"]},
                "files": [file("/zips/val2017.zip", take={"val2017": "."})]},
            "coco_annotations": {
                "out": f"{out_root}/annotations",
                "files": [
                    file("/annotations/annotations_trainval2017.zip", take={
                        f"annotations/person_keypoints_{s}2017.json":
                            f"person_keypoints_{s}2017.json" for s in ("train", "val")}),
                    file("/annotations/image_info_test2017.zip", take={
                        "annotations/image_info_test-dev2017.json":
                            "image_info_test-dev2017.json"}),
                ],
                "check": {
                    "coco_keypoints": {"person_keypoints_train2017.json": sample.counts["train"],
                                       "person_keypoints_val2017.json": sample.counts["val"]},
                    "image_info": {"image_info_test-dev2017.json": sample.counts["test-dev"]},
                }},
            "coco_detections": {
                "out": f"{out_root}/person_detection_results",
                "files": [{"name": "COCO_val2017_detections_AP_H_56_person.json", "url": None,
                           "manual": "the HRNet repository's person_detection_results folder."}],
                "check": {"detections": ["COCO_val2017_detections_AP_H_56_person.json"]}},
        },
    }


def write_sources(params_dir: Path, sources: dict) -> Path:
    params_dir.mkdir(parents=True, exist_ok=True)
    path = params_dir / "sources.yaml"
    path.write_text(yaml.safe_dump(sources, sort_keys=False))
    return path
