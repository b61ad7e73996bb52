"""Leaderboard, pairwise significance and the report of one run folder, from disk alone.

Everything here reads only what the trainer wrote (``suite.json``, ``runs/<method>/seed-<k>/
results.json`` and ``predictions.csv``, optionally ``cost.csv``), so a report can be rebuilt
at any time, also while a suite is still running (unfinished runs are skipped with a warning).

* :func:`load_runs` - one row per finished (method, split seed) run;
* :func:`leaderboard` - one row per method: means and spreads over split seeds, cost, rank;
* :func:`significance` - every pair of methods, every test, Holm-corrected per family;
* :func:`summary_sentences` - the significance results in plain words;
* :func:`write_leaderboard` - writes ``leaderboard.csv``, ``leaderboard.md``,
  ``leaderboard.html``, ``significance.csv`` and ``figures/*.png`` into the run folder.

Statistics come from :mod:`benchmark.metrics` and :mod:`benchmark.stats`; nothing is
re-implemented here. Bootstrap seeds are the split seeds themselves, as in the runner's
:func:`benchmark.metrics.evaluate_scores` call, so the paired bootstrap of a split draws the
same resamples that gave each method's bootstrap standard deviation, and rebuilding a report
gives identical numbers.
"""
from __future__ import annotations

import base64
import html
import json
import math
import warnings
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from .io import write_csv_atomic, write_text_atomic
from .metrics import roc_auc
from .stats import (
    bootstrap_wilcoxon_test,
    delong_test,
    holm_correction,
    paired_bootstrap_auc_differences,
    paired_split_test,
)

__all__ = [
    "default_n_bootstrap",
    "fmt_int",
    "fmt_number",
    "leaderboard_table",
    "paired_bootstrap_resamples",
    "run_protocol",
    "synthetic_banner",
    "load_runs",
    "leaderboard",
    "significance",
    "summary_sentences",
    "write_leaderboard",
    "method_order",
    "split_predictions",
    "TESTS",
    "ALPHA",
]

# The runner's file names (benchmark.runner; not imported from there to keep torch out of reporting).
RESULTS_FILE, PREDICTIONS_FILE, COST_FILE, SUITE_FILE = "results.json", "predictions.csv", "cost.csv", "suite.json"

ALPHA = 0.05
DEFAULT_N_BOOTSTRAP = 1000

# Test names in significance tables, in reporting order (DeLong is the primary test).
TESTS = ("delong", "paired_bootstrap", "bootstrap_wilcoxon", "paired_splits_wilcoxon", "paired_splits_ttest")
PER_SPLIT_TESTS = TESTS[:3]
ACROSS_SPLIT_TESTS = TESTS[3:]
TEST_LABELS = {
    "delong": "DeLong",
    "paired_bootstrap": "paired bootstrap",
    "bootstrap_wilcoxon": "bootstrap Wilcoxon rank-sum (Byra 2021)",
    "paired_splits_wilcoxon": "Wilcoxon signed-rank over splits",
    "paired_splits_ttest": "paired t-test over splits",
}

SIGNIFICANCE_COLUMNS = ["method_a", "method_b", "test", "split_seed", "auc_a", "auc_b", "difference",
                        "statistic", "ci_low", "ci_high", "p", "p_holm", "significant"]

_METRICS = ("auc", "accuracy", "sensitivity", "specificity")
_NAN = float("nan")


# ------------------------------------------------------------------------------ loading
def _number(value, cast=float, missing=_NAN):
    """A JSON number as ``cast``, or ``missing`` for null, absent or not a number."""
    if value is None:
        return missing
    try:
        return cast(value)
    except (TypeError, ValueError):
        return missing


def _scalar(value):
    """A JSON value fit for one table cell (dicts and lists as compact JSON)."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return value


def _run_row(run_dir: Path, folder: Path, record: dict) -> dict:
    path = folder / RESULTS_FILE
    config, metrics = record.get("config") or {}, record.get("metrics") or {}
    for section, key in (("config", "split_seed"), ("metrics", "auc")):
        if (record.get(section) or {}).get(key) is None:
            raise ValueError(f"{path}: results.json has no {section}.{key}; is it a results file of petl-bench?")
    params, training = record.get("parameters") or {}, record.get("training") or {}
    dataset, method = record.get("dataset") or {}, record.get("method") or {}
    search = record.get("search") or {}
    return {
        "method": str(config.get("method") or folder.parent.name),
        "split_seed": int(config["split_seed"]),
        "lr": _number(config.get("lr")),
        "beta1": _number(config.get("beta1")),
        **{k: _number(metrics.get(k)) for m in _METRICS for k in (m, f"{m}_std")},
        "threshold": _number(metrics.get("threshold")),
        "n": _number(metrics.get("n"), int, None),
        "n_positive": _number(metrics.get("n_positive"), int, None),
        "n_bootstrap": _number(metrics.get("n_bootstrap"), int, None),
        "trainable_parameters": _number(params.get("trainable"), int, None),
        "trainable_parameters_without_head": _number(params.get("trainable_without_head"), int, None),
        "head_parameters": _number(params.get("head"), int, None),
        "total_parameters": _number(params.get("total"), int, None),
        "seconds_per_epoch": _number(training.get("seconds_per_epoch")),
        "epochs_run": _number(training.get("epochs_run"), int, None),
        "train_seconds": _number(training.get("train_seconds")),
        "dataset": dataset.get("name"),
        "synthetic": bool(dataset.get("synthetic", False)),
        "dataset_checksum": dataset.get("checksum"),
        "n_images": _number(dataset.get("n_images"), int, None),
        "description": method.get("description"),
        "citation": method.get("citation"),
        "search_sampler": search.get("sampler"),
        "search_n_trials": _number(search.get("n_trials"), int, None),
        "concurrent_studies": _number(search.get("concurrent_studies"), int, 1),
        "search_selected_trial": _scalar(search.get("selected_trial")),
        "run_path": folder.relative_to(run_dir).as_posix(),
    }


_INT_COLUMNS = ("n", "n_positive", "n_bootstrap", "trainable_parameters", "trainable_parameters_without_head",
                "head_parameters", "total_parameters", "epochs_run", "n_images", "search_n_trials")


def load_runs(run_dir) -> pd.DataFrame:
    """One row per finished run, ``runs/<method>/seed-<k>/results.json`` flattened.

    Columns: ``method, split_seed, lr, beta1, auc, auc_std, accuracy, accuracy_std,
    sensitivity, sensitivity_std, specificity, specificity_std, threshold, n, n_positive,
    n_bootstrap, trainable_parameters, trainable_parameters_without_head, head_parameters,
    total_parameters, seconds_per_epoch, epochs_run, train_seconds, dataset, synthetic,
    dataset_checksum, n_images, description, citation, search_sampler, search_n_trials,
    search_selected_trial, concurrent_studies, run_path`` (the run's folder relative to
    ``run_dir``; ``concurrent_studies``: studies that shared the machine, 1 if not recorded). Null
    standard deviations become NaN. Rows are sorted by method, then split seed.

    A seed folder without ``results.json`` (a run in progress or killed) is skipped with a
    warning. Raises ``FileNotFoundError`` naming the folder when it holds no finished run.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder {run_dir} does not exist")
    rows = []
    for folder in sorted((run_dir / "runs").glob("*/seed-*")):
        if not folder.is_dir():
            continue
        path = folder / RESULTS_FILE
        if not path.is_file():
            warnings.warn(f"skipping {folder}: no {RESULTS_FILE} (run in progress or unfinished)", stacklevel=2)
            continue
        try:
            record = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            warnings.warn(f"skipping {folder}: {RESULTS_FILE} is not valid JSON ({exc})", stacklevel=2)
            continue
        rows.append(_run_row(run_dir, folder, record))
    if not rows:
        raise FileNotFoundError(
            f"no finished run in {run_dir}: expected {run_dir / 'runs' / '<method>' / 'seed-<k>' / RESULTS_FILE}"
        )
    runs = pd.DataFrame(rows)
    dup = runs[runs.duplicated(["method", "split_seed"], keep=False)]
    if not dup.empty:
        first = dup.iloc[0]
        paths = ", ".join(dup[(dup.method == first.method) & (dup.split_seed == first.split_seed)].run_path)
        raise ValueError(f"{run_dir}: method {first.method!r}, split seed {first.split_seed} has more than one "
                         f"finished run ({paths})")
    for col in _INT_COLUMNS:
        runs[col] = runs[col].astype("Int64")
    return runs.sort_values(["method", "split_seed"], kind="stable").reset_index(drop=True)


def method_order(runs: pd.DataFrame) -> list[str]:
    """Methods by mean AUC over their split seeds, best first (ties by name)."""
    means = runs.groupby("method")["auc"].mean()
    return sorted(means.index, key=lambda m: (-means[m], m))


# ---------------------------------------------------------------------------- leaderboard
def _spread(values: pd.Series) -> float:
    """Sample standard deviation (ddof=1) over split seeds; NaN for one split."""
    v = values.dropna().to_numpy(dtype=float)
    return float(np.std(v, ddof=1)) if v.size >= 2 else _NAN


def _mean(values: pd.Series) -> float:
    v = values.dropna().to_numpy(dtype=float)
    return float(v.mean()) if v.size else _NAN


def _first_int(values: pd.Series, method: str, what: str):
    v = values.dropna()
    if v.empty:
        return pd.NA
    if v.nunique() > 1:
        warnings.warn(f"{method}: {what} differs between split seeds ({sorted(v.unique())}); reporting the first",
                      stacklevel=3)
    return int(v.iloc[0])


def leaderboard(runs: pd.DataFrame, cost: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per method, from :func:`load_runs`'s frame, best first.

    Columns: ``method``; ``auc_mean`` and ``auc_spread`` (mean and sample standard deviation,
    ddof=1, of the test-set AUC over split seeds; the spread is NaN for one split);
    ``auc_bootstrap_std`` (mean over splits of the bootstrap standard deviation of the AUC:
    the ± figure of Byra 2021); ``accuracy_mean``, ``accuracy_spread``, ``sensitivity_*``,
    ``specificity_*`` likewise; ``trainable_parameters`` and
    ``trainable_parameters_without_head``; ``seconds_per_epoch`` (mean); ``n_splits`` and
    ``split_seeds`` (space separated); ``rank`` (by mean AUC, 1 = best, ties share the
    better rank). If ``cost`` (a frame with a ``method`` column, e.g. ``cost.csv``) is given,
    its other columns are appended.
    """
    if runs.empty:
        raise ValueError("leaderboard needs at least one finished run")
    rows = []
    for method, df in runs.groupby("method", sort=True):
        df = df.sort_values("split_seed")
        row = {"method": method}
        for m in _METRICS:
            row[f"{m}_mean"] = _mean(df[m])
            row[f"{m}_spread"] = _spread(df[m])
            if m == "auc":
                row["auc_bootstrap_std"] = _mean(df["auc_std"])
        row["trainable_parameters"] = _first_int(df["trainable_parameters"], method, "trainable parameters")
        row["trainable_parameters_without_head"] = _first_int(
            df["trainable_parameters_without_head"], method, "trainable parameters without head")
        row["seconds_per_epoch"] = _mean(df["seconds_per_epoch"])
        row["n_splits"] = len(df)
        row["split_seeds"] = " ".join(str(s) for s in df["split_seed"])
        rows.append(row)
    table = pd.DataFrame(rows)
    table["rank"] = table["auc_mean"].rank(ascending=False, method="min").astype(int)
    for col in ("trainable_parameters", "trainable_parameters_without_head"):
        table[col] = table[col].astype("Int64")
    table = table.sort_values(["rank", "method"], kind="stable").reset_index(drop=True)
    if cost is not None and not cost.empty:
        if "method" not in cost.columns:
            raise ValueError("cost table has no 'method' column")
        extra = cost.drop_duplicates("method", keep="last")
        extra = extra[["method"] + [c for c in extra.columns if c != "method" and c not in table.columns]]
        table = table.merge(extra, on="method", how="left")
    return table


def _read_cost(run_dir: Path) -> pd.DataFrame | None:
    path = run_dir / COST_FILE
    if not path.is_file():
        return None
    try:
        cost = pd.read_csv(path)
    except Exception as exc:  # a malformed optional file must not stop the report
        warnings.warn(f"ignoring {path}: {exc}", stacklevel=2)
        return None
    if "method" not in cost.columns:
        warnings.warn(f"ignoring {path}: no 'method' column", stacklevel=2)
        return None
    return cost


# --------------------------------------------------------------------------- predictions
def split_predictions(run_dir, runs: pd.DataFrame, split_seed: int, methods=None):
    """Test predictions of one split seed, aligned by image id.

    Returns ``(image_ids, labels, {method: scores})`` with image ids sorted, for the given
    ``methods`` (default: every method with a finished run on this split, best first).
    Raises ``ValueError`` when two methods were scored on different test images, or on the
    same images with different labels, and ``FileNotFoundError`` for a missing predictions file.
    """
    run_dir = Path(run_dir)
    at = runs[runs["split_seed"] == split_seed].set_index("method")
    if methods is None:
        methods = [m for m in method_order(runs) if m in at.index]
    ids = labels = None
    ref = None
    scores = {}
    for method in methods:
        if method not in at.index:
            raise ValueError(f"no finished run of {method!r} on split seed {split_seed} in {run_dir}")
        path = run_dir / at.loc[method, "run_path"] / PREDICTIONS_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing although {RESULTS_FILE} is there")
        pred = pd.read_csv(path, dtype={"image_id": str})
        missing = {"image_id", "label", "score"} - set(pred.columns)
        if missing:
            raise ValueError(f"{path}: missing column(s) {sorted(missing)}; expected image_id,label,score")
        if pred["image_id"].duplicated().any():
            dup = pred.loc[pred["image_id"].duplicated(), "image_id"].iloc[0]
            raise ValueError(f"{path}: image id {dup!r} appears more than once")
        pred = pred.set_index("image_id").sort_index()
        if ref is None:
            ref, ids, labels = method, pred.index, pred["label"].to_numpy()
        else:
            if not pred.index.equals(ids):
                only_here = pred.index.difference(ids)
                only_ref = ids.difference(pred.index)
                example = list(only_here[:2]) + list(only_ref[:2])
                raise ValueError(
                    f"split seed {split_seed}: {method!r} and {ref!r} were scored on different test images "
                    f"({len(pred)} vs {len(ids)} images; {len(only_here)} only in {method!r}, {len(only_ref)} only "
                    f"in {ref!r}, e.g. {example}); paired tests need the same test set - were the runs made with "
                    f"different data or split settings?")
            if not np.array_equal(pred["label"].to_numpy(), labels):
                bad = pred.index[pred["label"].to_numpy() != labels][0]
                raise ValueError(f"split seed {split_seed}: {method!r} and {ref!r} give image {bad!r} "
                                 f"different labels")
        scores[method] = pred["score"].to_numpy(dtype=float)
    return np.asarray(ids), np.asarray(labels), scores


# --------------------------------------------------------------------------- significance
def _suite(run_dir: Path) -> dict:
    path = run_dir / SUITE_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        warnings.warn(f"ignoring {path}: not valid JSON", stacklevel=2)
        return {}


def default_n_bootstrap(run_dir: Path, runs: pd.DataFrame) -> int:
    """The run's bootstrap count: its profile's, else the largest its runs used, else 1000."""
    n = ((_suite(run_dir).get("profile") or {}).get("evaluation") or {}).get("n_bootstrap")
    if n is None and "n_bootstrap" in runs and runs["n_bootstrap"].notna().any():
        n = runs["n_bootstrap"].dropna().max()
    return int(n) if n is not None else DEFAULT_N_BOOTSTRAP


def paired_bootstrap_resamples(n_pairs: int, n_bootstrap: int) -> int:
    """Resamples B of the pairwise paired-bootstrap test over ``n_pairs`` pairs.

    Its p-value cannot fall below 2 / (B + 1), so with Holm's correction over m pairs no
    difference could pass unless 2m / (B + 1) < alpha. B is chosen so that this smallest
    attainable adjusted p is a tenth of alpha (B >= 20 m / alpha), and is at least 10,000 and
    at least ``n_bootstrap``.
    """
    return max(int(n_bootstrap), 10_000, math.ceil(20 * max(n_pairs, 1) / ALPHA))


def _row(a, b, test, seed, auc_a, auc_b, difference, statistic=_NAN, ci_low=_NAN, ci_high=_NAN, p=_NAN):
    return {"method_a": a, "method_b": b, "test": test, "split_seed": seed, "auc_a": auc_a, "auc_b": auc_b,
            "difference": difference, "statistic": statistic, "ci_low": ci_low, "ci_high": ci_high, "p": p}


def significance(run_dir, runs: pd.DataFrame | None = None, n_bootstrap: int | None = None,
                 confidence: float = 0.95) -> pd.DataFrame:
    """Every unordered pair of methods under every test, Holm-corrected per (test, split seed).

    Pairs are ordered by the leaderboard (``method_a`` has the higher mean AUC). Per split
    seed, on the test images both methods were scored on (aligned by ``image_id``; different
    test sets raise ``ValueError``):

    * ``delong`` - :func:`benchmark.stats.delong_test`; ``statistic`` = z;
    * ``paired_bootstrap`` - :func:`benchmark.stats.paired_bootstrap_auc_difference`:
      ``difference``, percentile ``ci_low``/``ci_high`` at ``confidence``, p;
    * ``bootstrap_wilcoxon`` - :func:`benchmark.stats.bootstrap_wilcoxon_test` (the paper's
      test; anti-conservative, for comparability only); ``statistic`` = U.

    Across split seeds (the seeds both methods finished), on per-split AUCs
    (:func:`benchmark.stats.paired_split_test`): ``paired_splits_wilcoxon`` (signed-rank) and
    ``paired_splits_ttest``; p is NaN with fewer than two splits; ``split_seed`` is empty
    (``<NA>``) and ``auc_a``/``auc_b`` are means over those splits.

    ``n_bootstrap`` defaults to the profile's (``suite.json``), else the runs', else 1000; the
    bootstrap Wilcoxon test uses it as the paper did. The paired bootstrap draws
    :func:`paired_bootstrap_resamples` resamples, enough for its p-value to pass Holm's
    correction over all pairs. Bootstrap seeds are the split seeds, so reruns give identical numbers. ``p_holm`` is the
    Holm (1979) adjusted p over all pairs within one (test, split seed) family;
    ``significant`` is ``p_holm < 0.05`` (False where p is NaN).
    """
    run_dir = Path(run_dir)
    if runs is None:
        runs = load_runs(run_dir)
    if n_bootstrap is None:
        n_bootstrap = default_n_bootstrap(run_dir, runs)
    order = method_order(runs)
    pairs = list(combinations(order, 2))
    paired_b = paired_bootstrap_resamples(len(pairs), n_bootstrap)
    rows = []
    for seed in sorted(runs["split_seed"].unique()):
        seed = int(seed)
        present = set(runs.loc[runs["split_seed"] == seed, "method"])
        methods = [m for m in order if m in present]
        if len(methods) < 2:
            continue
        _, y, scores = split_predictions(run_dir, runs, seed, methods)
        aucs = {m: roc_auc(y, scores[m]) for m in methods}
        stored = runs[runs["split_seed"] == seed].set_index("method")["auc"]
        for m in methods:
            if not math.isclose(aucs[m], stored[m], rel_tol=0, abs_tol=1e-9):
                warnings.warn(f"{m}, split seed {seed}: AUC from {PREDICTIONS_FILE} ({aucs[m]:.6f}) differs from "
                              f"{RESULTS_FILE} ({stored[m]:.6f})", stacklevel=2)
        seed_pairs = [(a, b) for a, b in pairs if a in present and b in present]
        boots = paired_bootstrap_auc_differences(y, {m: scores[m] for m in methods}, seed_pairs,
                                                 n_bootstrap=paired_b, seed=seed, confidence=confidence)
        for a, b in seed_pairs:
            sa, sb, auc_a, auc_b = scores[a], scores[b], aucs[a], aucs[b]
            z, p = delong_test(y, sa, sb)
            rows.append(_row(a, b, "delong", seed, auc_a, auc_b, auc_a - auc_b, statistic=z, p=p))
            boot = boots[(a, b)]
            rows.append(_row(a, b, "paired_bootstrap", seed, auc_a, auc_b, boot["difference"],
                             ci_low=boot["ci_low"], ci_high=boot["ci_high"], p=boot["p"]))
            u, p = bootstrap_wilcoxon_test(y, sa, sb, n_bootstrap=n_bootstrap, seed=seed)
            rows.append(_row(a, b, "bootstrap_wilcoxon", seed, auc_a, auc_b, auc_a - auc_b, statistic=u, p=p))
    per_split = runs.pivot(index="split_seed", columns="method", values="auc")
    for a, b in pairs:
        both = per_split[[a, b]].dropna()
        if both.empty:
            continue
        res = paired_split_test(both[a].to_numpy(), both[b].to_numpy())
        mean_a, mean_b = float(both[a].mean()), float(both[b].mean())
        rows.append(_row(a, b, "paired_splits_wilcoxon", pd.NA, mean_a, mean_b, res["mean_difference"],
                         p=res["wilcoxon_p"]))
        rows.append(_row(a, b, "paired_splits_ttest", pd.NA, mean_a, mean_b, res["mean_difference"],
                         p=res["ttest_p"]))
    if not rows:
        frame = pd.DataFrame({c: pd.Series(dtype=object) for c in SIGNIFICANCE_COLUMNS})
        frame["split_seed"] = frame["split_seed"].astype("Int64")
        return frame
    frame = pd.DataFrame(rows)
    frame["split_seed"] = frame["split_seed"].astype("Int64")
    for col in ("auc_a", "auc_b", "difference", "statistic", "ci_low", "ci_high", "p"):
        frame[col] = frame[col].astype(float)
    frame["p_holm"] = np.nan
    for _, idx in frame.groupby(["test", "split_seed"], dropna=False, sort=False).groups.items():
        frame.loc[idx, "p_holm"] = holm_correction(frame.loc[idx, "p"].to_numpy(dtype=float))
    frame["significant"] = (frame["p_holm"] < ALPHA).fillna(False).astype(bool)
    # reporting order: test, then split seed (across-split rows last), then pair order
    frame["_test"] = frame["test"].map({t: i for i, t in enumerate(TESTS)})
    frame["_seed"] = frame["split_seed"].fillna(10**9).astype(int)
    frame = frame.sort_values(["_test", "_seed"], kind="stable").drop(columns=["_test", "_seed"])
    return frame[SIGNIFICANCE_COLUMNS].reset_index(drop=True)


# ----------------------------------------------------------------------------- sentences
def _fmt_p(p) -> str:
    """``=0.034``, ``<0.001`` or ``=n/a``, to follow a ``p``."""
    if p is None or (isinstance(p, float) and math.isnan(p)) or pd.isna(p):
        return "=n/a"
    return "<0.001" if p < 0.001 else f"={p:.3f}"


def _where(seed) -> str:
    return "across splits" if pd.isna(seed) else f"split {int(seed)}"


def _sentence(r) -> str:
    verdict = "significant" if r["significant"] else "not significant"
    head = f"{r['method_a']} vs {r['method_b']} ({_where(r['split_seed'])}): "
    holm = f"Holm p{_fmt_p(r['p_holm'])}: {verdict}"
    test = r["test"]
    if test == "delong":
        return f"{head}AUC {r['auc_a']:.3f} vs {r['auc_b']:.3f}, DeLong p{_fmt_p(r['p'])}, {holm}"
    if test == "paired_bootstrap":
        return (f"{head}AUC difference {r['difference']:+.3f} (95% CI {r['ci_low']:+.3f} to {r['ci_high']:+.3f}), "
                f"paired bootstrap p{_fmt_p(r['p'])}, {holm}")
    if test == "bootstrap_wilcoxon":
        return (f"{head}AUC {r['auc_a']:.3f} vs {r['auc_b']:.3f}, bootstrap Wilcoxon rank-sum "
                f"p{_fmt_p(r['p'])}, {holm}")
    label = "Wilcoxon signed-rank" if test == "paired_splits_wilcoxon" else "paired t-test"
    return f"{head}mean AUC {r['auc_a']:.3f} vs {r['auc_b']:.3f}, {label} p{_fmt_p(r['p'])}, {holm}"


def summary_sentences(significance_df: pd.DataFrame, tests=None, only_significant: bool = True) -> list[str]:
    """The significance table in plain statements, DeLong first.

    For each test (default: all in :data:`TESTS` that occur): one sentence per pair that is
    significant after Holm correction, e.g. ``"drs vs feature_extraction (split 0): AUC
    0.910 vs 0.880, DeLong p=0.004, Holm p=0.030: significant"``; when none is, one sentence
    saying so. ``only_significant=False`` lists every comparison with its verdict.
    """
    df = significance_df
    if df is None or df.empty:
        return ["No pairwise comparison: fewer than two methods have finished runs on a common split."]
    tests = [t for t in (tests or TESTS) if (df["test"] == t).any()]
    out = []
    for test in tests:
        part = df[df["test"] == test]
        label = TEST_LABELS.get(test, test)
        if part["p"].isna().all():
            out.append(f"{label}: not computed (needs at least 2 split seeds per pair).")
            continue
        shown = part if not only_significant else part[part["significant"]]
        if shown.empty:
            seeds = sorted(int(s) for s in part["split_seed"].dropna().unique())
            where = f" on split seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}" if seeds else \
                " across splits"
            out.append(f"{label}: no difference survives Holm correction "
                       f"(0 of {int(part['p'].notna().sum())} comparisons{where}).")
            continue
        out.extend(_sentence(r) for _, r in shown.iterrows())
    return out


# ------------------------------------------------------------------------------ rendering
def fmt_number(x, digits: int = 3) -> str:
    """A number for a report table: fixed ``digits``, or an em dash for missing."""
    return "—" if x is None or pd.isna(x) else f"{x:.{digits}f}"


def fmt_int(x) -> str:
    """A count for a report table, with thousands separators, or an em dash for missing."""
    return "—" if x is None or pd.isna(x) else f"{int(x):,}"


def _pm(mean, spread) -> str:
    return f"{fmt_number(mean)} ± {fmt_number(spread)}"


_TABLE_HEADER = ["method", "AUC ± spread (bootstrap sd)", "accuracy", "sensitivity", "specificity",
                 "trainable params", "s/epoch", "rank"]
_COST_COLUMNS = {"train_images_per_s": "train img/s", "infer_images_per_s": "infer img/s"}


def leaderboard_table(lb: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """The leaderboard as shown (header, rows of text cells): the Markdown, the HTML and the report."""
    header = list(_TABLE_HEADER)
    cost = [c for c in _COST_COLUMNS if c in lb.columns]
    header[-1:-1] = [_COST_COLUMNS[c] for c in cost]
    rows = []
    for _, r in lb.iterrows():
        row = [str(r["method"]), f"{_pm(r['auc_mean'], r['auc_spread'])} ({fmt_number(r['auc_bootstrap_std'])})",
               _pm(r["accuracy_mean"], r["accuracy_spread"]), _pm(r["sensitivity_mean"], r["sensitivity_spread"]),
               _pm(r["specificity_mean"], r["specificity_spread"]), fmt_int(r["trainable_parameters"]),
               fmt_number(r["seconds_per_epoch"])]
        row += [fmt_number(r[c], 1) for c in cost]
        row.append(str(int(r["rank"])))
        rows.append(row)
    return header, rows


def run_protocol(run_dir: Path, runs: pd.DataFrame, n_bootstrap: int) -> dict:
    """What the pages say about the run: profile, backbone, data, splits, bootstrap, synthetic or not."""
    suite = _suite(run_dir)
    profile = suite.get("profile") or {}
    backbone = profile.get("backbone") or {}
    checksums = sorted({c for c in runs["dataset_checksum"].dropna()})
    datasets = sorted({d for d in runs["dataset"].dropna()})
    return {
        "profile": profile.get("name", "unknown"),
        "profile_description": profile.get("description"),
        "backbone": f"{backbone.get('name', 'unknown')}, {backbone.get('image_size', '?')} px"
        if backbone else "unknown",
        "dataset": ", ".join(datasets) or suite.get("dataset") or "unknown",
        "checksums": checksums,
        "n_images": sorted({int(n) for n in runs["n_images"].dropna()}),
        "split_seeds": sorted(int(s) for s in runs["split_seed"].unique()),
        "n_bootstrap": n_bootstrap,
        "paired_resamples": paired_bootstrap_resamples(math.comb(runs["method"].nunique(), 2), n_bootstrap),
        "concurrent_studies": int(runs["concurrent_studies"].max()) if "concurrent_studies" in runs else 1,
        "synthetic": bool(runs["synthetic"].any()),
        "mixed": bool(runs["synthetic"].any() and not runs["synthetic"].all()),
    }


def synthetic_banner(proto: dict) -> str | None:
    """The warning every page opens with when any run used synthetic data; None otherwise."""
    if not proto["synthetic"]:
        return None
    mixed = " (some runs)" if proto["mixed"] else ""
    return (f"SYNTHETIC DATA{mixed}: these results are on generated synthetic images, not on real "
            "ultrasound; they are a wiring check and say nothing about BUSI.")


def _notes(proto: dict, lb: pd.DataFrame) -> list[str]:
    seeds = ", ".join(map(str, proto["split_seeds"]))
    notes = [
        f"AUC ± spread: mean ± standard deviation of the test-set AUC over split seeds ({seeds}); in parentheses "
        "the mean bootstrap standard deviation of the test-set AUC (the ± figure of Byra 2021). Accuracy, "
        "sensitivity and specificity (mean ± spread) are taken at the ROC point closest to (0, 1). "
        "A spread of — means a single split.",
    ]
    if proto["concurrent_studies"] > 1:
        notes.append(f"s/epoch is the wall time per epoch each run recorded; up to {proto['concurrent_studies']} "
                     "studies ran at once (petl-bench suite --workers), each on its share of the machine. The cost "
                     "columns (petl-bench bench) measure every method alone.")
    if lb["n_splits"].nunique() > 1:
        notes.append("Methods were evaluated on different numbers of split seeds (see leaderboard.csv, "
                     "n_splits); their means are not directly comparable.")
    return notes


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|")


def _markdown(proto: dict, lb: pd.DataFrame, sig: pd.DataFrame) -> str:
    lines = []
    banner = synthetic_banner(proto)
    if banner:
        lines += [f"**{banner}**", ""]
    lines += [f"# Leaderboard: {proto['dataset']}, profile {proto['profile']}", ""]
    header, rows = leaderboard_table(lb)
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
    lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in rows]
    lines.append("")
    lines += _notes(proto, lb)
    lines += ["", "## Which differences survive Holm correction", ""]
    if sig.empty:
        lines.append(summary_sentences(sig)[0])
    for test in [t for t in TESTS if (sig["test"] == t).any()]:
        lines += [f"### {TEST_LABELS[test]}{' (primary)' if test == 'delong' else ''}", ""]
        lines += [f"- {s}" for s in summary_sentences(sig, tests=[test])]
        lines.append("")
    lines += ["", "## Protocol", ""]
    lines += [f"- {k}: {v}" for k, v in _protocol_items(proto)]
    lines.append("")
    return "\n".join(lines)


def _protocol_items(proto: dict) -> list[tuple[str, str]]:
    items = [("profile", proto["profile"] + (f" ({proto['profile_description']})"
                                             if proto["profile_description"] else "")),
             ("backbone", proto["backbone"]),
             ("dataset", proto["dataset"] + (" (synthetic)" if proto["synthetic"] and "synthetic" not in
                                             proto["dataset"] else "")),
             ("data checksum", ", ".join(proto["checksums"]) or "unknown"),
             ("images", ", ".join(map(str, proto["n_images"])) or "unknown"),
             ("split seeds", ", ".join(map(str, proto["split_seeds"]))),
             ("bootstrap resamples", str(proto["n_bootstrap"])),
             ("tests", "DeLong (primary), paired bootstrap, bootstrap Wilcoxon rank-sum (Byra 2021; "
                       "anti-conservative, reported for comparability), Wilcoxon signed-rank and paired t-test "
                       f"over split seeds; Holm correction over all pairs per test and split, alpha {ALPHA}")]
    n_splits, b = len(proto["split_seeds"]), proto["n_bootstrap"]
    across = (f"the Wilcoxon signed-rank test over {n_splits} split seeds cannot fall below "
              f"2/2^{n_splits} = {2 / 2 ** n_splits:.4f} (exact, two-sided; below 0.05 only from 6 splits on)"
              if n_splits >= 2 else "the tests over split seeds need at least 2 splits and were not computed")
    pb = proto["paired_resamples"]
    items.append(("resolution", f"the paired-bootstrap test draws B = {pb:,} resamples, so its p-value cannot fall "
                                f"below 2/(B+1) = {2 / (pb + 1):.5f}; the bootstrap Wilcoxon test and the bootstrap "
                                f"standard deviations use B = {b:,}; {across}"))
    if len(proto["checksums"]) > 1:
        items.append(("WARNING", "the runs used different data (several checksums)"))
    return items


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:2em auto;max-width:1200px;
color:#222;line-height:1.45;padding:0 1em}
.banner{background:#b00020;color:#fff;font-weight:bold;font-size:1.3em;padding:.8em 1em;border-radius:4px}
table{border-collapse:collapse;margin:1em 0;font-size:.92em}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}
th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}
img{max-width:100%;border:1px solid #ddd;margin:.5em 0}
.note{color:#555;font-size:.9em}li{margin:.2em 0}table.text td,table.text th{text-align:left;vertical-align:top}
"""


def _html_table(header: list[str], rows: list[list[str]], css_class: str | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    cls = f' class="{css_class}"' if css_class else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _significance_table(sig: pd.DataFrame) -> str:
    header = ["test", "split", "method A", "method B", "AUC A", "AUC B", "difference", "statistic", "95% CI",
              "p", "Holm p", "significant"]
    rows = []
    for _, r in sig.iterrows():
        ci = "" if pd.isna(r["ci_low"]) else f"{r['ci_low']:+.3f} to {r['ci_high']:+.3f}"
        rows.append([r["test"], "all" if pd.isna(r["split_seed"]) else str(int(r["split_seed"])), r["method_a"],
                     r["method_b"], fmt_number(r["auc_a"]), fmt_number(r["auc_b"]), fmt_number(r["difference"]),
                     fmt_number(r["statistic"], 2), ci, _fmt_p(r["p"]).lstrip("="), _fmt_p(r["p_holm"]).lstrip("="),
                     "yes" if r["significant"] else "no"])
    return _html_table(header, rows)


def _html(proto: dict, lb: pd.DataFrame, sig: pd.DataFrame, figures: dict, runs: pd.DataFrame) -> str:
    esc = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>Leaderboard: {esc(proto['dataset'])}, profile {esc(proto['profile'])}</title>",
             f"<style>{_CSS}</style></head><body>"]
    banner = synthetic_banner(proto)
    if banner:
        parts.append(f'<div class="banner" role="alert">{esc(banner)}</div>')
    parts.append(f"<h1>Leaderboard: {esc(proto['dataset'])}, profile {esc(proto['profile'])}</h1>")
    parts.append(_html_table(*leaderboard_table(lb)))
    parts += [f'<p class="note">{esc(n)}</p>' for n in _notes(proto, lb)]

    parts.append("<h2>Which differences survive Holm correction</h2>")
    if sig.empty:
        parts.append(f"<p>{esc(summary_sentences(sig)[0])}</p>")
    else:
        parts.append(
            "<p>Each test below compares every pair of methods on the same test images of one split "
            f"(or, for the tests over splits, on the per-split AUCs). Within each test and split the p-values of "
            f"all pairs are adjusted with Holm's method; a difference is called significant when the adjusted p is "
            f"below {ALPHA}. The DeLong test is the primary one. The bootstrap Wilcoxon test of Byra (2021) is "
            "shown for comparability only: its p-value shrinks as more bootstrap resamples are drawn, whatever "
            "the data, so it overstates significance.</p>")
        for test in [t for t in TESTS if (sig["test"] == t).any()]:
            sentences = summary_sentences(sig, tests=[test])
            parts.append(f"<h3>{esc(TEST_LABELS[test])}{' (primary)' if test == 'delong' else ''}</h3>")
            parts.append("<ul>" + "".join(f"<li>{esc(s)}</li>" for s in sentences) + "</ul>")
    parts.append("<h2>Figures</h2>")
    for caption, path in figures.items():
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        parts.append(f'<figure><img alt="{esc(caption)}" src="data:image/png;base64,{data}">'
                     f"<figcaption class=\"note\">{esc(caption)}</figcaption></figure>")
    parts.append("<h2>Protocol</h2><ul>")
    parts += [f"<li><b>{esc(k)}</b>: {esc(v)}</li>" for k, v in _protocol_items(proto)]
    parts.append("</ul><h3>Methods</h3>")
    methods = runs.drop_duplicates("method").set_index("method")
    rows = []
    for m in lb["method"]:
        per = runs[runs["method"] == m].sort_values("split_seed")
        hp = "; ".join(f"seed {int(r.split_seed)}: lr {r.lr:g}, beta1 {r.beta1:g}" for r in per.itertuples())
        rows.append([m, str(methods.loc[m, "description"] or ""), str(methods.loc[m, "citation"] or ""), hp])
    parts.append(_html_table(["method", "description", "citation", "hyper-parameters"], rows, "text"))
    if not sig.empty:
        parts.append("<details><summary>All pairwise tests (significance.csv)</summary>")
        parts.append(_significance_table(sig))
        parts.append("</details>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_leaderboard(run_dir, n_bootstrap: int | None = None) -> dict[str, Path]:
    """Rebuild the report of a run folder from disk.

    Writes (atomically) into ``run_dir``: ``leaderboard.csv`` (:func:`leaderboard`, plus the
    columns of ``cost.csv`` when present), ``significance.csv`` (:func:`significance`),
    ``figures/roc.png``, ``figures/auc_vs_parameters.png``, ``figures/pvalues_delong.png``
    (with at least two methods), ``leaderboard.md`` and ``leaderboard.html`` (self-contained:
    figures embedded). If any run used synthetic data, the first line of the Markdown and the
    first element of the HTML page say so. Returns ``{name: path}`` of the files written.
    """
    from . import figures as fig  # matplotlib only when a report is written

    run_dir = Path(run_dir)
    runs = load_runs(run_dir)
    if n_bootstrap is None:
        n_bootstrap = default_n_bootstrap(run_dir, runs)
    lb = leaderboard(runs, cost=_read_cost(run_dir))
    sig = significance(run_dir, runs, n_bootstrap=n_bootstrap)
    proto = run_protocol(run_dir, runs, n_bootstrap)
    written = {"leaderboard.csv": write_csv_atomic(run_dir / "leaderboard.csv", lb),
               "significance.csv": write_csv_atomic(run_dir / "significance.csv", sig)}
    fig_dir = run_dir / "figures"
    figures = {}
    figures["ROC curves of every method, per split seed (AUC in the legend)"] = fig.roc_figure(
        run_dir, runs, fig_dir / "roc.png")
    figures["Test AUC against trainable parameters (error bars: standard deviation over split seeds)"] = \
        fig.auc_vs_parameters_figure(lb, fig_dir / "auc_vs_parameters.png", synthetic=proto["synthetic"])
    if (sig["test"] == "delong").any():
        figures["Holm-adjusted DeLong p-values for every pair of methods, per split seed"] = \
            fig.pvalue_matrix_figure(sig, fig_dir / "pvalues_delong.png", test="delong",
                                     synthetic=proto["synthetic"])
    for path in figures.values():
        written[f"figures/{Path(path).name}"] = Path(path)
    written["leaderboard.md"] = write_text_atomic(run_dir / "leaderboard.md", _markdown(proto, lb, sig))
    written["leaderboard.html"] = write_text_atomic(run_dir / "leaderboard.html",
                                                    _html(proto, lb, sig, figures, runs))
    return written
