"""The analysis plan (``analysis_plan.toml`` beside this module): what decides the suite's verdicts.

The plan is data, not code: its version, the primary test, the two-sided confidence, the
non-inferiority margin (also the Bayesian region of practical equivalence), the power that
minimum detectable differences are stated at, and the paper's claims in their testing order.
:func:`load_plan` reads it once; :attr:`AnalysisPlan.sha256` is the hash of the file's bytes, which
every report states beside the version, so a verdict can always be traced to the plan that decided
it. docs/analysis-plan.md gives the reasons; changing the file is a reviewed change with a new
version.
"""
from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from scipy.stats import norm

__all__ = ["PLAN_FILE", "Claim", "AnalysisPlan", "load_plan", "sensitivity_margin"]

PLAN_FILE = Path(__file__).with_name("analysis_plan.toml")
CLAIM_KINDS = ("matches or beats", "beats")


@dataclass(frozen=True)
class Claim:
    text: str       # the claim in words
    method_a: str   # the method claimed to be at least as good ...
    method_b: str   # ... as this one
    kind: str       # "beats" or "matches or beats"


@dataclass(frozen=True)
class AnalysisPlan:
    version: str
    sha256: str
    primary_test: str
    confidence: float
    alpha: float
    margin: float
    power: float
    claims: tuple[Claim, ...]

    @property
    def one_sided_alpha(self) -> float:
        """The level of each claim's one-sided test: ``(1 - confidence) / 2``."""
        return (1.0 - self.confidence) / 2.0

    @property
    def label(self) -> str:
        """``analysis plan v1 (sha256 0123abcd...)``, as reports print it."""
        return f"analysis plan v{self.version} (sha256 {self.sha256[:12]})"


@lru_cache(maxsize=None)
def load_plan(path: Path = PLAN_FILE) -> AnalysisPlan:
    """The plan in ``path``, validated (``ValueError`` naming the file and the field otherwise)."""
    raw = Path(path).read_bytes()
    data = tomllib.loads(raw.decode("utf-8"))
    missing = [k for k in ("version", "primary_test", "confidence", "alpha", "margin", "power", "claims")
               if k not in data]
    if missing:
        raise ValueError(f"{path}: the analysis plan lacks {', '.join(missing)}")
    for key in ("confidence", "alpha", "power"):
        if not 0 < float(data[key]) < 1:
            raise ValueError(f"{path}: {key} must lie in (0, 1), got {data[key]}")
    if not float(data["margin"]) > 0:
        raise ValueError(f"{path}: margin must be a positive AUC difference, got {data['margin']}")
    claims = []
    for i, c in enumerate(data["claims"], 1):
        if c.get("kind") not in CLAIM_KINDS:
            raise ValueError(f"{path}: claim {i} has kind {c.get('kind')!r}; use one of {list(CLAIM_KINDS)}")
        claims.append(Claim(c["text"], c["method_a"], c["method_b"], c["kind"]))
    return AnalysisPlan(version=str(data["version"]), sha256=hashlib.sha256(raw).hexdigest(),
                        primary_test=str(data["primary_test"]), confidence=float(data["confidence"]),
                        alpha=float(data["alpha"]), margin=float(data["margin"]), power=float(data["power"]),
                        claims=tuple(claims))


def sensitivity_margin(auc: float = 0.88, specificity: float = 0.8, sensitivity_loss: float = 0.05) -> float:
    """The AUC loss that costs ``sensitivity_loss`` of sensitivity at a fixed ``specificity``, starting from
    ``auc``, for a binormal ROC curve with equal variances (``AUC = Phi(d' / sqrt 2)``, sensitivity at
    specificity s ``= Phi(d' - Phi^-1(s))``): how the plan's margin was derived."""
    z_spec = norm.ppf(specificity)
    d = 2 ** 0.5 * norm.ppf(auc)
    d_lower = norm.ppf(norm.cdf(d - z_spec) - sensitivity_loss) + z_spec
    return float(auc - norm.cdf(d_lower / 2 ** 0.5))
