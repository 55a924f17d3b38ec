"""Fetching against a loopback HTTP server: clean fetch, resume after a dropped connection,
corrupt or truncated archives rejected before unpacking, and a re-run that downloads nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fetch.coco_layout import Sample, build_sample, coco_sources, write_sources
from fetch.server import Behaviour, serve
from pose.errors import DataError
from pose.fetch import download as download_module
from pose.fetch.fetch import STAMP, fetch_source
from pose.fetch.spec import load_sources

DOWNLOADABLE = ("coco_train2017", "coco_val2017", "coco_annotations")


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    return build_sample(tmp_path_factory.mktemp("coco"))


@pytest.fixture
def state(sample: Sample) -> Behaviour:
    return Behaviour(files=dict(sample.archives))


@pytest.fixture
def base_url(state: Behaviour):
    with serve(state) as url:
        yield url


def _sources(tmp_path: Path, sample: Sample, base_url: str, edit=None):
    spec = coco_sources(sample, base_url, tmp_path / "downloads", str(tmp_path / "coco"))
    if edit:
        edit(spec)
    write_sources(tmp_path / "params", spec)
    return load_sources(tmp_path / "params")


def _leftovers(folder: Path) -> list[str]:
    """Staging or unpack folders left beside the final ones."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) \
        if folder.exists() else []


def test_clean_fetch_builds_the_coco_layout(tmp_path, sample, state, base_url) -> None:
    sources = _sources(tmp_path, sample, base_url)
    for name in DOWNLOADABLE:
        result = fetch_source(sources, name, progress=False)
        assert result.status == "fetched" and result.downloaded
    coco = tmp_path / "coco"
    assert sorted(p.name for p in (coco / "train2017").glob("*.jpg")) == \
        sorted(p.name for p in (sample.folder / "train2017").glob("*.jpg"))
    assert (coco / "val2017" / next((sample.folder / "val2017").iterdir()).name).read_bytes() \
        == next((sample.folder / "val2017").iterdir()).read_bytes()
    # `take` keeps the keypoint files and the test-dev image info, nothing else of the archives
    assert sorted(p.name for p in (coco / "annotations").iterdir() if p.name != STAMP) == [
        "image_info_test-dev2017.json", "person_keypoints_train2017.json",
        "person_keypoints_val2017.json"]
    stamp = json.loads((coco / "val2017" / STAMP).read_text())
    assert stamp["layout"] == {"images": {"images": sample.counts["val"]}}
    assert all(state.count(p) == 1 for p in sample.archives)
    assert list((tmp_path / "downloads").iterdir()) == []  # archives deleted once unpacked
    assert _leftovers(coco) == []


def test_rerun_downloads_nothing(tmp_path, sample, state, base_url) -> None:
    sources = _sources(tmp_path, sample, base_url)
    for name in DOWNLOADABLE:
        fetch_source(sources, name, progress=False)
    before = len(state.requests)
    for name in DOWNLOADABLE:
        result = fetch_source(sources, name, progress=False)
        assert (result.status, result.downloaded) == ("verified", [])
    assert len(state.requests) == before


def test_resume_after_dropped_connection(tmp_path, sample, state, base_url) -> None:
    path = "/zips/val2017.zip"
    half = len(sample.archives[path]) // 2
    state.drop_after[path] = half
    sleeps: list[float] = []
    sources = _sources(tmp_path, sample, base_url)
    result = fetch_source(sources, "coco_val2017", progress=False, sleep=sleeps.append)
    assert result.status == "fetched"
    ranges = [r for p, r in state.requests if p == path]
    assert ranges == [None, f"bytes={half}-"]  # the second request asks only for the rest
    assert sleeps == [0.0]
    assert len(list((tmp_path / "coco/val2017").glob("*.jpg"))) == sample.counts["val"]


def test_partial_file_of_an_earlier_run_is_resumed(tmp_path, sample, state, base_url) -> None:
    path = "/zips/val2017.zip"
    state.drop_after[path] = 1000

    def no_retries(spec: dict) -> None:
        spec["settings"]["retries"] = 0

    sources = _sources(tmp_path, sample, base_url, no_retries)
    with pytest.raises(DataError, match="failed after 1 attempts.*resumes it"):
        fetch_source(sources, "coco_val2017", progress=False)
    assert not (tmp_path / "coco/val2017").exists()
    assert (tmp_path / "downloads/val2017.zip.part").stat().st_size == 1000
    fetch_source(sources, "coco_val2017", progress=False)  # a later run: the job restarted
    assert [r for p, r in state.requests if p == path] == [None, "bytes=1000-"]


def test_server_ignoring_range_restarts_from_zero(tmp_path, sample, state, base_url) -> None:
    path = "/zips/val2017.zip"
    state.drop_after[path] = 1000
    state.ignore_range = True
    sources = _sources(tmp_path, sample, base_url)
    assert fetch_source(sources, "coco_val2017", progress=False).status == "fetched"
    assert len(list((tmp_path / "coco/val2017").glob("*.jpg"))) == sample.counts["val"]


def test_corrupted_archive_is_rejected_before_unpacking(tmp_path, sample, state,
                                                         base_url) -> None:
    state.corrupt.add("/zips/train2017.zip")
    sources = _sources(tmp_path, sample, base_url)
    with pytest.raises(DataError, match=r"train2017.zip: md5 \w+ expected, found md5") as err:
        fetch_source(sources, "coco_train2017", progress=False)
    assert "deleted before anything was unpacked" in str(err.value)
    assert not (tmp_path / "coco/train2017").exists()
    assert _leftovers(tmp_path / "coco") == []
    assert list((tmp_path / "downloads").iterdir()) == []


def test_truncated_archive_without_checksum_fails_to_unpack(tmp_path, sample, state,
                                                            base_url) -> None:
    path = "/zips/val2017.zip"
    state.files[path] = sample.archives[path][: len(sample.archives[path]) * 2 // 3]

    def unpublished(spec: dict) -> None:  # no size, no checksum: only unpacking can tell
        f = spec["sources"]["coco_val2017"]["files"][0]
        del f["size"], f["md5"]

    sources = _sources(tmp_path, sample, base_url, unpublished)
    with pytest.raises(DataError, match="cannot unpack as zip.*truncated or corrupt"):
        fetch_source(sources, "coco_val2017", progress=False)
    assert not (tmp_path / "coco/val2017").exists()
    assert _leftovers(tmp_path / "coco") == []


def test_wrong_annotation_file_is_rejected(tmp_path, sample, state, base_url) -> None:
    """An instances file where the keypoints file should be: the layout check names it."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("annotations/person_keypoints_train2017.json",
                    json.dumps({"images": [], "annotations": [],
                                "categories": [{"id": 1, "name": "person"}]}))
        zf.writestr("annotations/person_keypoints_val2017.json", b"{}")
    path = "/annotations/annotations_trainval2017.zip"
    state.files[path] = buf.getvalue()

    def new_checksum(spec: dict) -> None:
        from fetch.coco_layout import md5

        f = spec["sources"]["coco_annotations"]["files"][0]
        f["size"], f["md5"] = len(buf.getvalue()), md5(buf.getvalue())

    sources = _sources(tmp_path, sample, base_url, new_checksum)
    with pytest.raises(DataError, match="person_keypoints_train2017.json: not a COCO "
                                        "person-keypoints file"):
        fetch_source(sources, "coco_annotations", progress=False)
    assert not (tmp_path / "coco/annotations").exists()


def test_missing_url_names_the_url(tmp_path, sample, state, base_url) -> None:
    del state.files["/zips/val2017.zip"]
    sources = _sources(tmp_path, sample, base_url)
    with pytest.raises(DataError, match=r"/zips/val2017.zip: HTTP 404.*params/sources.yaml"):
        fetch_source(sources, "coco_val2017", progress=False)


def test_disk_full_stops_before_downloading(tmp_path, sample, state, base_url,
                                            monkeypatch) -> None:
    monkeypatch.setattr(download_module.shutil, "disk_usage",
                        lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 10, 10))
    sources = _sources(tmp_path, sample, base_url)
    with pytest.raises(DataError, match="not enough disk space.*settings.downloads"):
        fetch_source(sources, "coco_val2017", progress=False)
    assert not (tmp_path / "coco/val2017").exists()


def test_manual_file_is_named_then_verified_once_placed(tmp_path, sample, base_url) -> None:
    sources = _sources(tmp_path, sample, base_url)
    out = tmp_path / "coco/person_detection_results"
    with pytest.raises(DataError) as err:
        fetch_source(sources, "coco_detections", progress=False)
    text = str(err.value)
    assert f"{out}/COCO_val2017_detections_AP_H_56_person.json: missing" in text
    assert "person_detection_results folder" in text and "checked by content" in text
    out.mkdir(parents=True)
    (out / "COCO_val2017_detections_AP_H_56_person.json").write_text('{"not": "a list"}')
    with pytest.raises(DataError, match="not a person detection file"):
        fetch_source(sources, "coco_detections", progress=False)
    shutil.copy(sample.detections, out / "COCO_val2017_detections_AP_H_56_person.json")
    result = fetch_source(sources, "coco_detections", progress=False)
    assert result.status == "adopted" and result.downloaded == []


def test_incomplete_existing_folder_is_never_overwritten(tmp_path, sample, state,
                                                         base_url) -> None:
    sources = _sources(tmp_path, sample, base_url)
    fetch_source(sources, "coco_val2017", progress=False)
    victim = next((tmp_path / "coco/val2017").glob("*.jpg"))
    victim.unlink()
    with pytest.raises(DataError, match="images, expected.*exists but does not check"):
        fetch_source(sources, "coco_val2017", progress=False)
    assert state.count("/zips/val2017.zip") == 1


def test_local_mirror_path(tmp_path, sample, base_url) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "val2017.zip").write_bytes(sample.archives["/zips/val2017.zip"])

    def local(spec: dict) -> None:
        spec["sources"]["coco_val2017"]["files"][0]["url"] = str(mirror / "val2017.zip")

    sources = _sources(tmp_path, sample, base_url, local)
    assert fetch_source(sources, "coco_val2017", progress=False).status == "fetched"
    assert (mirror / "val2017.zip").exists()  # the mirror is copied, never moved


def test_server_errors_are_retried_with_backoff(tmp_path, sample, state, base_url) -> None:
    """503 and 429 are transient (retried, the wait doubling); a 403 is not (stops at once)."""
    state.fail_first["/zips/val2017.zip"] = [503, 429]
    sleeps: list[float] = []

    def slow_backoff(spec: dict) -> None:
        spec["settings"]["backoff"] = 0.5

    sources = _sources(tmp_path, sample, base_url, slow_backoff)
    assert fetch_source(sources, "coco_val2017", progress=False,
                        sleep=sleeps.append).status == "fetched"
    assert sleeps == [0.5, 1.0] and state.count("/zips/val2017.zip") == 3
    state.fail_first["/zips/train2017.zip"] = [403]
    with pytest.raises(DataError, match="HTTP 403"):
        fetch_source(sources, "coco_train2017", progress=False, sleep=sleeps.append)
    assert state.count("/zips/train2017.zip") == 1 and sleeps == [0.5, 1.0]


def test_staging_left_by_a_killed_job_is_removed(tmp_path, sample, base_url) -> None:
    """A job killed mid-unpack leaves `.val2017.<random>.tmp` beside the final folder (never the
    folder itself); the next fetch removes it and builds the folder."""
    stale = tmp_path / "coco/.val2017.abc123.tmp"
    (stale / "half").mkdir(parents=True)
    sources = _sources(tmp_path, sample, base_url)
    assert fetch_source(sources, "coco_val2017", progress=False).status == "fetched"
    assert not stale.exists() and _leftovers(tmp_path / "coco") == []
