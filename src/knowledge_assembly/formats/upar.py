"""UPAR attribute CSVs: ``# image,<40 attribute names>`` header, one row per image, CRLF.

Some UPAR files omit ``image`` from the header (``# Age-Young,...``); rows then
still start with the image path.
"""

from __future__ import annotations

import difflib
import io
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import RawDataError, summarise
from .paths import contained_relpath

UPAR_ATTRIBUTES = (
    "Age-Young",
    "Age-Adult",
    "Age-Old",
    "Gender-Female",
    "Hair-Length-Short",
    "Hair-Length-Long",
    "Hair-Length-Bald",
    "UpperBody-Length-Short",
    "UpperBody-Color-Black",
    "UpperBody-Color-Blue",
    "UpperBody-Color-Brown",
    "UpperBody-Color-Green",
    "UpperBody-Color-Grey",
    "UpperBody-Color-Orange",
    "UpperBody-Color-Pink",
    "UpperBody-Color-Purple",
    "UpperBody-Color-Red",
    "UpperBody-Color-White",
    "UpperBody-Color-Yellow",
    "UpperBody-Color-Other",
    "LowerBody-Length-Short",
    "LowerBody-Color-Black",
    "LowerBody-Color-Blue",
    "LowerBody-Color-Brown",
    "LowerBody-Color-Green",
    "LowerBody-Color-Grey",
    "LowerBody-Color-Orange",
    "LowerBody-Color-Pink",
    "LowerBody-Color-Purple",
    "LowerBody-Color-Red",
    "LowerBody-Color-White",
    "LowerBody-Color-Yellow",
    "LowerBody-Color-Other",
    "LowerBody-Type-Trousers&Shorts",
    "LowerBody-Type-Skirt&Dress",
    "Accessory-Backpack",
    "Accessory-Bag",
    "Accessory-Glasses-Normal",
    "Accessory-Glasses-Sun",
    "Accessory-Hat",
)


def parse_header(line: str, path: Path) -> list[str]:
    """Attribute names from the ``# ...`` header line."""
    if not line.startswith("#"):
        raise RawDataError(path, f"first line must be a '# image,<attributes>' header, found {line[:60]!r}")
    names = [name.strip() for name in line.lstrip("#").strip().split(",")]
    if names and names[0] == "image":
        names = names[1:]
    if not names or any(not name for name in names):
        raise RawDataError(path, "header has an empty attribute name")
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise RawDataError(path, f"header repeats attribute(s) {duplicated}")
    differences = header_differences(names)
    if differences:
        raise RawDataError(path, f"header must list exactly the {len(UPAR_ATTRIBUTES)} UPAR attributes: {differences}")
    return names


def header_differences(names: list[str]) -> str:
    """What ``names`` lacks and has beyond UPAR's attributes, with the closest UPAR name of each unknown one."""
    missing = [name for name in UPAR_ATTRIBUTES if name not in names]
    unknown = [name for name in names if name not in UPAR_ATTRIBUTES]
    parts = [f"missing {missing}"] if missing else []
    for name in unknown:
        closest = difflib.get_close_matches(name, UPAR_ATTRIBUTES, n=1, cutoff=0.5)
        parts.append(f"unknown {name!r}" + (f" (closest: {closest[0]!r})" if closest else ""))
    return "; ".join(parts)


def read_csv(path: Path) -> tuple[list[str], pd.DataFrame]:
    """Read one UPAR CSV: attribute names and a frame ``image`` + one uint8 column each.

    Values outside {0, 1}, short/long rows, duplicate images and paths that
    escape the dataset root raise :class:`RawDataError` naming the file and line.
    """
    header, _, body = read_text(path, "UPAR annotation CSV").partition("\n")
    names = parse_header(header.rstrip("\r"), path)
    lines = body.splitlines()
    bad_width = [i for i, line in enumerate(lines) if line.strip() and line.count(",") != len(names)]
    if bad_width:
        i = bad_width[0]
        raise RawDataError(
            path,
            f"line {i + 2} has {lines[i].count(',') + 1} fields, "
            f"expected {len(names) + 1} (image + {len(names)} attributes)",
        )
    if not any(line.strip() for line in lines):
        return names, pd.DataFrame(
            {"image": pd.Series([], dtype=str), **{n: pd.Series([], dtype=np.uint8) for n in names}}
        )
    frame = pd.read_csv(
        io.StringIO(body),
        header=None,
        names=["image", *names],
        dtype=str,
        skip_blank_lines=True,
        keep_default_na=False,
    )
    values = frame[names].to_numpy()
    invalid = ~np.isin(values, ("0", "1"))
    if invalid.any():
        row, col = np.argwhere(invalid)[0]
        raise RawDataError(
            path, f"line {_line_of(lines, row)}: value {values[row, col]!r} for '{names[col]}' is not 0 or 1"
        )
    images = pd.Series([contained_relpath(image, path) for image in frame["image"]], name="image")
    duplicated = sorted(set(images[images.duplicated()]))
    if duplicated:
        raise RawDataError(path, f"image(s) listed twice: {summarise(duplicated)}")
    labels = pd.DataFrame((values == "1").astype(np.uint8), columns=names)
    return names, pd.concat([images, labels], axis=1)


def read_text(path: Path, what: str) -> str:
    """A UPAR file's text (a byte-order mark dropped); a missing or unreadable file is a :class:`RawDataError`."""
    if not path.is_file():
        raise RawDataError(path, f"{what} is missing")
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise RawDataError(path, f"unreadable ({err})") from None


def _line_of(lines: list[str], row: int) -> int:
    """1-based file line of the ``row``-th non-blank data line."""
    seen = -1
    for i, line in enumerate(lines):
        if line.strip():
            seen += 1
            if seen == row:
                return i + 2
    return row + 2


def to_csv_bytes(labels: pd.DataFrame, names: list[str]) -> bytes:
    """Write a frame (``image`` + ``names`` columns) in UPAR's format, CRLF line ends."""
    lines = ["# image," + ",".join(names)]
    values = labels[names].to_numpy(dtype=np.uint8)
    for image, row in zip(labels["image"], values):
        lines.append(image + "," + ",".join(map(str, row)))
    return crlf_bytes(lines)


def crlf_bytes(lines: list[str]) -> bytes:
    """UTF-8 lines, each ended by CRLF (as UPAR's files are)."""
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def folder(prefix: str) -> str:
    """``prefix`` (UPAR's folder of one dataset's images, e.g. ``PETA`` or ``PETA/``) with exactly one trailing
    slash: what UPAR's name of each of that dataset's images starts with."""
    return prefix.rstrip("/") + "/"
