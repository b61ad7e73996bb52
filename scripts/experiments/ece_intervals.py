"""Which bootstrap interval the adaptive ECE gets, decided by simulation (no run folder, no test fold).

The suite's calibration error is each fold model's adaptive ECE (10 equal-mass bins) on its own
test images, averaged over the fold models, with an interval from resampling images within folds.
On ~126 images a model (10 bins of ~13) the ECE is biased upwards: a bin's gap is a noisy mean,
and its absolute value is positive even for a calibrated model. This script simulates that
setting (5 fold models x 126 images, about a third malignant, scores spread like a trained
model's) for models with a known calibration, and reports, per interval, how often it covers the
true (population-binned) ECE and how often it holds the measured one:

  percentile  the bootstrap draws' 2.5% and 97.5% quantiles (what the AUC gets);
  basic       2 x measured - those quantiles, the low end at least 0 (Davison & Hinkley 1997, 5.2):
              corrects for the resamples' own upward bias, the suite's choice;
  shifted     the percentile interval moved down by the bootstrap's estimate of the bias.

It also prints the mean measured ECE and what a perfectly calibrated model with the same scores
shows (``benchmark.stats.calibrated_ece_draws``). About 80 s on a 2-core CPU:

    python scripts/experiments/ece_intervals.py --sims 200 --draws 1000
"""
from __future__ import annotations

import argparse

import numpy as np

from benchmark.stats import adaptive_ece, calibrated_ece_draws

FOLDS, IMAGES = 5, 126
MODELS = {"calibrated": (0.0, 1.0), "too low (a = +0.3, b = 0.8)": (0.3, 0.8),
          "overconfident (b = 0.6)": (0.0, 0.6), "too high (a = -0.7)": (-0.7, 1.0)}


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _sample(rng, n: int, a: float, b: float):
    """Labels and scores of a model whose true P(malignant | score) is sigmoid(a + b logit(score))."""
    s = _sigmoid(rng.normal(-0.6, 1.6, n))
    return (rng.random(n) < _sigmoid(a + b * np.log(s / (1 - s)))).astype(int), s


def simulate(sims: int, draws: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    lines = []
    for name, (a, b) in MODELS.items():
        truth = adaptive_ece(*_sample(rng, 2_000_000, a, b))  # population-binned ECE (sampling noise ~1e-4)
        cover = {k: 0 for k in ("percentile", "basic", "shifted")}
        holds = dict(cover)
        measured, floor = [], []
        for _ in range(sims):
            obs, boot, null = [], [], []
            for _ in range(FOLDS):
                y, s = _sample(rng, IMAGES, a, b)
                weights = rng.multinomial(IMAGES, np.full(IMAGES, 1 / IMAGES), size=draws).astype(float)
                obs.append(adaptive_ece(y, s))
                boot.append(adaptive_ece(y, s, weights))
                null.append(calibrated_ece_draws(s, 100, seed=int(rng.integers(2**31))).mean())
            theta, d = float(np.mean(obs)), np.mean(boot, axis=0)
            lo, hi = np.quantile(d, [0.025, 0.975])
            bias = d.mean() - theta
            for kind, (low, high) in {"percentile": (lo, hi), "basic": (max(0.0, 2 * theta - hi), 2 * theta - lo),
                                      "shifted": (max(0.0, lo - bias), hi - bias)}.items():
                cover[kind] += low <= truth <= high
                holds[kind] += low <= theta <= high
            measured.append(theta)
            floor.append(np.mean(null))
        lines.append(f"{name}: true ECE {truth:.3f}, measured {np.mean(measured):.3f} on average, a calibrated model "
                     f"with the same scores {np.mean(floor):.3f}; coverage of the true ECE / holds the measured: "
                     + ", ".join(f"{k} {cover[k] / sims:.0%} / {holds[k] / sims:.0%}" for k in cover))
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sims", type=int, default=200, help="simulated runs per model (default 200)")
    parser.add_argument("--draws", type=int, default=1000, help="bootstrap resamples per run (default 1000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for line in simulate(args.sims, args.draws, args.seed):
        print(line, flush=True)


if __name__ == "__main__":
    main()
