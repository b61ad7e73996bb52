"""The facts a closing note or a reviewer quotes about a finished run folder, each recomputed from its files.

Usage: .venv/bin/python scripts/dev/run_facts.py RUN_DIR

* studies: how many, the sum of their ``wall_seconds`` (``results.json``), the hours in which at
  least one study was running (the union of ``[written - wall_seconds, written]``, the file's
  modification time being when it was written: studies run side by side; a pause of the whole
  run counts, a session's end between sittings does not), mean seconds per study by training-set
  size and by method;
* trials: ``trials.csv``'s states;
* scores: per data set, the fold model (method, size, repeat, fold) with the narrowest range of
  scores (a model that scores every image alike has range 0), and per size and fold how many
  methods' fold models score at about chance (AUC below 0.55);
* verdicts (from the report's own tables): the analysis plan, per data set and test how many pairs
  survive Holm, what the run could detect (``detectable.csv``), every claim with its estimate,
  interval, Holm p, verdict and Bayesian probabilities, and the leader's Bayesian comparisons;
* selection optimism: per method, the validation AUC of each selected fold model
  (``validation_predictions.csv``: the images it was selected and stopped on) minus its test fold's AUC,
  mean, smallest and largest over its fold models, largest mean first (a method whose validation AUC
  exceeds its test AUC in every fold was fitted to its validation images);
* ``learning_curve.csv`` recomputed with scikit-learn from ``predictions.csv`` and
  ``reference_predictions.csv``: the training data set's fold-stratified AUC (per-fold
  ``roc_auc_score`` weighted by malignant x benign pairs), an external set's per-model AUC (the
  mean of the fold models' ``roc_auc_score``); the largest difference to the table.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

CHANCE = 0.55


def _union_hours(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, -np.inf
    for start, stop in sorted(intervals):
        if start > end:
            total += stop - start
        elif stop > end:
            total += stop - end
        end = max(end, stop)
    return total / 3600


def study_facts(run_dir: Path) -> list[str]:
    rows = []
    for path in run_dir.glob("runs/*/repeat-*/*/results.json"):
        record = json.loads(path.read_text())
        if "wall_seconds" in record:
            rows.append({"method": record["config"]["method"], "size": str(record["config"].get("train_size", "all")),
                         "seconds": float(record["wall_seconds"]), "written": path.stat().st_mtime})
    if not rows:
        return ["studies: no results.json with wall_seconds"]
    frame = pd.DataFrame(rows)
    hours = _union_hours([(w - s, w) for s, w in zip(frame["seconds"], frame["written"])])
    lines = [f"studies: {len(frame)}; sum of wall_seconds {frame['seconds'].sum() / 3600:.2f} h; "
             f"some study running during {hours:.2f} h"]
    by_size = frame.groupby("size")["seconds"].agg(["count", "mean"])
    lines.append("mean s per study by size: " + ", ".join(f"{s} {r['mean']:.1f} ({r['count']:.0f})"
                                                          for s, r in by_size.iterrows()))
    by_method = frame.groupby("method")["seconds"].mean().sort_values(ascending=False)
    lines.append("mean s per study by method: " + ", ".join(f"{m} {v:.1f}" for m, v in by_method.items()))
    return lines


def trial_facts(run_dir: Path) -> list[str]:
    path = run_dir / "trials.csv"
    if not path.is_file():
        return ["trials: no trials.csv"]
    states = pd.read_csv(path, low_memory=False)["state"].value_counts()
    return ["trials: " + ", ".join(f"{k} {v}" for k, v in states.items()) + f" (of {states.sum()})"]


def _predictions(run_dir: Path) -> pd.DataFrame:
    frame = pd.read_csv(run_dir / "predictions.csv", dtype={"image_id": str, "train_size": str}, low_memory=False)
    if "train_size" not in frame:
        frame["train_size"] = "all"
    return frame


def score_facts(predictions: pd.DataFrame) -> list[str]:
    lines = []
    keys = ["dataset", "method", "train_size", "repeat", "fold"]
    models = predictions.groupby(keys).agg(low=("score", "min"), high=("score", "max"))
    aucs = predictions.groupby(keys)[["label", "score"]].apply(lambda g: roc_auc_score(g["label"], g["score"])
                                                               if g["label"].nunique() == 2 else np.nan)
    for dataset in predictions["dataset"].unique():
        spread = (models["high"] - models["low"]).xs(dataset)
        where = spread.idxmin()
        lines.append(f"{dataset}: narrowest score range of a fold model {spread.min():.3f} "
                     f"({', '.join(map(str, where))}; method, size, repeat, fold)")
        chance = aucs.xs(dataset).groupby(level=["train_size", "repeat", "fold"]).agg(
            lambda a: f"{int((a < CHANCE).sum())} of {a.notna().sum()}, median {a.median():.3f}")
        lines += [f"{dataset}: size {s}, repeat {r}, fold {f}: AUC below {CHANCE}: {text}"
                  for (s, r, f), text in chance.items()]
    return lines


def optimism_facts(run_dir: Path, predictions: pd.DataFrame) -> list[str]:
    internal = predictions.loc[predictions["dataset"] == json.loads((run_dir / "suite.json").read_text())["dataset"]]
    test = internal.groupby(["method", "train_size", "repeat", "fold"])[["label", "score"]].apply(
        lambda g: roc_auc_score(g["label"], g["score"]))
    gaps: dict[tuple, list[float]] = {}
    for path in sorted(run_dir.glob("runs/*/repeat-*/fold-*/validation_predictions.csv")):
        val = pd.read_csv(path)
        folder = path.parent.name.split("-size-")
        key = (val["method"].iloc[0], folder[1] if len(folder) > 1 else "all",
               int(val["repeat"].iloc[0]), int(val["fold"].iloc[0]))
        if key in test.index and val["label"].nunique() == 2:
            gaps.setdefault(key[:2], []).append(roc_auc_score(val["label"], val["score"]) - test[key])
    rows = sorted(((np.mean(g), m, s, g) for (m, s), g in gaps.items()), reverse=True)
    return [f"validation minus test AUC, {m} (size {s}, {len(g)} fold models): mean {mean:+.3f}, "
            f"from {min(g):+.3f} to {max(g):+.3f}" for mean, m, s, g in rows]


def _auc(rows: pd.DataFrame, internal: bool) -> float:
    if internal:
        aucs, pairs = [], []
        for _, g in rows.groupby(["repeat", "fold"]):
            aucs.append(roc_auc_score(g["label"], g["score"]))
            pairs.append(int(g["label"].sum()) * int((1 - g["label"]).sum()))
        per_repeat = pd.DataFrame({"repeat": [r for r, _ in rows.groupby(["repeat", "fold"]).groups],
                                   "auc": aucs, "w": pairs})
        return float(per_repeat.groupby("repeat").apply(lambda g: np.average(g["auc"], weights=g["w"])).mean())
    return float(np.mean([roc_auc_score(g["label"], g["score"]) for _, g in rows.groupby(["repeat", "fold"])]))


def curve_check(run_dir: Path, predictions: pd.DataFrame) -> list[str]:
    path = run_dir / "learning_curve.csv"
    if not path.is_file():
        return ["learning_curve.csv: none (`petl-bench report RUN_DIR` writes it)"]
    curve = pd.read_csv(path, dtype={"train_size": str})
    rows = [predictions]
    if (run_dir / "reference_predictions.csv").is_file():
        rows.append(_predictions_of(run_dir / "reference_predictions.csv"))
    every = pd.concat(rows, ignore_index=True)
    worst, checked = 0.0, 0
    for r in curve[curve["auc"].notna()].itertuples():
        own = every[(every["dataset"] == r.dataset) & (every["method"] == r.method)
                    & (every["train_size"] == r.train_size)]
        worst = max(worst, abs(_auc(own, r.statistic == "fold_stratified") - r.auc))
        checked += 1
    return [f"learning_curve.csv: {checked} cells recomputed with scikit-learn; largest difference {worst:.2e}"]


def _count(x) -> str:
    return "none" if pd.isna(x) else str(int(x))


def verdict_facts(run_dir: Path) -> list[str]:
    """What the report decided: significance.csv, detectable.csv, claims.csv and analysis_plan.json."""
    if not (run_dir / "significance.csv").is_file():
        return []
    out = []
    if (run_dir / "analysis_plan.json").is_file():
        out.append(f"verdicts: {json.loads((run_dir / 'analysis_plan.json').read_text())['label']}")
    sig = pd.read_csv(run_dir / "significance.csv")
    for (dataset, test), part in sig.groupby(["dataset", "test"], sort=False):
        repeats = part["repeat"].nunique() or 1
        out.append(f"significant after Holm, {dataset}, {test}: {int(part['significant'].sum())} of "
                   f"{len(part) // repeats} pairs" + (f" (each of {repeats} repeats)" if repeats > 1 else ""))
    if (run_dir / "detectable.csv").is_file():
        for d in pd.read_csv(run_dir / "detectable.csv").itertuples():
            out.append(f"detectable ({d.dataset}, {d.n_repeats} x {d.n_folds} fold models, median paired SD "
                       f"{d.sd_paired:.4f}): {d.mdd_one:.3f} one pair, {d.mdd_family:.3f} all {d.n_pairs} pairs "
                       f"(limits {d.floor_one:.3f}, {d.floor_family:.3f}); margin {d.target} needs "
                       f"{_count(d.repeats_for_target_one)} / {_count(d.repeats_for_target_family)} repeats (one pair / "
                       f"all pairs; none: no number of repeats); neighbour gap "
                       f"{d.neighbour_gap:.4f}")
    if (run_dir / "claims.csv").is_file():
        for c in pd.read_csv(run_dir / "claims.csv").itertuples():
            out.append(f"claim ({c.dataset}) {c.method_a} vs {c.method_b} [{c.kind}]: {c.difference:+.3f} "
                       f"[{c.ci_low:+.3f}, {c.ci_high:+.3f}], Holm one-sided p {c.p_holm:.3f}: {c.verdict}; Bayes "
                       f"{c.prob_a_better:.2f} / {c.prob_equivalent:.2f} / {c.prob_b_better:.2f}")
    primary = sig[sig["primary"].astype(str).eq("True") & (sig["dataset"] == sig["dataset"].iloc[0])]
    leader = primary[primary["method_a"] == primary["method_a"].iloc[0]] if len(primary) else primary
    for r in leader.itertuples():
        out.append(f"leader ({r.dataset}) {r.method_a} vs {r.method_b}: {r.difference:+.3f} [{r.ci_low:+.3f}, "
                   f"{r.ci_high:+.3f}], Bayes {r.prob_a_better:.2f} / {r.prob_equivalent:.2f} / {r.prob_b_better:.2f}")
    return out


def _predictions_of(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype={"image_id": str, "train_size": str}, low_memory=False)
    return frame if "train_size" in frame else frame.assign(train_size="all")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or not Path(argv[0], "predictions.csv").is_file():
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    run_dir = Path(argv[0])
    predictions = _predictions(run_dir)
    for line in (study_facts(run_dir) + trial_facts(run_dir) + score_facts(predictions)
                 + optimism_facts(run_dir, predictions) + verdict_facts(run_dir) + curve_check(run_dir, predictions)):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
