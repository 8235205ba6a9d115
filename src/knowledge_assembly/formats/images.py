"""Image checks (JPEG, PNG), encoding and decoding."""

from __future__ import annotations

import errno
import io
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import NoSpaceLeftError, RawDataError, summarise

CHECK_MODES = ("full", "header", "none")


def encode_jpeg(pixels: np.ndarray, quality: int = 90) -> bytes:
    """Encode an ``(H, W, 3)`` uint8 array as JPEG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def encode_png(pixels: np.ndarray) -> bytes:
    """Encode an ``(H, W, 3)`` uint8 array as PNG bytes (PETA's format)."""
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


DECODE_ERRORS = (OSError, ValueError, Image.DecompressionBombError, SyntaxError)  # what PIL raises for bad files
# Far above any person crop (Market-1501 64x128, PA-100K and PETA well under 1 Mpx): an image whose header declares
# more is refused before it is decoded, so a few hundred bytes cannot ask for gigabytes.
DEFAULT_MAX_PIXELS = 16_000_000


def size_problem(image: Image.Image, max_pixels: int) -> str | None:
    """Why an opened (not yet decoded) image is refused: its header declares more than ``max_pixels``."""
    width, height = image.size
    if width * height <= max_pixels:
        return None
    return (
        f"declares {width}x{height} pixels ({width * height / 1e6:.0f} Mpx), over the limit of {max_pixels / 1e6:g} "
        "Mpx (ingestion.image_max_pixels); refused before decoding"
    )


def _open_header(path: Path) -> Image.Image:
    """The image with only its header read; PIL's own pixel warning is left to :func:`size_problem`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(path)


def _declared_size_problem(path: Path, max_pixels: int) -> str | None:
    """:func:`size_problem` of the image at ``path`` (its header only); ``None`` where the header cannot be read
    (the mode's own check, or decoding, names such a file)."""
    try:
        with _open_header(path) as image:
            return size_problem(image, max_pixels)
    except Image.DecompressionBombError as err:
        return f"image too large, refused as a possible decompression bomb ({err})"
    except DECODE_ERRORS:
        return None


# start and end markers of each raw image format: (first bytes, bytes within the last 64)
MARKERS = {"JPEG": (b"\xff\xd8\xff", b"\xff\xd9"), "PNG": (b"\x89PNG\r\n\x1a\n", b"IEND")}


def _image_problem(path: Path, mode: str, max_pixels: int, kind: str = "JPEG") -> str | None:
    problem = _declared_size_problem(path, max_pixels)
    if problem or mode == "none":
        return problem
    start, end = MARKERS[kind]
    try:
        if mode == "full":
            with Image.open(path) as image:
                if image.format != kind:
                    return f"not a {kind} image (found {image.format})"
                image.load()
            return None
        with open(path, "rb") as handle:
            head = handle.read(len(start))
            handle.seek(max(os.path.getsize(path) - 64, 0))
            tail = handle.read()
    except FileNotFoundError:
        return "file does not exist"
    except Image.DecompressionBombError as err:
        return f"image too large, refused as a possible decompression bomb ({err})"
    except DECODE_ERRORS as err:  # PIL raises OSError subclasses for truncated/corrupt data
        return f"unreadable or corrupt {kind} ({err})"
    if head != start:
        return f"not a {kind} file (no {'start-of-image marker' if kind == 'JPEG' else 'PNG signature'})"
    if end not in tail:
        return f"truncated {kind} ({'no end-of-image marker' if kind == 'JPEG' else 'no IEND chunk'})"
    return None


def check_images(
    paths: list[Path], mode: str = "full", max_pixels: int = DEFAULT_MAX_PIXELS, kind: str = "JPEG"
) -> None:
    """Raise :class:`RawDataError` naming the first bad file among ``paths``.

    Every mode refuses an image whose header declares more than ``max_pixels``; then ``full`` decodes every
    image, ``header`` checks the start/end markers of ``kind`` (``JPEG``, or ``PNG`` for PETA), ``none`` checks
    nothing more.
    """
    if mode not in CHECK_MODES:
        raise ValueError(f"image_check must be one of {CHECK_MODES}, got {mode!r}")
    if not paths:
        return
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        problems = list(pool.map(lambda p: _image_problem(p, mode, max_pixels, kind), paths, chunksize=64))
    bad = [(p, msg) for p, msg in zip(paths, problems) if msg]
    if bad:
        first, problem = bad[0]
        others = [str(p) for p, _ in bad[1:]]
        extra = f"; {len(others)} more bad images: {summarise(others)}" if others else ""
        raise RawDataError(first, problem + extra)


def decode_resized(path: Path, size: tuple[int, int], max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode one image to RGB and resize to ``size`` = (width, height): ``(H, W, 3)`` uint8.

    A file PIL cannot decode (truncated, corrupt, a decompression bomb) or whose header declares more than
    ``max_pixels`` raises :class:`RawDataError` naming it; the latter before any pixel is decoded."""
    try:
        with _open_header(path) as image:
            problem = size_problem(image, max_pixels)
            if not problem:
                return np.asarray(image.convert("RGB").resize(tuple(size), Image.Resampling.BILINEAR), np.uint8)
    except Image.DecompressionBombError as err:
        raise RawDataError(path, f"image too large, refused as a possible decompression bomb ({err})") from None
    except DECODE_ERRORS as err:
        raise RawDataError(path, f"cannot decode image ({err})") from None
    raise RawDataError(path, problem)


def decode_all(
    paths: list[Path], size: tuple[int, int], out: np.ndarray | None = None, max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Decode and resize ``paths`` in parallel into one ``(N, H, W, 3)`` uint8 array (``out``, e.g. a memory map,
    or a new one); each worker holds one decoded image (at most ``max_pixels``) at a time."""
    width, height = size
    if out is None:
        out = np.empty((len(paths), height, width, 3), dtype=np.uint8)

    def fill(i: int) -> None:
        out[i] = decode_resized(paths[i], size, max_pixels)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(fill, range(len(paths))))
    return out


def _reserve(file: Path) -> None:
    """Allocate every block of ``file`` now (it was created sparse); :class:`RawDataError` where the disk is full."""
    size = file.stat().st_size
    with open(file, "r+b") as handle:
        try:
            os.posix_fallocate(handle.fileno(), 0, size)
        except OSError as err:
            if err.errno != errno.ENOSPC:
                raise
            raise NoSpaceLeftError(file.parent, f"the image cache {file.name} needs {size / 1e6:.1f} MB") from None


def decode_to_file(
    paths: list[Path], size: tuple[int, int], file: Path, max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.memmap:
    """:func:`decode_all` into a new ``.npy`` file ``file``, memory-mapped (RAM holds no copy); removed on failure.

    The file's blocks are reserved before any image is written, so a full disk is a one-line error naming the
    folder, not a bus error when a page of the memory map finds no room."""
    width, height = size
    out = np.lib.format.open_memmap(file, mode="w+", dtype=np.uint8, shape=(len(paths), height, width, 3))
    try:
        _reserve(Path(file))
        decode_all(paths, size, out, max_pixels)
        out.flush()
    except BaseException:
        del out
        Path(file).unlink(missing_ok=True)
        raise
    return out
