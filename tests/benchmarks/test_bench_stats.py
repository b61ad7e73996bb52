"""Benchmark of the evaluation's statistics: the paired cluster bootstrap at the leaderboard's size
(12 methods, BUSI's 633 images with duplicate pairs, 10,000 resamples, all 66 pairs)."""
from itertools import combinations

import numpy as np

from benchmark.stats import paired_cluster_bootstrap


def test_paired_cluster_bootstrap_12_methods_633_images(benchmark):
    rng = np.random.default_rng(0)
    n = 633
    y = (rng.random(n) < 0.33).astype(int)
    groups = np.arange(n)
    for i in range(0, 120, 2):  # some duplicate pairs, as in BUSI
        if y[i] == y[i + 1]:
            groups[i + 1] = groups[i]
    scores = {f"m{k:02d}": 0.2 * k * y + rng.normal(size=n) for k in range(12)}
    pairs = list(combinations(scores, 2))

    result = benchmark.pedantic(paired_cluster_bootstrap, args=(y, scores, groups, pairs),
                                kwargs={"n_bootstrap": 10_000, "seed": 0}, rounds=3, iterations=1)

    assert len(result) == 66
    worst_vs_best = result[("m00", "m11")]
    assert worst_vs_best["difference"] < 0 and worst_vs_best["ci_high"] < 0 and worst_vs_best["p"] == 2 / 10_001
