"""Each method's AUC on clinical subgroups of a data set: per scanner, on the BI-RADS 4 images
(those radiologists biopsy because they cannot tell), and on the images with and without burnt-in
annotations, from the run folder's ``images.csv``.

A subgroup is a set of images of one data set (:func:`clinical_subgroups` derives them from the
metadata columns ``device`` and ``birads`` that a data set such as BUS-BRA carries, and ``overlay``,
BUSI's flag of calipers, text and other marks drawn on the image). Its AUC is
the statistic the leaderboard gives the whole data set (:func:`benchmark.evaluation.bootstrap_draws`
on the run's predictions restricted to the subgroup): the fold-stratified AUC on the training
data set, the per-model AUC on an external one, with the percentile interval of the same
duplicate- (and patient-) group bootstrap. A subgroup with fewer than ``min_per_class`` (30)
images of either class gets its counts only: an AUC from a handful of cancers is noise.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from benchmark.evaluation.draws import bootstrap_draws
from benchmark.evaluation.run_data import _NAN, CONFIDENCE, RunData
from benchmark.runfolder import IMAGES_FILE, load_image_table
from benchmark.stats import percentile_interval

__all__ = ["MIN_PER_CLASS", "SUBGROUP_COLUMNS", "clinical_subgroups", "subgroup_aucs"]

MIN_PER_CLASS = 30
SUBGROUP_COLUMNS = ["dataset", "subgroup", "method", "n_images", "n_benign", "n_malignant", "n_groups", "statistic",
                    "auc", "ci_low", "ci_high", "note"]
COUNTS_ONLY = "fewer than {n} images of a class: counts only"


def clinical_subgroups(images: pd.DataFrame, dataset: str) -> dict[str, list[str]]:
    """``{name: image ids}`` of ``dataset``'s rows in ``images`` (images.csv): one subgroup per
    scanner (``device: <name>``), ``BI-RADS 4``, and ``annotated`` / ``clean`` (``overlay`` 1 / 0;
    an image without a flag is in neither), as far as the columns are there."""
    rows = images[images["dataset"] == dataset]
    out: dict[str, list[str]] = {}
    if "device" in rows and rows["device"].notna().any():
        for device in sorted(rows["device"].dropna().unique()):
            out[f"device: {device}"] = rows.loc[rows["device"] == device, "image_id"].astype(str).tolist()
    if "birads" in rows and rows["birads"].notna().any():
        birads = rows["birads"].astype(str).str.strip().str.removesuffix(".0")
        out["BI-RADS 4"] = rows.loc[birads == "4", "image_id"].astype(str).tolist()
    if "overlay" in rows and rows["overlay"].notna().any():
        flag = pd.to_numeric(rows["overlay"], errors="coerce")
        out["annotated"] = rows.loc[flag == 1, "image_id"].astype(str).tolist()
        out["clean"] = rows.loc[flag == 0, "image_id"].astype(str).tolist()
    return out


def subgroup_aucs(data: RunData, dataset: str | None = None, subgroups: dict[str, list[str]] | None = None,
                  min_per_class: int = MIN_PER_CLASS, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """One row per (subgroup, ranked method) of ``dataset`` (default: the training data set), in
    :data:`SUBGROUP_COLUMNS`; a subgroup under ``min_per_class`` images of either class gives one
    row of counts (method empty, AUC NaN). ``subgroups`` defaults to :func:`clinical_subgroups` of
    the run's ``images.csv`` (a ValueError names the file when it is missing)."""
    dataset = dataset or data.internal
    if subgroups is None:
        images = load_image_table(data.run_dir)
        if images is None:
            raise ValueError(f"{data.run_dir / IMAGES_FILE} is missing: subgroups come from the images' metadata "
                             f"there (rebuild it with `petl-bench suite --run-dir {data.run_dir}`)")
        subgroups = clinical_subgroups(images, dataset)
    rows = data.rows(dataset)
    per_image = rows.drop_duplicates("image_id").set_index("image_id")
    out = []
    for name, ids in subgroups.items():
        ids = [i for i in dict.fromkeys(map(str, ids)) if i in per_image.index]
        labels = per_image.loc[ids, "label"].to_numpy() if ids else np.zeros(0, int)
        counts = {"dataset": dataset, "subgroup": name, "n_images": len(ids), "n_benign": int((labels == 0).sum()),
                  "n_malignant": int((labels == 1).sum()),
                  "n_groups": int(per_image.loc[ids, "group"].nunique()) if ids else 0}
        if min(counts["n_benign"], counts["n_malignant"]) < min_per_class or not data.order:
            out.append({**counts, "method": "", "statistic": "", "auc": _NAN, "ci_low": _NAN, "ci_high": _NAN,
                        "note": COUNTS_ONLY.format(n=min_per_class)})
            continue
        keep = (data.predictions["dataset"] != dataset) | data.predictions["image_id"].astype(str).isin(ids)
        part = dataclasses.replace(data, predictions=data.predictions[keep], reference=None, cache={})
        draws = bootstrap_draws(part, dataset)
        for k, method in enumerate(draws.methods):
            low, high = percentile_interval(draws.draws[:, k], confidence)
            out.append({**counts, "method": method, "statistic": draws.statistic, "auc": draws.observed[method],
                        "ci_low": low, "ci_high": high, "note": ""})
    return pd.DataFrame(out, columns=SUBGROUP_COLUMNS)
