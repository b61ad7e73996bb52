"""The leaderboard and the report group methods as ``petl-bench methods`` does: by family and source."""
from __future__ import annotations

import pandas as pd

from benchmark.plugins import registry
from benchmark.evaluation.families import UNREGISTERED, with_families
from benchmark.reporting.sections.leaderboard import family_table
from benchmark.reporting.sections.leaderboard import leaderboard_table, split_leaderboard
from benchmark.runfolder import REFERENCE_METHOD


def _lb() -> pd.DataFrame:
    rows = [  # method, rank, auc: two scaling methods, one reparameterisation, one unknown plugin
        ("lora", 1, 0.91), ("drs_channel", 2, 0.89), ("drs", 3, 0.88), ("my_new_method", 4, 0.80),
    ]
    lb = pd.DataFrame([{"method": m, "rank": r, "auc": a, "auc_ci_low": a - 0.03, "auc_ci_high": a + 0.03,
                        "rank_interval": f"{r}-{r + 1}"} for m, r, a in rows])
    reference = {"method": REFERENCE_METHOD, "rank": float("nan"), "auc": 0.86, "auc_ci_low": 0.83,
                 "auc_ci_high": 0.89, "rank_interval": float("nan")}
    return pd.concat([lb, pd.DataFrame([reference])], ignore_index=True)


def test_each_method_gets_the_registry_family_and_source_right_after_its_name():
    lb = with_families(_lb())
    assert list(lb.columns[:3]) == ["method", "family", "source"]
    row = lb.set_index("method")
    for name in ("lora", "drs", "drs_channel"):
        method = registry.get_method(name)
        assert (row.loc[name, "family"], row.loc[name, "source"]) == (method.family, method.source)
    assert row.loc["lora", "source"] == "peft" and row.loc["drs", "source"] == "paper"
    assert row.loc["my_new_method", "family"] == UNREGISTERED
    assert row.loc[REFERENCE_METHOD, "family"] == "reference"
    assert list(with_families(lb).columns).count("family") == 1  # idempotent: a rebuilt leaderboard


def test_the_family_table_names_each_family_best_method_best_family_first():
    header, rows = family_table(_lb())
    by_family = {r[0]: r for r in rows}
    scaling = registry.get_method("drs").family
    assert registry.get_method("drs_channel").family == scaling
    # drs_channel (rank 2) beats drs (rank 3) inside the scaling family, listed in rank order
    assert by_family[scaling][header.index("best method")] == "drs_channel"
    assert by_family[scaling][header.index("methods (rank order, AUC)")] == "drs_channel 0.890, drs 0.880"
    assert rows[0][0] == registry.get_method("lora").family  # the family of the rank-1 method comes first
    assert "reference" not in by_family  # the reference is not ranked, so it is not a family here
    assert by_family[scaling][header.index("its AUC [95% CI]")] == "0.890 [0.860, 0.920]"


def test_the_main_leaderboard_table_shows_family_and_the_ranked_auc():
    lb = with_families(_lb())
    for col in ("auc_fold_mean", "auc_fold_sd", "auc_pooled", "accuracy", "sensitivity", "specificity",
                "accuracy_corner", "sensitivity_corner", "specificity_corner", "trainable_parameters",
                "trainable_parameters_min", "trainable_parameters_max", "seconds_per_epoch"):
        lb[col] = 0.5
    lb["status"] = "ok"
    split = split_leaderboard(*leaderboard_table(lb))
    assert split["header"][:4] == ["rank", "method", "family", "fold-stratified AUC [95% CI]"]
    first = dict(zip(split["header"], split["rows"][0]))
    assert first["family"] == registry.get_method("lora").family
    assert first["fold-stratified AUC [95% CI]"].startswith("0.910 [0.880, 0.940]")
