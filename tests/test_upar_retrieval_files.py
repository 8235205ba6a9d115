"""UPAR task 2's files (issue 19): the real queries.csv / ids.csv excerpts read; a pair written from the synthetic
labels is evaluated through real Kedro runs exactly like the retrieval built from the same labels; bad files are
one-line errors naming the file and line, before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from knowledge_assembly.evaluation.attribute_retrieval import AttributeQueries, evaluate_retrieval
from knowledge_assembly.formats import upar
from knowledge_assembly.formats.errors import RawDataError
from knowledge_assembly.formats.upar_retrieval import read_ids, read_pair, read_queries, to_files

GT_EXCERPT = "UPAR-Challenge-2027_task1_train_gt.csv.EXCERPT_first45rows.csv"
QUERIES_EXCERPT = "UPAR-Challenge-2027_task2_val_queries.csv.EXCERPT_header_and_8_sampled_rows.csv"
IDS_EXCERPT = "UPAR-Challenge-2027_task2_val_ids.csv.EXCERPT_20_sampled_rows.csv"
VALIDATION_QUERIES = 3462  # the release's task-2 validation queries (reference README)
PAIR = {"gt": "task2/val/gt.csv", "queries": "task2/val/queries.csv", "ids": "task2/val/ids.csv"}


def test_the_real_excerpts_read(reference):
    names, _ = upar.read_csv(reference / GT_EXCERPT)
    vectors = read_queries(reference / QUERIES_EXCERPT, names, Path("gt.csv"))
    assert vectors.shape == (8, 40) and set(np.unique(vectors)) <= {0, 1}
    lines = (reference / IDS_EXCERPT).read_text().split()
    images = {line.rpartition(",")[0] for line in lines}
    rows = read_ids(reference / IDS_EXCERPT, VALIDATION_QUERIES, images, Path("gt.csv"))
    assert len(rows) == 20 and rows["Market1501/query/0001_c1s1_001051_00.jpg"] == 2352
    assert all(name.startswith("Market1501/query/") for name in rows)


def test_a_written_pair_reads_back_as_the_queries_built_from_the_labels(tmp_path):
    rng = np.random.default_rng(0)
    names = list(upar.UPAR_ATTRIBUTES)
    labels = pd.DataFrame(rng.integers(0, 2, (30, 40)).astype(np.uint8), columns=names)
    labels[names[5:]] = 0  # few distinct vectors: queries with several matches
    labels.insert(0, "image", [f"PA100k/data/{i:06d}.jpg" for i in range(30)])
    for name, data in zip(("gt", "queries", "ids"), to_files(labels, names)):
        (tmp_path / f"{name}.csv").write_bytes(data)
    pair = read_pair(*(tmp_path / f"{name}.csv" for name in ("gt", "queries", "ids")))
    assert pair.images.tolist() == labels["image"].tolist()
    assert (pair.vectors[pair.query_of] == labels[names].to_numpy()).all()
    probabilities = rng.random((30, 40)).astype(np.float32)
    from_pair = evaluate_retrieval(
        probabilities, AttributeQueries.from_matches(pair.query_of, pair.vectors[pair.query_of])
    )
    assert from_pair == evaluate_retrieval(probabilities, AttributeQueries.from_labels(labels[names].to_numpy()))


def _pair_files(tmp_path: Path, names: list[str]) -> dict[str, Path]:
    labels = pd.DataFrame(np.eye(3, 40, dtype=np.uint8), columns=names)
    labels.insert(0, "image", ["PA100k/a.jpg", "PA100k/b.jpg", "PETA/images/00001.png"])
    files = {}
    for name, data in zip(("gt", "queries", "ids"), to_files(labels, names)):
        files[name] = tmp_path / f"{name}.csv"
        files[name].write_bytes(data)
    return files


BAD_FILES = [  # file, (old, new) text, the error
    (
        "queries",
        ("Age-Young,Age-Adult", "Age-Adult,Age-Young"),
        r"header differs from gt.csv's: column 1 is 'Age-Adult'",
    ),
    ("queries", ("Age-Young,", ""), r"queries.csv: header differs from gt.csv's: lacks \['Age-Young'\]"),
    ("queries", ("\r\n1,", "\r\n2,"), r"queries.csv: line 2: expected 40 values of 0 or 1"),
    ("ids", ("b.jpg,1", "b.jpg,3"), r"ids.csv: line 2: query row 3 does not exist \(queries.csv has 3\)"),
    ("ids", ("b.jpg", "z.jpg"), r"ids.csv: line 2: image PA100k/z.jpg is not in gt.csv"),
    ("ids", ("b.jpg", "a.jpg"), r"ids.csv: line 2: image PA100k/a.jpg is listed twice"),
    ("ids", ("b.jpg,1", "b.jpg"), r"ids.csv: line 2: expected 'image,query_row'"),
]


@pytest.mark.parametrize(("file", "edit", "message"), BAD_FILES)
def test_bad_files_are_one_line_errors_naming_the_file_and_line(tmp_path, file, edit, message):
    files = _pair_files(tmp_path, list(upar.UPAR_ATTRIBUTES))
    files[file].write_bytes(files[file].read_bytes().decode().replace(*edit, 1).encode())
    with pytest.raises(RawDataError, match=message) as error:
        read_pair(files["gt"], files["queries"], files["ids"])
    assert "\n" not in str(error.value)


def _write_pair(project, labels: pd.DataFrame) -> None:
    names = list(upar.UPAR_ATTRIBUTES)
    for name, data in zip(("gt", "queries", "ids"), to_files(labels, names)):
        path = project.raw("upar") / PAIR[name]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _prefixed(project, manifest: str, prefix: str) -> pd.DataFrame:
    frame = pd.read_parquet(project.primary() / f"{manifest}.parquet")
    return frame.assign(image=prefix + frame["path"])[["image", *upar.UPAR_ATTRIBUTES]]


def test_a_pair_is_evaluated_like_the_retrieval_built_from_the_same_labels(trained):
    built = json.loads(trained.report("mtl", "metrics.json").read_text())["retrieval/pa100k"]
    _write_pair(trained, _prefixed(trained, "par_test", "PA100k/"))
    trained.run(["model_input", "evaluate_mtl"], ingestion={"upar": {"retrieval": PAIR}})
    assert len(pd.read_parquet(trained.primary() / "retrieval_gallery.parquet")) == len(
        pd.read_parquet(trained.primary() / "par_test.parquet")
    )
    # the same per-query APs, in another order (the pair lists its queries by first appearance, the built ones are
    # sorted): their mean is an exact sum, equal to the last bit
    assert json.loads(trained.report("mtl", "metrics.json").read_text())["retrieval/pa100k"] == built

    both = pd.concat([_prefixed(trained, "par_test", "PA100k/"), _prefixed(trained, "reid_attributes", "Market1501/")])
    _write_pair(trained, both)
    trained.run(["model_input", "evaluate_mtl"], ingestion={"upar": {"retrieval": PAIR}})
    gallery = pd.read_parquet(trained.primary() / "retrieval_gallery.parquet")
    sizes = {
        name: len(pd.read_parquet(trained.primary() / f"{name}.parquet")) for name in ("par_test", "reid_attributes")
    }
    assert gallery["split"].value_counts().to_dict() == sizes
    retrieval = json.loads(trained.report("mtl", "metrics.json").read_text())["retrieval/pa100k"]
    assert (
        retrieval["queries"] == len(np.unique(both[list(upar.UPAR_ATTRIBUTES)].to_numpy(), axis=0)) > built["queries"]
    )

    # the released val gallery holds validation images too: evaluation predicts them (in their source's domain)
    with_val = pd.concat([_prefixed(trained, "par_test", "PA100k/"), _prefixed(trained, "par_val", "PA100k/")])
    _write_pair(trained, with_val)
    trained.run(["model_input", "evaluate_mtl"], ingestion={"upar": {"retrieval": PAIR}})
    gallery = pd.read_parquet(trained.primary() / "retrieval_gallery.parquet")
    sizes = {name: len(pd.read_parquet(trained.primary() / f"{name}.parquet")) for name in ("par_test", "par_val")}
    assert gallery["split"].value_counts().to_dict() == sizes
    retrieval = json.loads(trained.report("mtl", "metrics.json").read_text())["retrieval/pa100k"]
    assert retrieval["queries"] == len(np.unique(with_val[list(upar.UPAR_ATTRIBUTES)].to_numpy(), axis=0))
    assert 0 < retrieval["mAP"] <= 1


@pytest.mark.parametrize(
    ("file", "edit", "message"),
    [
        ("ids", (",1", ",7"), r"ids.csv: line 2: query row 7 does not exist \(queries.csv has 2\)"),
        ("ids", ("PA100k/x.jpg", "PA100k/y.jpg"), r"ids.csv: line 2: image PA100k/y.jpg is not in gt.csv"),
        ("queries", ("Age-Young,Age-Adult", "Age-Adult,Age-Young"), r"queries.csv: header differs from gt.csv's"),
    ],
)
def test_a_bad_pair_stops_ingestion_before_any_manifest_is_written(raw_project, file, edit, message):
    names = list(upar.UPAR_ATTRIBUTES)
    labels = pd.DataFrame(np.eye(2, 40, dtype=np.uint8), columns=names)
    labels.insert(0, "image", ["PA100k/release_data/release_data/000001.jpg", "PA100k/x.jpg"])
    _write_pair(raw_project, labels)
    path = raw_project.raw("upar") / PAIR[file]
    path.write_text(path.read_text().replace(*edit, 1))
    with pytest.raises(RawDataError, match=message) as error:
        raw_project.run(["model_input"], ingestion={"upar": {"retrieval": PAIR}})
    assert "\n" not in str(error.value)
    assert not raw_project.primary().exists() or not any(raw_project.primary().iterdir())


def test_the_peta_images_of_a_pair_are_evaluated_never_trained_on(raw_project):
    raw_project.run(["ingestion"])
    before = {split: pd.read_parquet(raw_project.primary() / f"peta_{split}.parquet") for split in ("train", "test")}
    named = pd.concat([_prefixed(raw_project, f"peta_{split}", "PETA/") for split in ("train", "test")]).iloc[::2]
    assert named["image"].isin("PETA/" + before["train"]["path"]).any()  # the seeded split trains on some of them
    _write_pair(raw_project, named)
    raw_project.run(["ingestion"], ingestion={"upar": {"retrieval": PAIR}})
    after = {split: pd.read_parquet(raw_project.primary() / f"peta_{split}.parquet") for split in ("train", "test")}
    assert not ("PETA/" + after["train"]["path"]).isin(named["image"]).any()
    assert set(after["train"]["path"]) == set(before["train"]["path"]) - {i[len("PETA/") :] for i in named["image"]}
    gallery = pd.read_parquet(raw_project.primary() / "retrieval_gallery.parquet")
    assert (gallery["split"] == "peta_test").sum() == len(named)
