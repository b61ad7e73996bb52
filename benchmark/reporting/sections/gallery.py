"""The report's gallery: test images with every method's out-of-fold score, misclassified ones first.

The images are the run folder's ``test_images.npz`` (saved by the suite), shown as small PNG
thumbnails embedded in the page; the scores and thresholds are those of one repeat in
``predictions.csv``. :func:`gallery_order` decides the order; :func:`gallery` gives the data the
``sections/gallery.html`` template shows.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np

from benchmark.evaluation import RunData
from benchmark.reporting.render import data_uri
from benchmark.runfolder import TEST_IMAGES_FILE, test_images

__all__ = ["gallery_order", "gallery", "THUMBNAIL_PX", "GALLERY_REPEAT"]

THUMBNAIL_PX = 112         # longest side of a gallery thumbnail
GALLERY_REPEAT = 0         # the repeat whose out-of-fold scores the gallery shows (else the first one run)


def gallery_order(labels: np.ndarray, scores: dict[str, np.ndarray], thresholds: dict):
    """Images ordered for the gallery: misclassified by the majority of methods first.

    A method calls an image malignant when its score >= its threshold (a number, or one per
    image: the threshold of the fold that scored it). Returns
    ``(order, wrong, majority)``: indices sorted by (misclassified by a strict majority first,
    then more methods wrong, then original order); ``wrong[i]`` counts the methods that got
    image ``i`` wrong; ``majority[i]`` is whether more than half of them did.
    """
    labels = np.asarray(labels).astype(int)
    wrong = np.zeros(labels.size, dtype=int)
    for m, s in scores.items():
        predicted = (np.asarray(s, dtype=float) >= np.asarray(thresholds[m], dtype=float)).astype(int)
        wrong += predicted != labels
    majority = wrong * 2 > len(scores)
    order = sorted(range(labels.size), key=lambda i: (not majority[i], -wrong[i], i))
    return order, wrong, majority


def _thumbnail(image: np.ndarray) -> bytes:
    from PIL import Image

    a = np.asarray(image)
    if a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3):
        a = np.moveaxis(a, 0, -1)  # channels first
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    img = Image.fromarray(a, mode="L" if a.ndim == 2 else "RGB")
    scale = THUMBNAIL_PX / max(img.size)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    img = img.resize(size, Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _label_name(label: int) -> str:
    return "malignant" if int(label) == 1 else "benign"


def _shown(message: str | None = None, unavailable: dict | None = None, **shown) -> dict:
    """The gallery's template data: why there is none (a ``message``, or the images are ``unavailable``:
    the command that saves them and the error), or what is shown (``intro``, ``cards``, ``thresholds``)."""
    return {"message": message, "unavailable": unavailable, "intro": None, "cards": [], "thresholds": None,
            **shown}


def gallery(run_dir: Path, data: RunData, size: int) -> dict:
    """The gallery of at most ``size`` test images of one repeat, as the ``sections/gallery.html`` template shows it."""
    methods = list(data.order)
    if not methods:
        return _shown("No method has a working configuration; no gallery.")
    inner = data.rows()
    inner = inner[inner["method"].isin(methods)]
    repeats = sorted(int(r) for r in inner["repeat"].unique())
    repeat = GALLERY_REPEAT if GALLERY_REPEAT in repeats else repeats[0]
    part = inner[inner["repeat"] == repeat]
    scores = part.pivot(index="image_id", columns="method", values="score")
    thresholds = part.pivot(index="image_id", columns="method", values="threshold")
    truth = part.drop_duplicates("image_id").set_index("image_id")["label"]
    try:
        images, ids = test_images(run_dir, list(scores.index))
    except FileNotFoundError as exc:
        return _shown(unavailable={"command": f"petl-bench suite --run-dir {run_dir}", "error": str(exc)})
    if not ids:
        return _shown("No saved test image matches the predictions; gallery not shown.")
    if len(ids) < len(scores):
        warnings.warn(f"gallery: {len(scores) - len(ids)} of the {len(scores)} images of repeat {repeat} are not in "
                      f"{run_dir / TEST_IMAGES_FILE}; showing the others", stacklevel=2)
    y = truth.loc[ids].to_numpy().astype(int)
    s = {m: scores.loc[ids, m].to_numpy(dtype=float) for m in methods}
    t = {m: thresholds.loc[ids, m].to_numpy(dtype=float) for m in methods}
    ranked, wrong, majority = gallery_order(y, s, t)
    shown = ranked[:size]
    n_major = int(majority.sum())
    intro = (f"Test images of repeat {repeat} ({len(ids)} images, {int(y.sum())} malignant), each with every "
             "method's out-of-fold score (from the model of the fold that held the image out). A method calls an "
             "image malignant when its score reaches the threshold that fold chose on its validation data; wrong "
             f"calls are marked. {n_major} image{'s are' if n_major != 1 else ' is'} misclassified by the majority of "
             f"the {len(methods)} methods; they come first{', then the others' if len(shown) > n_major else ''}. "
             f"Showing {len(shown)} of {len(ids)}.")
    cards = []
    for i in shown:
        label = int(y[i])
        cards.append({
            "id": ids[i], "misclassified": bool(majority[i]), "thumbnail": data_uri(_thumbnail(images[i])),
            "label": _label_name(label), "wrong": int(wrong[i]), "n_methods": len(methods),
            "scores": [{"method": m, "score": f"{s[m][i]:.3f}", "bad": bool((s[m][i] >= t[m][i]) != bool(label))}
                       for m in methods]})
    per_fold = part.drop_duplicates(["method", "fold"]).pivot(index="method", columns="fold", values="threshold")
    thr = "; ".join(f"{m} " + ", ".join(f"{per_fold.loc[m, f]:.3f}" for f in per_fold.columns) for m in methods)
    return _shown(intro=intro, cards=cards, thresholds=thr)
