"""Two independent computations of a decision curve, for the tests of ``benchmark.stats.net_benefit``.

* :func:`sklearn_curve`: scikit-learn's ``confusion_matrix`` at each threshold probability pt (biopsy when the risk
  is at least pt), net benefit TP/n - FP/n * pt / (1 - pt) (Vickers & Elkin 2006);
* :func:`dcurves_curve`: the dcurves library's ``dca``. dcurves imports lifelines at import time, whose releases pin
  numpy<2 (0.29) or pandas<3 (0.30), so it is not in the ``test`` extra (it would move the whole project onto
  other library versions): CI installs it with ``pip install --no-deps dcurves`` (``.ci/run``) and a stand-in
  lifelines module is put in its place here (its binary-outcome path never calls lifelines). Without dcurves the
  tests that need it skip with that reason.
"""
from __future__ import annotations

import sys
import types

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import confusion_matrix


def sklearn_curve(labels, risks, grid) -> dict:
    """``{"model", "all", "none"}``: net benefit over ``grid`` by scikit-learn's confusion matrix."""
    y, r, n = np.asarray(labels).astype(int), np.asarray(risks, float), len(labels)
    model, everyone = [], []
    for pt in grid:
        tn, fp, fn, tp = confusion_matrix(y, (r >= pt).astype(int), labels=[0, 1]).ravel()
        model.append(tp / n - fp / n * pt / (1 - pt))
        tn, fp, fn, tp = confusion_matrix(y, np.ones(n, int), labels=[0, 1]).ravel()
        everyone.append(tp / n - fp / n * pt / (1 - pt))
    return {"model": np.array(model), "all": np.array(everyone), "none": np.zeros(len(grid))}


def dcurves_module():
    """dcurves, importable without lifelines (a stand-in module); skips the test where dcurves is not installed."""
    try:
        import lifelines  # noqa: F401
    except ImportError:
        sys.modules.setdefault("lifelines", types.ModuleType("lifelines"))
    try:
        import dcurves
    except ImportError:
        pytest.skip("dcurves is not installed: pip install --no-deps dcurves (as .ci/run does; its lifelines would "
                    "pin numpy<2 or pandas<3)")
    return dcurves


def dcurves_curve(labels, risks, grid) -> dict:
    """``{"model", "all", "none"}``: net benefit over ``grid`` as dcurves' ``dca`` gives it."""
    out = dcurves_module().dca(data=pd.DataFrame({"cancer": np.asarray(labels), "model": np.asarray(risks)}),
                               outcome="cancer", modelnames=["model"], thresholds=np.asarray(grid))
    return {m: g.sort_values("threshold")["net_benefit"].to_numpy() for m, g in out.groupby("model")}
