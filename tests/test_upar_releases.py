"""Both UPAR annotation releases: the 2027 challenge CSVs and the original (WACV'23) ``dataset_all.pkl``, read by a
restricted unpickler, through real Kedro sessions."""

from __future__ import annotations

import pathlib
import pickle
import shutil

import numpy as np
import pandas as pd
import pytest

from knowledge_assembly.formats import upar, upar_pickle
from knowledge_assembly.formats.errors import RawDataError

from .conftest import make_project

PICKLE = {"ingestion": {"upar": {"release": "wacv2023"}}}
UPAR_MANIFESTS = (  # what both releases label: the sources market1501, pa100k and peta; the gallery; the names
    *("reid_train", "reid_query", "reid_gallery", "reid_attributes", "par_train", "par_val", "par_test"),
    *("peta_train", "peta_val", "peta_test", "retrieval_gallery", "par_attributes"),
)


class _WritesFile:
    """Unpickled by a plain ``pickle.load``, this writes ``target``."""

    def __init__(self, target: pathlib.Path):
        self.target = target

    def __reduce__(self):
        return pathlib.Path.write_text, (self.target, "written by a pickle")


def _release(labels: int = 2, **fields) -> dict:
    names = list(upar.UPAR_ATTRIBUTES)
    rows = np.eye(2, len(names), dtype=np.int64) * labels // 2
    partition = {split: [np.array([i])] * 10 for i, split in enumerate(("train", "val", "test"))}
    return {"image_name": ["PA100k/a.jpg", "PA100k/b.jpg"], "label": rows, "attr_name": names, "partition": partition,
            **fields}  # fmt: skip


def test_a_pickle_that_would_run_code_is_refused_and_runs_nothing(tmp_path):
    target = tmp_path / "written.txt"
    file = tmp_path / "dataset_all.pkl"
    file.write_bytes(pickle.dumps(_release(dataset_ids=_WritesFile(target))))
    with pytest.raises(
        RawDataError, match=r"dataset_all\.pkl: refused to load pathlib\.Path\.write_text: a UPAR pickle "
    ):
        upar_pickle.read_pickle(file, 0)
    assert not target.exists()
    pickle.loads(file.read_bytes())  # the crafted file does what the test says when read without restriction
    assert target.read_text() == "written by a pickle"


@pytest.mark.parametrize(
    ("release", "message"),
    [
        (_release(labels=4), r"image PA100k/a\.jpg: label 2 for 'Age-Young' is not 0 or 1"),
        ({**_release(), "label": np.zeros((3, 40))}, r"label has shape \(3, 40\), expected \(2, 40\)"),
        ({**_release(), "attr_name": list(upar.UPAR_ATTRIBUTES)[:39]}, r"attr_name must list exactly .*Accessory-Hat"),
        ({k: v for k, v in _release().items() if k != "partition"}, r"expected a dict with keys"),
        (
            {**_release(), "partition": {"train": [[5]], "val": [[0]], "test": [[1]]}},
            r"partition\['train'\]\[0\] has index 5, not in 0\.\.1",
        ),
        (
            {**_release(), "partition": {"train": [[0]], "val": [[0]], "test": [[1]]}},
            r"partition 0: image index 0 is in both train and val",
        ),
    ],
)
def test_bad_pickle_contents_are_one_line_errors_naming_the_file(tmp_path, release, message):
    file = tmp_path / "dataset_all.pkl"
    file.write_bytes(pickle.dumps(release))
    with pytest.raises(RawDataError, match=r"dataset_all\.pkl: " + message) as err:
        upar_pickle.read_pickle(file, 0)
    assert "\n" not in str(err.value)


def test_a_partition_the_pickle_lacks_is_named(tmp_path):
    file = tmp_path / "dataset_all.pkl"
    file.write_bytes(pickle.dumps(_release()))
    with pytest.raises(RawDataError, match=r"partition\['train'\] has 10 partitions; ingestion\.upar\.partition=10"):
        upar_pickle.read_pickle(file, 10)


def test_synthetic_pickle_is_an_easydict_with_the_original_layout(project):
    project.run(["synthetic"], **PICKLE)
    upar_root = project.raw("upar")
    assert sorted(p.name for p in upar_root.iterdir() if not p.name.startswith(".")) == ["dataset_all.pkl"]
    raw = pickle.loads((upar_root / "dataset_all.pkl").read_bytes())  # our own file: safe to read unrestricted
    assert type(raw).__module__ == "easydict" and raw.attr_name == list(upar.UPAR_ATTRIBUTES)
    assert raw.label.shape == (len(raw.image_name), 40) and len(raw.dataset_ids) == len(raw.image_name)
    assert all(len(raw.partition[split]) == 10 for split in ("train", "val", "trainval", "test"))
    assert isinstance(raw.partition.test[0], list) and len(raw.partition.test[0]) == 4  # PA100k, PETA, RAPv2, Market
    np.testing.assert_array_equal(
        np.sort(raw.partition.trainval[3]), np.sort(np.hstack([raw.partition.train[3], raw.partition.val[3]]))
    )


def test_both_releases_give_the_same_manifests(project, synthetic_raw_cache, tmp_path, monkeypatch):
    """The same synthetic labels, written as the 2027 CSV or the original pickle, ingest to identical manifests (its
    partition 0 splits PETA as the CSV path's seeded split does); only the pickle labels PA-100K's test split in the
    real releases, so it is the one the paper's protocol can use."""
    project.run(["synthetic", "ingestion"], **PICKLE)
    csv = make_project(tmp_path / "csv")
    shutil.copytree(synthetic_raw_cache, csv.data / "01_raw" / "synthetic")
    monkeypatch.chdir(csv.root)
    csv.run(["ingestion"])
    for name in UPAR_MANIFESTS:
        suffix = ".json" if name == "par_attributes" else ".parquet"
        from_pickle, from_csv = (p.primary() / f"{name}{suffix}" for p in (project, csv))
        if suffix == ".json":
            assert from_pickle.read_text() == from_csv.read_text()
        else:
            pd.testing.assert_frame_equal(pd.read_parquet(from_pickle), pd.read_parquet(from_csv))
    assert len(pd.read_parquet(project.primary() / "par_test.parquet")) > 0


def test_another_partition_splits_peta_otherwise(project):
    project.run(["synthetic", "ingestion"], **PICKLE)
    first = pd.read_parquet(project.primary() / "peta_test.parquet")["path"].tolist()
    project.run(["ingestion"], ingestion={"upar": {"release": "wacv2023", "partition": 4}})
    fourth = pd.read_parquet(project.primary() / "peta_test.parquet")["path"].tolist()
    assert len(first) == len(fourth) and first != fourth


def test_an_unknown_release_is_named_with_the_closest(raw_project):
    from knowledge_assembly.config import ConfigError

    with pytest.raises(ConfigError, match=r"release='wacv2032'.*did you mean 'wacv2023'"):
        raw_project.run(["ingestion"], ingestion={"upar": {"release": "wacv2032"}})
    assert not raw_project.primary().exists() or not any(raw_project.primary().iterdir())
