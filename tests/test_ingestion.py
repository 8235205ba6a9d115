"""Raw folders → Parquet manifests through real Kedro sessions, on good and bad input."""

from __future__ import annotations

import json
import logging
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import scipy.io
from kedro.io import DatasetError

from knowledge_assembly.formats import market1501, upar
from knowledge_assembly.formats.errors import RawDataError
from knowledge_assembly.formats.pa100k import annotation_bytes, read_annotation

REID_MANIFESTS = ("reid_train", "reid_query", "reid_gallery")  # sources.market1501's


def _manifest(project, name: str) -> pd.DataFrame:
    return pd.read_parquet(project.primary() / f"{name}.parquet")


def test_manifests_from_synthetic_raw_data(raw_project):
    raw_project.run(["ingestion"])
    market = raw_project.raw("market1501")
    train, query, gallery = (_manifest(raw_project, n) for n in REID_MANIFESTS)
    assert len(train) == len(list((market / "bounding_box_train").glob("*.jpg")))
    assert len(query) == len(list((market / "query").glob("*.jpg")))
    gallery_files = [p.name for p in (market / "bounding_box_test").glob("*.jpg")]
    assert len(gallery) == sum(not n.startswith("-1_") for n in gallery_files)
    assert -1 not in set(gallery["pid"]) and 0 in set(gallery["pid"])
    assert sorted(train["label"].unique()) == list(range(train["pid"].nunique()))
    assert (train.groupby("pid")["label"].nunique() == 1).all()
    for frame in (train, query, gallery):
        assert frame["camid"].between(0, 5).all()
        assert all((market / p).is_file() for p in frame["path"])
        assert not frame["path"].str.startswith("/").any()
    row = train.iloc[0]
    parsed = market1501.parse_name(row["path"].split("/")[1])
    assert (row["pid"], row["camid"]) == (parsed.pid, parsed.camid)

    attributes = json.loads((raw_project.primary() / "par_attributes.json").read_text())
    assert attributes == list(upar.UPAR_ATTRIBUTES)
    pa = raw_project.raw("pa100k")
    mat = read_annotation(pa / "annotation.mat")
    _, labels = upar.read_csv(raw_project.raw("upar") / "UPAR-Challenge-2027_task1_train_gt.csv")
    labels = labels.set_index("image")
    for split in ("train", "val", "test"):
        par = _manifest(raw_project, f"par_{split}")
        assert list(par["image"]) == mat.names[split]
        assert list(par.columns) == ["path", "image"] + list(upar.UPAR_ATTRIBUTES)
        assert all((pa / p).is_file() for p in par["path"])
        expected = labels.loc["PA100k/" + par["path"], list(upar.UPAR_ATTRIBUTES)].to_numpy()
        np.testing.assert_array_equal(par[list(upar.UPAR_ATTRIBUTES)].to_numpy(), expected)


def _reference_names(reference, listing: str) -> list[str]:
    return (reference / "market1501_lists" / listing).read_text().split()


def test_every_real_market1501_name_parses(reference):
    """The real file lists (36k names, .jpg.jpg quirks, Thumbs.db) index like torchreid's loader."""
    frames = {
        split: market1501.index_names(_reference_names(reference, f"{folder}.txt"), folder, folder)
        for split, folder in market1501.SPLIT_FOLDERS.items()
    }
    train, query, gallery = frames["train"], frames["query"], market1501.drop_junk(frames["gallery"])
    assert (len(train), train["pid"].nunique()) == (12936, 751)
    assert (len(query), query["pid"].nunique()) == (3368, 750)
    assert len(frames["gallery"]) == 19732 and len(gallery) == 15913 and (gallery["pid"] == 0).sum() == 2798
    assert set(train["camid"]) == set(range(6)) == set(gallery["camid"])
    quirk = query[query["path"] == "query/1488_c1s6_023021_00.jpg.jpg"].iloc[0]
    assert (quirk["pid"], quirk["camid"], quirk["seq"], quirk["frame"], quirk["bbox"]) == (1488, 0, 6, 23021, 0)
    relabelled = market1501.relabel(train)
    assert relabelled["label"].max() == 750 and relabelled.loc[relabelled["pid"] == 2, "label"].unique().tolist() == [0]


def test_real_market1501_file_tree_through_kedro(project, synthetic_raw_cache, reference):
    """A tree of empty files with every real name, ingested by a real session (image check off)."""
    market = project.data / "01_raw" / "real_names" / "Market-1501-v15.09.15"
    for folder in market1501.SPLIT_FOLDERS.values():
        (market / folder).mkdir(parents=True)
        for name in _reference_names(reference, f"{folder}.txt"):
            (market / folder / name).touch()
    shutil.copytree(synthetic_raw_cache, project.data / "01_raw" / "synthetic")
    project.write_env(
        "names",
        globals={
            "dataset": "names",
            "raw": {
                "market1501": str(market),
                **{name: str(project.raw(name)) for name in ("pa100k", "peta", "upar", "night", "rapv2", "campus")},
            },
        },
    )
    project.write_env(
        "names",
        parameters_ingestion={
            "ingestion": {
                "image_check": "none",
                "pa100k": {"annotation_file": "annotation.mat", "image_dir": "release_data/release_data"},
                "upar": {"csv_files": ["UPAR-Challenge-2027_task1_train_gt.csv"], "pa100k_prefix": "PA100k/"},
            }
        },
    )
    project.run(["ingestion"], env="names")
    sizes = {n: len(pd.read_parquet(project.primary("names") / f"{n}.parquet")) for n in REID_MANIFESTS}
    assert sizes == {"reid_train": 12936, "reid_query": 3368, "reid_gallery": 15913}


def test_real_upar_excerpts_parse(reference):
    first45 = reference / "UPAR-Challenge-2027_task1_train_gt.csv.EXCERPT_first45rows.csv"
    boundary = reference / "UPAR-Challenge-2027_task1_train_gt.csv.EXCERPT_market_to_pa100k_boundary.csv"
    no_image_column = reference / "UPAR-Challenge-2027_train.csv.EXCERPT_header_and_1row.csv"
    names, frame = upar.read_csv(first45)
    assert names == list(upar.UPAR_ATTRIBUTES) and len(frame) == 45
    assert frame["image"].iloc[0] == "Market1501/bounding_box_train/0002_c1s1_000451_03.jpg"
    assert frame.iloc[0][names].tolist()[:8] == [0, 1, 0, 0, 1, 0, 0, 1]
    names, frame = upar.read_csv(boundary)
    pa = frame[frame["image"].str.startswith("PA100k/")]
    assert pa["image"].tolist()[:2] == [
        "PA100k/release_data/release_data/000001.jpg",
        "PA100k/release_data/release_data/000002.jpg",
    ]
    assert pa.iloc[0]["Gender-Female"] == 1 and pa.iloc[1]["Gender-Female"] == 0
    names, frame = upar.read_csv(no_image_column)
    assert names == list(upar.UPAR_ATTRIBUTES) and len(frame) == 1 and frame.iloc[0]["Age-Adult"] == 1


def test_missing_raw_folders_are_all_named_with_how_to_get_data(project):
    message = (
        r"raw data not found:\n  \S+/Market-1501-v15\.09\.15: missing; put the Market-1501 release .*\n"
        r"  \S+/PA-100K: missing.*\n  \S+/UPAR: missing.*\nwrite the embedded synthetic default with "
        r"`kedro run --pipelines=synthetic`"
    )
    with pytest.raises(DatasetError, match=message):
        project.run(["ingestion"])


def test_synthetic_run_never_overwrites_a_real_dataset(project):
    real = project.raw("market1501")
    (real / "query").mkdir(parents=True)
    (real / "query" / "0001_c1s1_000001_00.jpg").write_bytes(b"real")
    with pytest.raises(DatasetError, match="Refusing to overwrite"):
        project.run(["synthetic"])
    assert (real / "query" / "0001_c1s1_000001_00.jpg").read_bytes() == b"real"


def test_pa100k_images_without_upar_labels_are_left_out_with_one_warning_and_an_unlabelled_split_is_named(
    raw_project, caplog
):
    """As in the UPAR 2027 challenge files (88,987 of PA-100K's 100,000 images labelled: its test split none)."""
    path = raw_project.raw("upar") / "UPAR-Challenge-2027_task1_train_gt.csv"
    original = path.read_bytes()
    lines = original.split(b"\r\n")
    path.write_bytes(b"\r\n".join(line for line in lines if b"release_data/000004.jpg" not in line))
    with caplog.at_level(logging.WARNING):
        raw_project.run(["ingestion"])
    warnings = [r.getMessage() for r in caplog.records if "have no UPAR label" in r.getMessage()]
    assert len(warnings) == 1 and "1 of " in warnings[0] and "release_data/release_data/000004.jpg" in warnings[0]
    par = {name: pd.read_parquet(raw_project.primary() / f"par_{name}.parquet") for name in ("train", "val", "test")}
    assert not any(frame["path"].str.endswith("000004.jpg").any() for frame in par.values())
    counts = re.search(r"par_train (\d+), par_val (\d+), par_test (\d+)", warnings[0]).groups()
    assert sum(map(int, counts)) == 1
    # no label on any test image: the empty split is named, and nothing is written
    before = {p: p.stat().st_mtime_ns for p in raw_project.primary().iterdir()}
    tests = set(par["test"]["path"])
    kept = [line for line in lines if line.split(b",")[0].decode().removeprefix("PA100k/") not in tests]
    path.write_bytes(b"\r\n".join(kept))
    with pytest.raises(
        RawDataError, match=r"annotation\.mat: its test split would be empty: none of PA-100K's \d+ test images"
    ):
        raw_project.run(["ingestion"])
    assert {p: p.stat().st_mtime_ns for p in raw_project.primary().iterdir()} == before


def test_upar_rows_that_are_not_used_are_named_in_warnings(raw_project, caplog):
    path = raw_project.raw("upar") / "UPAR-Challenge-2027_task1_train_gt.csv"
    lines = path.read_bytes().decode().split("\r\n")
    zeros = ",0" * 40
    extra = [
        f"PA100k/release_data/release_data/099999.jpg{zeros}",  # not in annotation.mat
        f"Market1501/bounding_box_train/9999_c1s1_000001_00.jpg{zeros}",  # not in the Market-1501 folders
        f"C:/Windows/win.jpg{zeros}",  # under neither prefix
        f"RAP/images/00001.png{zeros}",  # a dataset this project does not read
    ]
    path.write_bytes("\r\n".join([lines[0], *extra, *lines[1:]]).encode())
    with caplog.at_level(logging.WARNING):
        raw_project.run(["ingestion"])
    text = caplog.text
    assert (
        "1 UPAR PA-100K rows name images outside annotation.mat's splits; ignored: release_data/release_data/0999"
        in text
    )
    assert (
        "1 UPAR Market-1501 rows name images outside the Market-1501 folders; ignored: bounding_box_train/9999_c1"
        in text
    )
    assert "2 UPAR rows are under none of PA100k/, Market1501/, PETA/, RAPv2/ and are not used (C:/ 1, RAP/ 1)" in text
    assert "C:/Windows/win.jpg" in text and raw_project.primary().exists()


def test_annotation_round_trip_keeps_values():
    from knowledge_assembly.formats.pa100k import PA100KAnnotation

    annotation = PA100KAnnotation(
        ["a", "b"],
        {"train": ["000001.jpg"], "val": ["000002.jpg"], "test": ["000003.jpg"]},
        {s: np.array([[1, 0]], dtype=np.uint8) for s in ("train", "val", "test")},
    )
    import io

    mat = scipy.io.loadmat(io.BytesIO(annotation_bytes(annotation)))
    assert mat["train_label"].dtype == np.uint8 and mat["val_images_name"][0, 0][0] == "000002.jpg"
