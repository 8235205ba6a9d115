"""Assemble synthetic people into file trees in the exact raw formats.

Each builder returns ``{relative path: file bytes}``; writing is the caller's job.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..formats import camera, market1501, pa100k, peta, rapv2, upar, upar_pickle
from ..formats.images import encode_jpeg, encode_png
from .people import Person, Style, render, sample_person, sample_style

THUMBS_DB = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)  # OLE header, as Windows writes
MARKET_README = b"Synthetic Market-1501-style data written by knowledge_assembly.synthetic\r\n"


def _jpeg(
    person: Person | None, style: Style, rng: np.random.Generator, size: tuple[int, int], crop: float = 1.0
) -> bytes:
    return encode_jpeg(render(person, style, rng, size, crop), quality=style.quality)


def _ranged(rng: np.random.Generator, bounds: list[int]) -> int:
    return int(rng.integers(bounds[0], bounds[1] + 1))


def _crop_size(rng: np.random.Generator, params: dict[str, Any]) -> tuple[int, int]:
    """(width, height) of a crop of varying size: a width of ``width_range``, a height of ``aspect_range`` times it."""
    width = _ranged(rng, params["width_range"])
    return width, int(width * rng.uniform(*params["aspect_range"]))


def market1501_files(
    params: dict[str, Any], rng: np.random.Generator, size: tuple[int, int]
) -> tuple[dict[str, bytes], pd.DataFrame]:
    """Market-1501-v15.09.15 tree and the UPAR labels of its training images."""
    cameras = params["cameras"]
    styles = {cam: sample_style(rng, "market") for cam in range(1, cameras + 1)}
    n_train, n_test = params["train_ids"], params["test_ids"]
    pids = np.sort(rng.choice(np.arange(1, 1502), n_train + n_test, replace=False))
    is_train = np.zeros(len(pids), dtype=bool)
    is_train[rng.choice(len(pids), n_train, replace=False)] = True
    files: dict[str, bytes] = {"readme.txt": MARKET_README}
    labels: list[tuple[str, np.ndarray]] = []
    frames = iter(rng.permutation(np.arange(1, 200000))[: 20 * (n_train + n_test) * cameras + 1000])

    def add(folder: str, pid: int, cam: int, person: Person | None, bbox: int, crop: float = 1.0) -> str:
        name = market1501.format_name(pid, cam, int(rng.integers(1, 7)), int(next(frames)), bbox)
        files[f"{folder}/{name}"] = _jpeg(person, styles[cam], rng, size, crop)
        return name

    sizes = _exact_sizes(params, is_train, rng) if params.get("images") else None
    for i, (pid, train) in enumerate(zip(pids.tolist(), is_train)):
        person = sample_person(rng)
        n_cams = sizes.cameras[i] if sizes else _ranged(rng, params["cameras_per_id"])
        cams = rng.choice(np.arange(1, cameras + 1), n_cams, replace=False)
        for cam in cams.tolist():
            if not train:
                add("query", pid, cam, person, 0)
            count = next(sizes.boxes) if sizes else _ranged(rng, params["images_per_camera"])
            for bbox in range(1, count + 1):
                name = add("bounding_box_train" if train else "bounding_box_test", pid, cam, person, bbox)
                if train:
                    labels.append((f"Market1501/bounding_box_train/{name}", person.attributes))
    for _ in range(params["distractors"]):
        person = sample_person(rng) if rng.random() < 0.7 else None
        add(
            "bounding_box_test",
            0,
            int(rng.integers(1, cameras + 1)),
            person,
            int(rng.integers(1, 9)),
            float(rng.uniform(0.5, 0.9)),
        )
    for _ in range(params["junk"]):
        add(
            "bounding_box_test",
            -1,
            int(rng.integers(1, cameras + 1)),
            sample_person(rng),
            int(rng.integers(1, 9)),
            float(rng.uniform(0.25, 0.45)),
        )
    files["bounding_box_train/Thumbs.db"] = THUMBS_DB
    files["bounding_box_test/Thumbs.db"] = THUMBS_DB
    return files, _label_frame(labels)


@dataclass
class _Sizes:
    cameras: np.ndarray  # cameras per identity
    boxes: Iterator[int]  # boxes per (identity, camera), in the order the identities are written


def _exact_sizes(params: dict[str, Any], is_train: np.ndarray, rng: np.random.Generator) -> _Sizes:
    """Cameras per identity and boxes per identity and camera that give exactly ``params["images"]``'s train,
    query and gallery counts (e.g. Market-1501's 12,936 / 3,368 / 13,115 + distractors), within the ranges."""
    images, low, high = params["images"], *params["cameras_per_id"]
    cameras = np.empty(len(is_train), dtype=np.int64)
    cameras[~is_train] = _spread(images["query"], int((~is_train).sum()), low, high, rng, "query")
    cameras[is_train] = rng.integers(low, high + 1, int(is_train.sum()))
    train_boxes = iter(_spread(images["train"], int(cameras[is_train].sum()), 1, 10**6, rng, "train"))
    test_boxes = iter(_spread(images["gallery"], int(cameras[~is_train].sum()), 1, 10**6, rng, "gallery"))
    boxes = [next(train_boxes if train else test_boxes) for train, n in zip(is_train, cameras) for _ in range(n)]
    return _Sizes(cameras, iter(boxes))


def _spread(total: int, slots: int, low: int, high: int, rng: np.random.Generator, what: str) -> np.ndarray:
    """``slots`` random integers in [low, high] that sum to ``total``."""
    if not slots * low <= total <= slots * high:
        raise ValueError(f"synthetic {what}: {total} cannot be spread over {slots} slots of {low}..{high}")
    counts = np.full(slots, low, dtype=np.int64)
    while (remaining := total - int(counts.sum())) > 0:
        open_slots = np.flatnonzero(counts < high)
        counts[open_slots] += rng.multinomial(remaining, np.full(len(open_slots), 1 / len(open_slots)))
        counts = np.minimum(counts, high)
    return counts


def pa100k_files(params: dict[str, Any], rng: np.random.Generator) -> tuple[dict[str, bytes], pd.DataFrame]:
    """PA-100K tree (``annotation.mat`` + ``release_data/release_data``) and its UPAR labels."""
    styles = [sample_style(rng, "pa100k") for _ in range(params["scenes"])]
    counts = {split: params[split] for split in pa100k.SPLITS}
    files: dict[str, bytes] = {}
    names: dict[str, list[str]] = {s: [] for s in pa100k.SPLITS}
    labels26: dict[str, list[np.ndarray]] = {s: [] for s in pa100k.SPLITS}
    upar_rows: list[tuple[str, np.ndarray]] = []
    index = 0
    for split in pa100k.SPLITS:
        for _ in range(counts[split]):
            index += 1
            name = f"{index:06d}.jpg"
            person = sample_person(rng)
            size = _crop_size(rng, params)
            files[f"release_data/release_data/{name}"] = _jpeg(person, styles[rng.integers(len(styles))], rng, size)
            names[split].append(name)
            labels26[split].append(pa100k_labels(person))
            upar_rows.append((f"PA100k/release_data/release_data/{name}", person.attributes))
    annotation = pa100k.PA100KAnnotation(
        list(pa100k.PA100K_ATTRIBUTES),
        names,
        {s: np.array(labels26[s], dtype=np.uint8).reshape(-1, 26) for s in pa100k.SPLITS},
    )
    files["annotation.mat"] = pa100k.annotation_bytes(annotation)
    return files, _label_frame(upar_rows)


def pa100k_labels(person: Person) -> np.ndarray:
    """PA-100K's 26 labels implied by a synthetic person (all rendered facing the camera)."""
    has = person.has
    short_low, skirt = has("LowerBody-Length-Short"), has("LowerBody-Type-Skirt&Dress")
    values = {
        "Female": has("Gender-Female"),
        "AgeOver60": has("Age-Old"),
        "Age18-60": has("Age-Adult"),
        "AgeLess18": has("Age-Young"),
        "Front": True,
        "Hat": has("Accessory-Hat"),
        "Glasses": has("Accessory-Glasses-Normal") or has("Accessory-Glasses-Sun"),
        "HandBag": has("Accessory-Bag"),
        "Backpack": has("Accessory-Backpack"),
        "ShortSleeve": has("UpperBody-Length-Short"),
        "LongSleeve": not has("UpperBody-Length-Short"),
        "UpperStride": has("UpperBody-Color-Other"),
        "LowerStripe": has("LowerBody-Color-Other"),
        "Trousers": not skirt and not short_low,
        "Shorts": not skirt and short_low,
        "Skirt&Dress": skirt,
    }
    return np.array([int(values.get(name, False)) for name in pa100k.PA100K_ATTRIBUTES], dtype=np.uint8)


def _label_frame(rows: list[tuple[str, np.ndarray]]) -> pd.DataFrame:
    names = list(upar.UPAR_ATTRIBUTES)
    matrix = np.array([r[1] for r in rows], dtype=np.uint8).reshape(-1, len(names))
    return pd.concat([pd.DataFrame({"image": [r[0] for r in rows]}), pd.DataFrame(matrix, columns=names)], axis=1)


def peta_files(params: dict[str, Any], rng: np.random.Generator) -> tuple[dict[str, bytes], pd.DataFrame]:
    """PETA as UPAR lays it out (``images/NNNNN.png``, PNG crops of varying size) and its UPAR labels."""
    styles = [sample_style(rng, "peta") for _ in range(params["scenes"])]
    files: dict[str, bytes] = {}
    upar_rows: list[tuple[str, np.ndarray]] = []
    for index in range(1, params["images"] + 1):
        person = sample_person(rng)
        size = _crop_size(rng, params)
        name = peta.image_path(index)
        files[name] = encode_png(render(person, styles[rng.integers(len(styles))], rng, size))
        upar_rows.append((f"PETA/{name}", person.attributes))
    return files, _label_frame(upar_rows)


def rapv2_files(params: dict[str, Any], rng: np.random.Generator) -> tuple[dict[str, bytes], pd.DataFrame]:
    """RAPv2 as the original UPAR release labels it (``RAP_dataset/<name>.png``, PNG crops of varying size) and its
    UPAR rows under ``upar_prefix`` (as ``ingestion.upar.rapv2_prefix``)."""
    styles = [sample_style(rng, "rapv2") for _ in range(params["cameras"])]
    files: dict[str, bytes] = {}
    upar_rows: list[tuple[str, np.ndarray]] = []
    for target in range(params["images"]):
        person, camera_index = sample_person(rng), int(rng.integers(len(styles)))
        size = _crop_size(rng, params)
        name = rapv2.image_path(camera_index + 1, int(rng.integers(1, 28)), target, int(rng.integers(1, 5000)))
        files[name] = encode_png(render(person, styles[camera_index], rng, size))
        upar_rows.append((params["upar_prefix"].rstrip("/") + "/" + name, person.attributes))
    return files, _label_frame(upar_rows)


def camera_files(params: dict[str, Any], rng: np.random.Generator) -> dict[str, bytes]:
    """A team's night cameras in the ``camera_folders`` layout (:mod:`..formats.camera`): unlabelled crops of
    ``train_people`` passers-by in ``images/``, held-out identities in ``query/`` and ``bounding_box_test/`` and their
    attributes in ``attributes.csv`` (evaluation only). Crops are smaller than Market-1501's."""
    cameras, size = params["cameras"], tuple(params["image_size"])
    styles = {cam: sample_style(rng, "night") for cam in range(1, cameras + 1)}
    files: dict[str, bytes] = {}
    crops = iter(range(1, params["train_people"] * params["crops_per_person"] + 1))
    for _ in range(params["train_people"]):
        person = sample_person(rng)
        for _ in range(params["crops_per_person"]):
            style = styles[int(rng.integers(1, cameras + 1))]
            files[f"{camera.TRAIN_FOLDER}/{next(crops):06d}.jpg"] = _jpeg(person, style, rng, size)
    labels: list[tuple[str, np.ndarray]] = []
    pids = np.sort(rng.choice(np.arange(1, 10000), params["test_ids"], replace=False))
    frames = iter(rng.permutation(np.arange(1, 200000)))
    for pid in pids.tolist():
        person = sample_person(rng)
        n_cams = _ranged(rng, params["cameras_per_id"])
        for cam in rng.choice(np.arange(1, cameras + 1), n_cams, replace=False).tolist():
            gallery = _ranged(rng, params["images_per_camera"])
            boxes = [("query", 0)] + [("bounding_box_test", bbox) for bbox in range(1, gallery + 1)]
            for folder, bbox in boxes:
                name = market1501.format_name(pid, cam, 1, int(next(frames)), bbox)
                files[f"{folder}/{name}"] = _jpeg(person, styles[cam], rng, size)
                labels.append((f"{folder}/{name}", person.attributes))
    for _ in range(params["distractors"]):
        cam = int(rng.integers(1, cameras + 1))
        name = market1501.format_name(0, cam, 1, int(next(frames)), int(rng.integers(1, 9)))
        files[f"bounding_box_test/{name}"] = _jpeg(sample_person(rng), styles[cam], rng, size)
    files[camera.ATTRIBUTES_FILE] = upar.to_csv_bytes(_label_frame(labels), list(upar.UPAR_ATTRIBUTES))
    return files


def reid_folder_files(params: dict[str, Any], rng: np.random.Generator) -> dict[str, bytes]:
    """A second reID dataset, a campus's labelled cameras, in Market-1501's folder layout
    (:mod:`..formats.reid_folders`, names ``<pid>_c<camera>_f<frame>.jpg``): ``train_ids`` training identities,
    ``test_ids`` held-out ones with one query per camera they appear in; crops of varying size."""
    cameras = params["cameras"]
    styles = {cam: sample_style(rng, "campus") for cam in range(1, cameras + 1)}
    pids = rng.choice(np.arange(1, 10000), params["train_ids"] + params["test_ids"], replace=False)
    frames = iter(rng.permutation(np.arange(1, 10**7)))
    files: dict[str, bytes] = {}
    for index, pid in enumerate(pids.tolist()):
        person, train = sample_person(rng), index < params["train_ids"]
        for cam in rng.choice(np.arange(1, cameras + 1), _ranged(rng, params["cameras_per_id"]), replace=False):
            boxes = _ranged(rng, params["images_per_camera"])
            folders = ["bounding_box_train"] * boxes if train else ["query"] + ["bounding_box_test"] * boxes
            for folder in folders:
                size = _crop_size(rng, params)
                files[f"{folder}/{pid:04d}_c{cam}_f{next(frames):07d}.jpg"] = _jpeg(person, styles[cam], rng, size)
    return files


RAW_TREES = ("market1501", "pa100k", "peta", "upar", "night", "rapv2", "campus")  # what synthetic_raw_data gives
CAMPUS_STREAM = 1  # the second reID dataset is drawn from its own random stream: the other trees do not depend on it


def synthetic_raw_data(params: dict[str, Any], upar_release: str = "challenge2027") -> tuple[dict[str, bytes], ...]:
    """Market-1501, PA-100K, PETA, UPAR, night-camera, RAPv2 and campus-camera file trees for ``params`` (seeded,
    reproducible; PETA, the night cameras and then RAPv2 are drawn last, the campus cameras from a stream of their
    own, so the other trees do not depend on them). The UPAR labels are laid out as the release ``upar_release``
    names: the 2027 challenge CSV or the original ``dataset_all.pkl`` (only it labels RAPv2: the RAPv2 tree is empty
    with the CSV)."""
    rng = np.random.default_rng(params["seed"])
    size = tuple(params["market1501"]["image_size"])
    market, market_labels = market1501_files(params["market1501"], rng, size)
    pa, pa_labels = pa100k_files(params["pa100k"], rng)
    petas, peta_labels = peta_files(params["peta"], rng) if params.get("peta") else ({}, None)
    night = camera_files(params["night"], rng) if params.get("night") else {}
    parts = ([market_labels] if params["upar"]["include_market1501"] else []) + [pa_labels, peta_labels]
    raps, rap_labels = {}, None
    if upar_release == "wacv2023" and params.get("rapv2"):  # only the original release labels RAPv2
        raps, rap_labels = rapv2_files(params["rapv2"], rng)
    upar_labels = pd.concat([part for part in (*parts, rap_labels) if part is not None], ignore_index=True)
    if upar_release == "wacv2023":
        partitions = upar_partitions(upar_labels, params)
        layout = upar_pickle.to_pickle_bytes(upar_labels, list(upar.UPAR_ATTRIBUTES), partitions)
        upar_files = {params["upar"]["pickle_name"]: layout}
    else:
        upar_files = {params["upar"]["csv_name"]: upar.to_csv_bytes(upar_labels, list(upar.UPAR_ATTRIBUTES))}
    campus_rng = np.random.default_rng([params["seed"], CAMPUS_STREAM])
    campus = reid_folder_files(params["campus"], campus_rng) if params.get("campus") else {}
    return market, pa, petas, upar_files, night, raps, campus


def upar_partitions(labels: pd.DataFrame, params: dict[str, Any]) -> list[dict[str, list[np.ndarray]]]:
    """The original UPAR release's partitions of the labelled rows: per partition k, each split's row indices, one
    array per dataset: PA-100K by its own split (the same in every partition), PETA (and RAPv2, where there is)
    by a permutation seeded by k (``upar.peta_fractions``), Market-1501 in test."""
    images = labels["image"]
    pa_counts = [params["pa100k"][split] for split in pa100k.SPLITS]
    pa_rows = np.flatnonzero(images.str.startswith("PA100k/"))
    pa_splits = dict(zip(pa100k.SPLITS, np.split(pa_rows, np.cumsum(pa_counts)[:-1])))
    market_rows = np.flatnonzero(images.str.startswith("Market1501/"))
    seeded = [np.flatnonzero(images.str.startswith("PETA/"))]  # split by a permutation seeded by the partition
    rap_rows = np.flatnonzero(images.str.startswith(params["rapv2"]["upar_prefix"])) if params.get("rapv2") else []
    seeded += [rap_rows] if len(rap_rows) else []
    partitions = []
    for k in range(params["upar"]["partitions"]):
        partition = {name: [pa_splits[name]] for name in peta.SPLITS}
        for rows in seeded:
            split = peta.split_of(images.iloc[rows].reset_index(drop=True), params["upar"]["peta_fractions"], k)
            for name in peta.SPLITS:
                partition[name].append(rows[(split == name).to_numpy()])
        partition["test"].append(market_rows)
        partitions.append(partition)
    return partitions
