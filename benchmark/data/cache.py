"""Decode images once, keep the decoded arrays in an on-disk cache.

Decoding
    PIL opens the file, it becomes grayscale ("L"), and is resized straight to
    ``image_size x image_size`` with bilinear filtering (Pillow antialiases when it shrinks),
    no crop, as the BUSI papers do. 16-bit and other high-bit-depth modes ("I;16", "I", "F")
    are NOT passed through Pillow's ``convert("L")``, which clips every value above 255; they are
    scaled by the smallest bit depth that holds the image's maximum (so a 16-bit export of an
    8-bit scan maps back to 0-255, a 12-bit image in a 16-bit container is not left nearly black)
    and resized in float before rounding to uint8. Alpha is dropped, not composited: RGBA and LA
    images become grayscale from their colour channels alone (BrEaST-Lesions_USG's RGBA files have
    alpha 0 over parts of the black background in some images; the alpha carries nothing).

Cache layout: one bundle per (data-set manifest, image size)
    ``<cache_dir>/images/v<VERSION>-<size>px-<key>.npz`` holding ``images`` (N x S x S uint8),
    ``sha256`` (the N content hashes) and ``key``. The key is the sha256 of the format version,
    the size and the ordered list of per-file content hashes, so renaming a file does not
    invalidate the cache but changing one byte of any file does. A bundle is the fastest form to
    load: one sequential read of N*S*S bytes (about 32 MB for BUSI at 224 px), instead of N file
    opens and header parses for per-image entries. The price, rebuilding the whole bundle when
    one file changes, is a few seconds and rare. It is stored uncompressed: reading 32 MB is
    quicker than inflating them.

    A second load still reads and hashes every file (the key is content-based, and the
    duplicate checks need the hashes anyway), but decodes nothing.

Writes are atomic (temp file in the same directory, fsync, ``os.replace``), so a reader never
sees a half-written bundle. A bundle that fails to load, or whose stored key, hashes or shape do
not match, is ignored with a warning and rebuilt. A cache directory that cannot be written only
costs a warning.
"""
from __future__ import annotations

import hashlib
import io
import os
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from PIL import Image

CACHE_FORMAT_VERSION = 1  # bump whenever decoding or the bundle layout changes
_HIGH_DEPTH_MODES = {"I", "F", "I;16", "I;16L", "I;16B", "I;16N"}
_WORKERS = min(8, os.cpu_count() or 1)


class ImageDecodeError(ValueError):
    """An image file is corrupt, empty, unreadable or not an image."""


def default_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir`` if given, else env ``PETL_BENCH_CACHE``, else ``~/.cache/petl-bench``."""
    if cache_dir is None:
        cache_dir = os.environ.get("PETL_BENCH_CACHE") or Path.home() / ".cache" / "petl-bench"
    return Path(cache_dir).expanduser()


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ImageDecodeError(
            f"cannot read image file {path}: {exc}. Check its permissions, or remove or replace it."
        ) from exc


def file_sha256(path: str | os.PathLike) -> str:
    return hashlib.sha256(_read(Path(path))).hexdigest()


def _to_gray(im: Image.Image) -> Image.Image:
    """Grayscale as "L" (8-bit) or, for high-bit-depth input, "F" already scaled to 0-255."""
    if im.mode not in _HIGH_DEPTH_MODES:
        return im.convert("L")
    arr = np.asarray(im, dtype=np.float64)
    peak = float(arr.max()) if arr.size else 0.0
    if im.mode == "F" and peak <= 1.0:
        scale = 255.0  # float image in [0, 1]
    else:
        bits = max(8, int(np.ceil(peak)).bit_length())
        scale = 255.0 / (2**bits - 1)
    return Image.fromarray((np.clip(arr, 0, None) * scale).astype(np.float32), mode="F")


def decode_bytes(data: bytes, sizes: Iterable[int], name: str = "<bytes>") -> dict[int, np.ndarray]:
    """Decode one encoded image to uint8 grayscale squares, one per size.

    Raises ImageDecodeError naming ``name`` if the data are empty or cannot be decoded.
    """
    fix = "Remove the file from the data folder or replace it with a good copy, then rerun."
    if not data:
        raise ImageDecodeError(f"image file {name} is empty (0 bytes). {fix}")
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            gray = _to_gray(im)
        out = {}
        for size in sizes:
            small = gray.resize((size, size), Image.Resampling.BILINEAR)
            out[size] = np.clip(np.rint(np.asarray(small, dtype=np.float32)), 0, 255).astype(np.uint8)
        return out
    except Exception as exc:  # PIL raises many types (OSError, SyntaxError, ValueError, zlib.error...)
        raise ImageDecodeError(
            f"cannot decode image file {name}: {type(exc).__name__}: {exc}. "
            f"It is corrupt, truncated or not an image. {fix}"
        ) from exc


def decode_image(path: str | os.PathLike, image_size: int) -> np.ndarray:
    """Decode one file to an ``image_size`` square uint8 grayscale array."""
    path = Path(path)
    return decode_bytes(_read(path), [image_size], str(path))[image_size]


def _manifest_key(sha256s: Sequence[str], size: int) -> str:
    h = hashlib.sha256(f"petl-bench image cache v{CACHE_FORMAT_VERSION}\nsize {size}\n".encode())
    for s in sha256s:
        h.update(s.encode() + b"\n")
    return h.hexdigest()


def bundle_path(cache_dir: Path, sha256s: Sequence[str], size: int) -> Path:
    key = _manifest_key(sha256s, size)
    return cache_dir / "images" / f"v{CACHE_FORMAT_VERSION}-{size}px-{key[:32]}.npz"


def _load_bundle(path: Path, sha256s: Sequence[str], size: int) -> np.ndarray | None:
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            key, hashes, images = str(z["key"]), z["sha256"].tolist(), z["images"]
    except Exception as exc:  # truncated zip, bad header, missing member...
        warnings.warn(f"ignoring unreadable image cache {path} ({exc}); rebuilding it", RuntimeWarning)
        return None
    if (
        key != _manifest_key(sha256s, size)
        or hashes != list(sha256s)
        or images.dtype != np.uint8
        or images.shape != (len(sha256s), size, size)
    ):
        warnings.warn(f"ignoring image cache {path}: its key or contents do not match; rebuilding it", RuntimeWarning)
        return None
    return images


def _save_bundle(path: Path, sha256s: Sequence[str], size: int, images: np.ndarray) -> None:
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, images=images, sha256=np.array(sha256s, dtype="<U64"),
                     key=np.array(_manifest_key(sha256s, size)))
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        warnings.warn(f"could not write image cache {path} ({exc}); continuing without it", RuntimeWarning)
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def decode_images_multi(
    paths: Sequence[str | os.PathLike], sizes: Sequence[int], cache_dir: str | os.PathLike | None = None
) -> tuple[dict[int, np.ndarray], list[str], bool]:
    """Decode ``paths`` at several sizes, reading each file once; cached per size.

    Returns ({size: N x size x size uint8}, per-file content sha256, cache_hit), where
    cache_hit is True when every size came from the cache (nothing was decoded).
    """
    paths = [Path(p) for p in paths]
    sizes = sorted({int(s) for s in sizes})
    if any(s < 1 for s in sizes):
        raise ValueError(f"image sizes must be positive, got {sizes}")
    with ThreadPoolExecutor(_WORKERS) as pool:
        sha256s = list(pool.map(file_sha256, paths))
    cache_dir = default_cache_dir(cache_dir)
    out = {s: _load_bundle(bundle_path(cache_dir, sha256s, s), sha256s, s) for s in sizes}
    missing = [s for s in sizes if out[s] is None]
    if not missing:
        return out, sha256s, True

    def work(i: int) -> dict[int, np.ndarray]:
        data = _read(paths[i])
        if hashlib.sha256(data).hexdigest() != sha256s[i]:
            raise RuntimeError(f"{paths[i]} changed while the data set was being loaded; rerun")
        return decode_bytes(data, missing, str(paths[i]))

    with ThreadPoolExecutor(_WORKERS) as pool:
        decoded = list(pool.map(work, range(len(paths))))
    for s in missing:
        out[s] = np.stack([d[s] for d in decoded]) if decoded else np.zeros((0, s, s), np.uint8)
        _save_bundle(bundle_path(cache_dir, sha256s, s), sha256s, s, out[s])
    return out, sha256s, False


def decode_images(
    paths: Sequence[str | os.PathLike], image_size: int, cache_dir: str | os.PathLike | None = None
) -> tuple[np.ndarray, list[str], bool]:
    """Decode ``paths`` to (N x image_size x image_size uint8, per-file sha256, cache_hit)."""
    images, sha256s, hit = decode_images_multi(paths, [image_size], cache_dir)
    return images[image_size], sha256s, hit
