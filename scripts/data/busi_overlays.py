"""Write BUSI's per-image overlay flags (burnt-in annotations), ``benchmark/data/busi_overlays.csv``.

Usage: .venv/bin/python scripts/data/busi_overlays.py [--data-root BUSI] [--out FILE] [--eye FILE]

Every image of BUSI (benign, malignant and normal) gets the verdict of the detector
(``benchmark.data.overlays.detect_file``, source ``detector``), unless it was checked by eye:
then the eye's verdict (``benchmark/data/busi_overlays_eye.csv``, source ``eye``). ``kinds`` is
what the detector found (marks, lines, colour) whatever the source. Prints the flagged share per
class, by the detector alone and in the written file, and the detector's agreement with the eye on
the eye-checked images, the held-out check sample apart from the images looked at while tuning.
How it was made and what it found: docs/data/busi-overlays.md.
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmark.data.busi import list_busi_files, resolve_busi_root
from benchmark.data.overlays import FLAG_COLUMNS, detect_file

FLAGS = ROOT / "benchmark" / "data" / "busi_overlays.csv"
EYE = ROOT / "benchmark" / "data" / "busi_overlays_eye.csv"


def read_eye(path: Path) -> dict[str, tuple[int, str]]:
    """image_id -> (overlay by eye, sample: "check" or "tuning")."""
    with open(path, newline="") as fh:
        return {row["image_id"]: (int(row["overlay"]), row["sample"]) for row in csv.DictReader(fh)}


def agreement(pairs: list[tuple[int, int]]) -> str:
    """Sensitivity and specificity of the detector (second) against the eye (first)."""
    tp = sum(e and d for e, d in pairs)
    tn = sum(not e and not d for e, d in pairs)
    pos, neg = sum(e for e, _ in pairs), sum(not e for e, _ in pairs)
    return (f"{len(pairs)} images, {pos} with overlays by eye: sensitivity {tp}/{pos}, specificity {tn}/{neg}, "
            f"disagreements {len(pairs) - tp - tn}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", help="BUSI's folder (default: found as petl-bench finds it)")
    parser.add_argument("--out", type=Path, default=FLAGS)
    parser.add_argument("--eye", type=Path, default=EYE)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    root = resolve_busi_root(args.data_root)
    eye = read_eye(args.eye)
    rows, by_detector = [], {}
    for image_id, _ in list_busi_files(root, include_normal=True):
        found = detect_file(root / image_id)
        by_detector[image_id] = int(found.overlay)
        flag, source = (eye[image_id][0], "eye") if image_id in eye else (int(found.overlay), "detector")
        rows.append({"image_id": image_id, "overlay": flag, "kinds": ";".join(found.kinds), "source": source})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FLAG_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"{args.out}: {len(rows)} images from {root}, {time.perf_counter() - started:.0f} s")
    for cls in ("benign", "malignant", "normal"):
        part = [r for r in rows if r["image_id"].startswith(f"{cls}/")]
        n_det = sum(by_detector[r["image_id"]] for r in part)
        n = sum(r["overlay"] for r in part)
        if part:
            print(f"  {cls}: {n} of {len(part)} flagged ({n / len(part):.1%}); detector alone {n_det} "
                  f"({n_det / len(part):.1%})")
    for sample in ("check", "tuning"):
        pairs = [(flag, by_detector[i]) for i, (flag, s) in eye.items() if s == sample and i in by_detector]
        if pairs:
            print(f"  detector vs eye, {sample} sample: {agreement(pairs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
