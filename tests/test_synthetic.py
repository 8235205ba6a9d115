"""The synthetic pipeline writes the real raw formats, and its pictures carry the labels."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest
import scipy.io
from PIL import Image

from knowledge_assembly.formats import market1501, upar
from knowledge_assembly.formats.pa100k import PA100K_ATTRIBUTES
from knowledge_assembly.synthetic.people import COLOURS, Style, render, sample_person
from knowledge_assembly.synthetic.raw_formats import synthetic_raw_data

from .conftest import TINY_SYNTHETIC


def test_market1501_tree_has_real_folders_names_and_sizes(synthetic_raw_cache):
    root = synthetic_raw_cache / "Market-1501-v15.09.15"
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == ["bounding_box_test", "bounding_box_train", "query"]
    jpgs = sorted(root.glob("*/*.jpg"))
    assert jpgs and all(market1501.NAME_PATTERN.match(p.name) for p in jpgs)
    gallery = [p.name for p in (root / "bounding_box_test").glob("*.jpg")]
    assert sum(n.startswith("-1_") for n in gallery) == TINY_SYNTHETIC["market1501"]["junk"]
    assert sum(n.startswith("0000_") for n in gallery) == TINY_SYNTHETIC["market1501"]["distractors"]
    assert all(p.name.endswith("_00.jpg") for p in (root / "query").glob("*.jpg"))
    assert (root / "bounding_box_train" / "Thumbs.db").is_file()
    for path in jpgs[:20]:
        with Image.open(path) as image:
            assert (image.format, image.size) == ("JPEG", (64, 128))
    train_pids = {market1501.parse_name(p.name).pid for p in (root / "bounding_box_train").glob("*.jpg")}
    test_pids = {market1501.parse_name(p.name).pid for p in (root / "query").glob("*.jpg")}
    assert len(train_pids) == len(test_pids) == 8 and not train_pids & test_pids


def test_pa100k_annotation_mat_has_real_keys_shapes_and_dtypes(synthetic_raw_cache):
    root = synthetic_raw_cache / "PA-100K"
    mat = scipy.io.loadmat(root / "annotation.mat")
    assert mat["attributes"].shape == (26, 1)
    assert [str(c[0]) for c in mat["attributes"][:, 0]] == list(PA100K_ATTRIBUTES)
    for split in ("train", "val", "test"):
        names, labels = mat[f"{split}_images_name"], mat[f"{split}_label"]
        count = TINY_SYNTHETIC["pa100k"][split]
        assert names.shape == (count, 1) and names.dtype == object
        assert labels.shape == (count, 26) and labels.dtype == np.uint8
        assert set(np.unique(labels)) <= {0, 1}
        for cell in names[:, 0]:
            assert (root / "release_data" / "release_data" / str(cell[0])).is_file()
    assert str(mat["train_images_name"][0, 0][0]) == "000001.jpg"


def test_upar_csv_is_crlf_with_hash_header_and_prefixed_paths(synthetic_raw_cache):
    path = synthetic_raw_cache / "UPAR" / "UPAR-Challenge-2027_task1_train_gt.csv"
    raw = path.read_bytes()
    lines = raw.split(b"\r\n")
    assert raw.count(b"\n") == raw.count(b"\r\n") and lines[-1] == b""
    assert lines[0].decode() == "# image," + ",".join(upar.UPAR_ATTRIBUTES)
    images = [line.split(b",")[0].decode() for line in lines[1:-1]]
    assert any(i.startswith("Market1501/bounding_box_train/") for i in images)
    pa = [i for i in images if i.startswith("PA100k/release_data/release_data/")]
    assert len(pa) == sum(TINY_SYNTHETIC["pa100k"][s] for s in ("train", "val", "test"))
    names, frame = upar.read_csv(path)
    assert names == list(upar.UPAR_ATTRIBUTES) and len(frame) == len(images)
    exclusive = [
        ["Age-Young", "Age-Adult", "Age-Old"],
        ["Hair-Length-Short", "Hair-Length-Long", "Hair-Length-Bald"],
        ["LowerBody-Type-Trousers&Shorts", "LowerBody-Type-Skirt&Dress"],
    ]
    for group in exclusive:
        assert (frame[group].sum(axis=1) == 1).all()


def _digest(files: dict[str, bytes]) -> str:
    return hashlib.sha256(b"".join(k.encode() + v for k, v in sorted(files.items()))).hexdigest()


def test_generator_is_reproducible_from_its_seed():
    first, second = synthetic_raw_data(TINY_SYNTHETIC), synthetic_raw_data(TINY_SYNTHETIC)
    other = synthetic_raw_data({**TINY_SYNTHETIC, "seed": 8})
    assert [_digest(t) for t in first] == [_digest(t) for t in second]
    assert _digest(first[0]) != _digest(other[0])


def test_generator_writes_exact_real_style_sizes_when_asked():
    """The rehearsal's mode: exact train / query / gallery counts (as Market-1501's 12,936 / 3,368 / 13,115)."""
    sizes = {"train": 37, "query": 21, "gallery": 45}
    market = {**TINY_SYNTHETIC["market1501"], "cameras_per_id": [2, 6], "images": sizes}
    files = synthetic_raw_data({**TINY_SYNTHETIC, "market1501": market})[0]
    train, query, gallery = (
        [k for k in files if k.startswith(f"{folder}/") and k.endswith(".jpg")]
        for folder in ("bounding_box_train", "query", "bounding_box_test")
    )
    assert len(train) == 37 and len(query) == 21
    assert len(gallery) == 45 + market["distractors"] + market["junk"]
    test_ids = {market1501.parse_name(name.split("/")[1]).pid for name in query}
    assert len(test_ids) == market["test_ids"]  # every test identity has queries
    with pytest.raises(ValueError, match="synthetic query: 99 cannot be spread over 8 slots of 2..6"):
        synthetic_raw_data({**TINY_SYNTHETIC, "market1501": {**market, "images": {**sizes, "query": 99}}})


def _pixels(paths) -> np.ndarray:
    return np.stack(
        [np.asarray(Image.open(p).convert("RGB").resize((16, 32)), dtype=np.float32).ravel() / 255 for p in paths]
    )


def test_identity_is_learnable_from_pixels(synthetic_raw_cache):
    """Raw-pixel nearest neighbour finds the right person far above chance."""
    root = synthetic_raw_cache / "Market-1501-v15.09.15"
    query = sorted((root / "query").glob("*.jpg"))
    gallery = [p for p in sorted((root / "bounding_box_test").glob("*.jpg")) if not p.name.startswith(("-1", "0000"))]
    q_pid = np.array([market1501.parse_name(p.name).pid for p in query])
    g_pid = np.array([market1501.parse_name(p.name).pid for p in gallery])
    distance = ((_pixels(query)[:, None] - _pixels(gallery)[None]) ** 2).sum(-1)
    rank1 = (g_pid[distance.argmin(1)] == q_pid).mean()
    assert rank1 > 3 / len(set(g_pid))


NEUTRAL = Style((1.0, 1.0, 1.0), 0.0, 0.0, 0.0, (128, 128, 128), 0.0, 95)
# (attribute, what the picture shows instead): exclusive groups swap to another member.
CONTRASTS = [
    ("Age-Young", "Age-Adult"),
    ("Hair-Length-Long", "Hair-Length-Short"),
    ("Hair-Length-Bald", "Hair-Length-Short"),
    ("UpperBody-Length-Short", None),
    ("UpperBody-Color-Other", None),
    ("LowerBody-Length-Short", None),
    ("LowerBody-Type-Skirt&Dress", "LowerBody-Type-Trousers&Shorts"),
    ("LowerBody-Color-Other", None),
    ("Accessory-Backpack", None),
    ("Accessory-Bag", None),
    ("Accessory-Glasses-Normal", "Accessory-Glasses-Sun"),
    ("Accessory-Glasses-Sun", None),
    ("Accessory-Hat", None),
]
GROUPS = [
    ["Age-Young", "Age-Adult", "Age-Old"],
    ["Hair-Length-Short", "Hair-Length-Long", "Hair-Length-Bald"],
    ["LowerBody-Type-Trousers&Shorts", "LowerBody-Type-Skirt&Dress"],
    ["Accessory-Glasses-Normal", "Accessory-Glasses-Sun"],
]


def _with(person, attribute: str | None):
    labels = person.attributes.copy()
    if attribute is not None:
        for member in next((g for g in GROUPS if attribute in g), [attribute]):
            labels[upar.UPAR_ATTRIBUTES.index(member)] = 0
        labels[upar.UPAR_ATTRIBUTES.index(attribute)] = 1
    return dataclasses.replace(person, attributes=labels)


def _without(person, attribute: str):
    labels = person.attributes.copy()
    labels[upar.UPAR_ATTRIBUTES.index(attribute)] = 0
    return dataclasses.replace(person, attributes=labels)


@pytest.mark.parametrize(("attribute", "instead"), CONTRASTS)
def test_each_attribute_changes_the_picture(attribute, instead):
    """The same person rendered with an attribute and without it (or with its alternative) differs."""
    for seed in range(5):
        person = sample_person(np.random.default_rng(seed))
        if attribute.startswith("Hair"):
            person = _without(person, "Accessory-Hat")  # a hat hides the hair, as in real photos
        with_it = render(_with(person, attribute), NEUTRAL, np.random.default_rng(1))
        other = _with(_without(person, attribute), instead)
        without = render(other, NEUTRAL, np.random.default_rng(1))
        changed = np.abs(with_it.astype(int) - without.astype(int)).max(axis=-1) > 20
        assert changed.sum() >= 8, (seed, changed.sum())


def test_clothing_colour_class_is_the_nearest_colour_in_the_picture():
    """The torso's rendered colour is nearest to its UPAR colour class."""
    names = list(COLOURS)
    hits = 0
    people = [
        p for p in (sample_person(np.random.default_rng(s)) for s in range(60)) if not p.has("UpperBody-Color-Other")
    ]
    for person in people:
        pixels = render(person, NEUTRAL, np.random.default_rng(0)).astype(float)
        torso = np.median(pixels[45:60, 27:37].reshape(-1, 3), axis=0)
        nearest = names[int(np.argmin([np.abs(torso - np.array(COLOURS[n])).sum() for n in names]))]
        hits += person.has(f"UpperBody-Color-{nearest}")
    assert hits >= 0.9 * len(people)
