"""The README's results table, from the published quick run (results/quick-busi) through a committed summary
(docs/results.json).

    .venv/bin/python scripts/dev/readme_results.py                 # summarise results/quick-busi, then the table
    .venv/bin/python scripts/dev/readme_results.py FOLDER          # summarise another published (or run) folder
    .venv/bin/python scripts/dev/readme_results.py --summary-only  # the table again from docs/results.json

FOLDER is a folder `petl-bench publish` wrote (MANIFEST.json, leaderboard.csv, claims.csv, suite.json,
runs/*/repeat-*/fold-*/results.json; a file over the publication's size limit is read from its .gz), or a run
folder that `petl-bench report` finished. The summary, docs/results.json, holds the run's date, training code
commit, profile, data set, machine, one row per ranked method (AUC with its interval, rank interval, trainable
parameters) and the verdicts on the paper's claims per data set; the part of README.md between the markers
`<!-- results:begin -->` and `<!-- results:end -->` is then rewritten from it. While results/ holds no quick
run, the command without FOLDER rewrites the table from docs/results.json. Commit both files;
tests/project/test_published_results.py fails when the README's rows differ from results/quick-busi/leaderboard.csv.
"""
from __future__ import annotations

import argparse
import gzip
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
SUMMARY = ROOT / "docs" / "results.json"
README = ROOT / "README.md"
PUBLISHED = ROOT / "results" / "quick-busi"  # the published quick run the front page shows
MANIFEST = "MANIFEST.json"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
VERDICTS = ("supported", "contradicted", "not resolved at this size", "not tested")


def _file(folder: Path, name: str) -> Path | None:
    """``folder / name``, or its published ``.gz``, or None."""
    for path in (folder / name, folder / (name + ".gz")):
        if path.is_file():
            return path
    return None


def _json(path: Path) -> dict:
    data = path.read_bytes()
    return json.loads(gzip.decompress(data) if path.suffix == ".gz" else data)


def summarise(run_dir: Path) -> dict:
    """docs/results.json's content from a published folder or a finished run folder."""
    lb = pd.read_csv(_file(run_dir, "leaderboard.csv") or run_dir / "leaderboard.csv")
    suite = _json(_file(run_dir, "suite.json") or run_dir / "suite.json")
    records = sorted(p for p in run_dir.glob("runs/*/repeat-*/fold-*/results.json*")
                     if p.name in ("results.json", "results.json.gz"))
    if not records:
        raise SystemExit(f"{run_dir}: no runs/*/repeat-*/fold-*/results.json: is it a finished run folder?")
    first = _json(records[0])
    prov = first.get("provenance", {})
    machine = prov.get("machine", {})
    ranked = lb[lb["rank"].notna()]
    claims = {}
    if _file(run_dir, "claims.csv"):
        frame = pd.read_csv(_file(run_dir, "claims.csv"))
        claims = {d: {v: int((part["verdict"] == v).sum()) for v in VERDICTS}
                  for d, part in frame.groupby("dataset", sort=False)}
    profile = suite.get("profile", {})
    manifest = json.loads((run_dir / MANIFEST).read_text()) if (run_dir / MANIFEST).is_file() else None
    if manifest is not None:  # a published folder: its files' times are the checkout's, the manifest has the run's
        date, code = manifest["trained"]["date"], manifest["code"]
        where = f"published {run_dir.relative_to(ROOT) if run_dir.is_relative_to(ROOT) else run_dir}"
    else:
        date = datetime.fromtimestamp(records[-1].stat().st_mtime, timezone.utc).strftime("%Y-%m-%d")
        code, where = prov.get("code", {}), f"run folder {run_dir.name}"
    return {**_method_level(run_dir),
        "source": where,
        "date": date,
        "commit": (code.get("commit") or "unknown")[:7] + (" (uncommitted changes)" if code.get("dirty") else ""),
        "profile": profile.get("name", "unknown"),
        "backbone": f"{profile.get('backbone', {}).get('name')} at {profile.get('backbone', {}).get('image_size')} px",
        "dataset": suite.get("dataset"),
        "external": suite.get("external", []),
        "machine": f"{machine.get('device', '?')}, {machine.get('cpu_count', '?')} cores ({machine.get('processor', '?')})",
        "statistic": "the leaderboard's ranked AUC with its 95% duplicate-aware bootstrap interval",
        "rows": [{"method": r.method, "auc": round(float(r.auc), 3), "ci_low": round(float(r.auc_ci_low), 3),
                  "ci_high": round(float(r.auc_ci_high), 3), "rank_interval": str(r.rank_interval),
                  "trainable_parameters": int(r.trainable_parameters)} for r in ranked.itertuples()],
        "claims": claims,
    }


def _method_level(run_dir: Path) -> dict:
    """The method-level verdicts of the training data set (significance.csv's primary rows), what the run could
    detect (detectable.csv) and the analysis plan that decided them (analysis_plan.json); {} when absent."""
    out = {}
    if _file(run_dir, "significance.csv") and (run_dir / "analysis_plan.json").is_file():
        sig = pd.read_csv(_file(run_dir, "significance.csv"))
        inner = sig[(sig["dataset"] == sig["dataset"].iloc[0]) & sig["primary"].astype(str).eq("True")]
        out["method_level"] = {"significant": int(inner["significant"].astype(str).eq("True").sum()),
                               "pairs": len(inner),
                               "plan": json.loads((run_dir / "analysis_plan.json").read_text())["label"]}
    if _file(run_dir, "detectable.csv"):
        d = pd.read_csv(_file(run_dir, "detectable.csv"))
        if len(d):
            out.setdefault("method_level", {}).update(mdd_one=round(float(d["mdd_one"].iloc[0]), 3),
                                                      mdd_family=round(float(d["mdd_family"].iloc[0]), 3))
    return out


def _method_level_line(summary: dict) -> list[str]:
    m = summary.get("method_level")
    if not m or "pairs" not in m:
        return []
    text = (f"**Method level** ({m['plan']}: the corrected t-test over the fold models, what a rerun varies "
            f"included): {m['significant']} of {m['pairs']} pairwise differences survive Holm correction")
    if "mdd_one" in m:
        text += (f"; this run could detect {m['mdd_one']:.3f} AUC in one pre-chosen pair and {m['mdd_family']:.3f} "
                 f"across all {m['pairs']} (80% power)")
    return [text + ".", ""]


def _cell(x, fmt="{:.3f}") -> str:
    return "—" if x is None else fmt.format(x)


def table(summary: dict) -> str:
    """The README's block: where the numbers come from, the table, the claims' verdicts."""
    lines = [BEGIN, "",
             f"{summary['profile']} profile, {summary['dataset']}, {summary['backbone']}; {summary['date']}, commit "
             f"{summary['commit']}, {summary['machine']}; {summary['statistic']} ({summary['source']}).", ""]
    if summary.get("note"):
        lines += [f"**{summary['note']}**", ""]
    lines += ["| method | AUC [95% CI] | rank interval | trainable parameters |", "|---|---:|---:|---:|"]
    for r in summary["rows"]:
        ci = f" [{r['ci_low']:.3f}, {r['ci_high']:.3f}]" if r.get("ci_low") is not None else ""
        lines.append(f"| {r['method']} | {_cell(r.get('auc'))}{ci} | {r.get('rank_interval') or '—'} | "
                     f"{_cell(r.get('trainable_parameters'), '{:,}')} |")
    lines += [""] + _method_level_line(summary) + [answer(summary)]
    return "\n".join(lines + ["", END])


def answer(summary: dict) -> str:
    """The answer to the paper's question, from the claims' verdicts per data set (or the summary's own)."""
    if summary.get("answer"):
        return f"**Answer.** {summary['answer']}"
    parts = [f"on {dataset}, " + ", ".join(f"{n} {v}" for v, n in counts.items() if n or v != "not tested")
             for dataset, counts in summary.get("claims", {}).items()]
    if not parts:
        return "**Answer.** This run has no claims.csv: run `petl-bench report` on it first."
    return (f"**Answer.** Of the paper's {sum(next(iter(summary['claims'].values())).values())} claims: "
            + "; ".join(parts) + ". The Reproduction section of the run's report gives each claim's paired "
            "comparison, interval and verdict.")


def write_readme(summary: dict, readme: Path = README) -> None:
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{readme}: no {BEGIN} ... {END} block to fill")
    head, rest = text.split(BEGIN, 1)
    readme.write_text(head + table(summary) + rest.split(END, 1)[1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", nargs="?", metavar="FOLDER",
                        help="a published folder or a finished run folder (default: results/quick-busi when it exists)")
    parser.add_argument("--summary-only", action="store_true", help="rewrite the table from the summary alone")
    parser.add_argument("--summary", default=str(SUMMARY), help="the run summary (default: docs/results.json)")
    parser.add_argument("--readme", default=str(README), help="the README to fill (default: README.md)")
    args = parser.parse_args(argv)
    summary_path = Path(args.summary)
    source = Path(args.run_dir) if args.run_dir else PUBLISHED if (PUBLISHED / MANIFEST).is_file() else None
    if source is not None and not args.summary_only:
        summary = summarise(source)
        old = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
        if old.get("note") and old.get("commit") == summary["commit"]:  # a note on this run stays
            summary["note"] = old["note"]
        elif old.get("note"):
            print(f"dropped the note of {summary_path} (it was about commit {old.get('commit')}): {old['note']}")
        summary_path.write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
        print(f"wrote {summary_path} from {source}")
    elif source is None and not args.summary_only:
        print(f"no published quick run at {PUBLISHED}: the table from {summary_path} as it is")
    summary = json.loads(summary_path.read_text())
    write_readme(summary, Path(args.readme))
    print(f"wrote the results table of {args.readme} from {summary_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
