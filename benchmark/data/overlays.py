"""Burnt-in annotations on ultrasound images: a detector, the committed per-image flags, and
dropping the flagged images before a run.

Many BUSI images carry marks drawn by the scanner or the operator: calipers ('+') with dotted
measurement lines, boxes, text ('RT AXILLA', 'LT 6', the scanner's 'LOGIQ E9'), body-marker
pictograms and colour. A model may read them instead of the lesion. :func:`detect_overlays`
finds them in one image, numpy and PIL only:

- **marks**: sharp vertical bright strokes. The grey image is resized to 256 x 256; a pixel is
  on a stroke when it is at least ``MARK_CONTRAST`` brighter than both pixels two columns away,
  and a stroke is a vertical run of at least ``MARK_LENGTH`` such pixels that is also, on
  average, ``MARK_SHARPNESS`` brighter than the pixels one column away (drawn, not blurred).
  Text, crosses and pictograms have such strokes; breast tissue in B-mode is layered, its
  speckle is drawn out sideways and its vertical septa are blurred, so it rarely has any.
- **lines**: long faint vertical lines (boxes, long measurement lines): runs of at least
  ``LINE_LENGTH`` pixels ``LINE_CONTRAST`` brighter than both pixels one column away.
- **colour**: at least ``COLOUR_PIXELS`` pixels whose channels differ by more than
  ``COLOUR_SPREAD`` (yellow calipers and boxes, Doppler).

The small logo in the top-left corner that nearly every BUSI image has (``LOGO_SIZE`` px square)
is ignored, as are the outer ``EDGE`` columns. How well it agrees with an eye check, and the
flags it gives BUSI: docs/data/busi-overlays.md; the flags are committed in ``busi_overlays.csv``
(``scripts/data/busi_overlays.py`` writes it).
"""
from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

WORK_SIZE = 256
MARK_CONTRAST, MARK_LENGTH, MARK_SHARPNESS = 30.0, 3, 20.0
LINE_CONTRAST, LINE_LENGTH = 15.0, 20
COLOUR_SPREAD, COLOUR_PIXELS = 40, 5
LOGO_SIZE, EDGE = 14, 3
FLAG_COLUMNS = ("image_id", "overlay", "kinds", "source")
OPTION = "[data] exclude_overlays"


@dataclass(frozen=True)
class OverlayFinding:
    """What :func:`detect_overlays` found: the flag, its kinds ("marks", "lines", "colour") and the counts."""

    overlay: bool
    kinds: tuple[str, ...]
    marks: int
    lines: int
    colour: int


def _ridge(grey: np.ndarray, d: int) -> np.ndarray:
    """How much brighter each pixel is than the brighter of the pixels ``d`` columns left and right."""
    p = np.pad(grey, ((0, 0), (d, d)), mode="edge")
    return grey - np.maximum(p[:, :-2 * d], p[:, 2 * d:])


def _vertical_runs(mask: np.ndarray, values: np.ndarray, min_length: int) -> list[tuple[int, float]]:
    """(length, mean of ``values``) of every vertical run of True in ``mask`` at least ``min_length`` long."""
    padded = np.pad(mask, ((1, 1), (0, 0))).astype(np.int8).T  # one row per column
    step = np.diff(padded, axis=1)
    starts, ends = np.nonzero(step == 1), np.nonzero(step == -1)  # both in column, then row, order
    cum = np.pad(np.cumsum(values.T, axis=1), ((0, 0), (1, 0)))
    length = ends[1] - starts[1]
    total = cum[starts[0], ends[1]] - cum[starts[0], starts[1]]
    keep = length >= min_length
    return [(int(n), float(s / n)) for n, s in zip(length[keep], total[keep])]


def detect_overlays(image: np.ndarray) -> OverlayFinding:
    """Find burnt-in marks in one image (H x W grey or H x W x 3/4 RGB(A) uint8, any size); see the module."""
    rgb = np.asarray(image)
    rgb = np.repeat(rgb[..., None], 3, axis=2) if rgb.ndim == 2 else rgb[..., :3]
    if rgb.shape[:2] != (WORK_SIZE, WORK_SIZE):
        rgb = np.asarray(Image.fromarray(rgb.astype(np.uint8)).resize((WORK_SIZE, WORK_SIZE), Image.Resampling.BILINEAR))
    rgb = rgb.astype(np.float32)
    grey = rgb.mean(axis=2)
    spread = rgb.max(axis=2) - rgb.min(axis=2)
    ignore = np.zeros(grey.shape, bool)
    ignore[:LOGO_SIZE, :LOGO_SIZE] = True
    ignore[:, :EDGE] = ignore[:, -EDGE:] = True
    sharp = _ridge(grey, 1)
    strokes = _vertical_runs((_ridge(grey, 2) > MARK_CONTRAST) & ~ignore, sharp, MARK_LENGTH)
    lines = _vertical_runs((sharp > LINE_CONTRAST) & ~ignore, sharp, LINE_LENGTH)
    colour = int(((spread > COLOUR_SPREAD) & ~ignore).sum())
    marks = sum(mean >= MARK_SHARPNESS for _, mean in strokes)
    kinds = tuple(kind for kind, found in (("marks", marks > 0), ("lines", bool(lines)),
                                           ("colour", colour >= COLOUR_PIXELS)) if found)
    return OverlayFinding(bool(kinds), kinds, marks, len(lines), colour)


def detect_file(path: str | Path) -> OverlayFinding:
    """:func:`detect_overlays` of an image file, decoded as RGB (16-bit grey scaled to 8 bits)."""
    with Image.open(path) as im:
        if im.mode in ("I;16", "I;16B", "I;16L", "I"):
            im = Image.fromarray((np.asarray(im, dtype=np.float64) / 257).clip(0, 255).astype(np.uint8))
        return detect_overlays(np.asarray(im.convert("RGB")))


def read_overlay_flags(path: str | Path, ids: Sequence[str]) -> list[int | None]:
    """The ``overlay`` flag (1 or 0) of each of ``ids`` in a flag CSV (columns :data:`FLAG_COLUMNS`), None
    for an id the file does not list (a copy with other images). A ValueError names the file when a
    column is missing or a flag is not 0 or 1."""
    path = Path(path)
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        rows, columns = list(reader), reader.fieldnames or []
    if not set(FLAG_COLUMNS) <= set(columns):
        raise ValueError(f"{path}: needs the columns {', '.join(FLAG_COLUMNS)}; has {', '.join(columns)}")
    bad = [row for row in rows if row["overlay"].strip() not in ("0", "1")]
    if bad:
        raise ValueError(f"{path}: overlay must be 0 or 1, got {bad[0]['overlay']!r} for {bad[0]['image_id']!r}")
    flags = {row["image_id"]: int(row["overlay"]) for row in rows}
    return [flags.get(i) for i in ids]


def without_overlays(data):
    """The ImageSet ``data`` without its images flagged ``overlay`` = 1 (``[data] exclude_overlays``): each
    goes into ``excluded`` with the reason, and the checksum becomes that of ``data`` less those ids.
    A ValueError names the option when ``data`` has no ``overlay`` column or an image has no flag."""
    if "overlay" not in data.metadata:
        raise ValueError(f"{OPTION} = true: data set {data.name!r} has no per-image overlay flags (no 'overlay' "
                         "column; busi has one); leave exclude_overlays out for this data set")
    flags = list(data.metadata["overlay"])
    unflagged = [i for i, flag in zip(data.ids, flags) if flag not in (0, 1)]
    if unflagged:
        raise ValueError(f"{OPTION} = true: {len(unflagged)} images of {data.name!r} have no overlay flag (first: "
                         f"{unflagged[0]!r}): this copy has images the flag list lacks; flag them (for busi: "
                         "scripts/data/busi_overlays.py) or leave exclude_overlays out")
    flagged = np.array([flag == 1 for flag in flags], dtype=bool)
    kept = data.subset(np.flatnonzero(~flagged))
    dropped = sorted(data.ids[i] for i in np.flatnonzero(flagged))
    reason = f"burnt-in annotation (overlay = 1; {OPTION})"
    kept.excluded = list(data.excluded) + [{"id": i, "reason": reason} for i in dropped]
    kept.checksum = hashlib.sha256("".join([data.checksum, "\n", *(f"without {i}\n" for i in dropped)]).encode()
                                   ).hexdigest()
    return kept
