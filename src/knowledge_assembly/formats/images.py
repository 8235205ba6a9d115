"""JPEG checks and encoding."""

from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import RawDataError, summarise

CHECK_MODES = ("full", "header", "none")


def encode_jpeg(pixels: np.ndarray, quality: int = 90) -> bytes:
    """Encode an ``(H, W, 3)`` uint8 array as JPEG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


DECODE_ERRORS = (OSError, ValueError, Image.DecompressionBombError, SyntaxError)  # what PIL raises for bad files


def _jpeg_problem(path: Path, mode: str) -> str | None:
    try:
        if mode == "full":
            with Image.open(path) as image:
                if image.format != "JPEG":
                    return f"not a JPEG image (found {image.format})"
                image.load()
            return None
        with open(path, "rb") as handle:
            head = handle.read(3)
            handle.seek(max(os.path.getsize(path) - 64, 0))
            tail = handle.read()
    except FileNotFoundError:
        return "file does not exist"
    except Image.DecompressionBombError as err:
        return f"image too large, refused as a possible decompression bomb ({err})"
    except DECODE_ERRORS as err:  # PIL raises OSError subclasses for truncated/corrupt data
        return f"unreadable or corrupt JPEG ({err})"
    if head != b"\xff\xd8\xff":
        return "not a JPEG file (no start-of-image marker)"
    if b"\xff\xd9" not in tail:
        return "truncated JPEG (no end-of-image marker)"
    return None


def check_jpegs(paths: list[Path], mode: str = "full") -> None:
    """Raise :class:`RawDataError` naming the first bad file among ``paths``.

    ``full`` decodes every image, ``header`` checks the JPEG start/end markers,
    ``none`` skips the check.
    """
    if mode not in CHECK_MODES:
        raise ValueError(f"image_check must be one of {CHECK_MODES}, got {mode!r}")
    if mode == "none" or not paths:
        return
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        problems = list(pool.map(lambda p: _jpeg_problem(p, mode), paths, chunksize=64))
    bad = [(p, msg) for p, msg in zip(paths, problems) if msg]
    if bad:
        first, problem = bad[0]
        others = [str(p) for p, _ in bad[1:]]
        extra = f"; {len(others)} more bad images: {summarise(others)}" if others else ""
        raise RawDataError(first, problem + extra)


def decode_resized(path: Path, size: tuple[int, int]) -> np.ndarray:
    """Decode one image to RGB and resize to ``size`` = (width, height): ``(H, W, 3)`` uint8.

    A file PIL cannot decode (truncated, corrupt, a decompression bomb) raises :class:`RawDataError` naming it."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB").resize(tuple(size), Image.Resampling.BILINEAR), dtype=np.uint8)
    except Image.DecompressionBombError as err:
        raise RawDataError(path, f"image too large, refused as a possible decompression bomb ({err})") from None
    except DECODE_ERRORS as err:
        raise RawDataError(path, f"cannot decode image ({err})") from None


def decode_all(paths: list[Path], size: tuple[int, int], out: np.ndarray | None = None) -> np.ndarray:
    """Decode and resize ``paths`` in parallel into one ``(N, H, W, 3)`` uint8 array (``out``, e.g. a memory map,
    or a new one)."""
    width, height = size
    if out is None:
        out = np.empty((len(paths), height, width, 3), dtype=np.uint8)

    def fill(i: int) -> None:
        out[i] = decode_resized(paths[i], size)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(fill, range(len(paths))))
    return out


def decode_to_file(paths: list[Path], size: tuple[int, int], file: Path) -> np.memmap:
    """:func:`decode_all` into a new ``.npy`` file ``file``, memory-mapped (RAM holds no copy); removed on failure."""
    width, height = size
    out = np.lib.format.open_memmap(file, mode="w+", dtype=np.uint8, shape=(len(paths), height, width, 3))
    try:
        decode_all(paths, size, out)
        out.flush()
    except BaseException:
        del out
        Path(file).unlink(missing_ok=True)
        raise
    return out
