"""A published folder: a finished run folder without model weights, search storage, images or pages.

:func:`publish` copies what the evaluation reads (the predictions, the studies' records and validation
scores, the trials, the reference, the images' table, the partition, the profile) and the derived tables
of :data:`benchmark.evaluation.derived.DERIVED` rebuilt by this checkout, with ``leaderboard.md``; a file
over :data:`COMPRESS_ABOVE` bytes is written gzip-compressed (``name.gz``, byte-for-byte reproducible).
``MANIFEST.json`` records where it came from (the training code's commit, the data's checksums, the
partition's fingerprint, the profile as run), every file's size and sha256, and the commands that make it
again. :func:`unpack` turns a published folder back into a run folder that ``petl-bench report`` reads.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
import warnings
from datetime import datetime, timezone
from pathlib import Path

from benchmark.common.io import read_json, write_json_atomic, write_text_atomic
from benchmark.evaluation.derived import DERIVED, refresh
from benchmark.plugins.registry import method_set
from benchmark.reporting.pages.leaderboard import leaderboard_markdown
from benchmark.runfolder import (ANALYSIS_DIR, BASELINE_FILE, COMPRESSED_SUFFIX, COST_FILE, EXTERNAL_FILE, FAILED_FILE,
                                 FAILURES_FILE, IMAGES_FILE, LEADERBOARD_PAGES, MANIFEST_FILE, PARTITION_FILE,
                                 PREDICTIONS_FILE, PUBLISHED_DIR, REFERENCE_FILE, REFERENCE_INFO_FILE, RESULTS_FILE,
                                 SITE_RUN_PREFIX, STUDIES_FILE, SUITE_FILE, SUMMARY_FILE, TRAIN_SUBSETS_FILE,
                                 TRIAL_PREDICTIONS_FILE, TRIALS_FILE, VALIDATION_PREDICTIONS_FILE, read_record,
                                 refresh_tables, study_folders)

__all__ = ["publish", "unpack", "default_out", "published_files", "read_manifest", "RUN_INPUTS", "STUDY_FILES",
           "DERIVED_FILES", "COMPRESS_ABOVE", "FORMAT"]

FORMAT = 1  # MANIFEST.json's format
COMPRESS_ABOVE = 50_000  # bytes: a larger file is published gzip-compressed (a study's predictions with 3 data sets: ~120 kB)
# what training wrote that the evaluation reads (each published when the run has it)
RUN_INPUTS = (SUITE_FILE, PREDICTIONS_FILE, STUDIES_FILE, TRIALS_FILE, TRIAL_PREDICTIONS_FILE, SUMMARY_FILE,
              FAILURES_FILE, REFERENCE_FILE, REFERENCE_INFO_FILE, IMAGES_FILE, PARTITION_FILE, EXTERNAL_FILE,
              TRAIN_SUBSETS_FILE, COST_FILE, BASELINE_FILE)
STUDY_FILES = (RESULTS_FILE, FAILED_FILE, PREDICTIONS_FILE, VALIDATION_PREDICTIONS_FILE)  # of each study folder
# the derived tables (rebuilt when publishing) and the Markdown leaderboard
DERIVED_FILES = tuple(f for item in DERIVED for f in item.files) + LEADERBOARD_PAGES[:1]
ANALYSIS_SUFFIXES = (".csv", ".md")  # analysis/: its tables and notes (not its images)


def default_out(run_dir) -> Path:
    """``results/<profile>-<dataset>``: the profile's name and the training data set of ``suite.json``; for a
    comparison (``petl-bench compare``), the published folder it compared with, which it extends."""
    if (Path(run_dir) / BASELINE_FILE).is_file():
        return Path(read_json(Path(run_dir) / BASELINE_FILE)["baseline"])
    suite = read_json(Path(run_dir) / SUITE_FILE)
    return Path(PUBLISHED_DIR) / f"{(suite.get('profile') or {}).get('name', 'run')}-{suite.get('dataset', 'data')}"


def _inputs(run_dir: Path) -> list[Path]:
    """The run folder's files to publish, relative to it (derived tables excluded: they are rebuilt)."""
    out = [Path(name) for name in RUN_INPUTS if (run_dir / name).is_file()]
    for folder in study_folders(run_dir):
        out += [folder.relative_to(run_dir) / name for name in STUDY_FILES if (folder / name).is_file()]
    analysis = run_dir / ANALYSIS_DIR
    if analysis.is_dir():
        out += sorted(p.relative_to(run_dir) for p in analysis.iterdir() if p.suffix in ANALYSIS_SUFFIXES)
    return out


def _code(run_dir: Path, allow_dirty: bool) -> dict:
    """The training code of every study (``results.json``'s provenance): one commit, clean, else refused."""
    commits: dict[tuple, int] = {}
    for folder in study_folders(run_dir):
        record = read_record(folder / RESULTS_FILE, warn=False) if (folder / RESULTS_FILE).is_file() else None
        if record is not None:
            code = (record.get("provenance") or {}).get("code") or {}
            key = (code.get("commit"), code.get("dirty"))
            commits[key] = commits.get(key, 0) + 1
    if not commits:
        raise FileNotFoundError(f"{run_dir} has no {RESULTS_FILE} in its study folders: is it a finished run folder?")
    unclean = [f"{c or 'an unknown commit'}{' with uncommitted changes' if d else ''} ({n} studies)"
               for (c, d), n in commits.items() if d or d is None or not c]
    if unclean and not allow_dirty:
        raise ValueError(f"{run_dir} was trained by code that no commit describes: {'; '.join(unclean)}. Publish "
                         "a run made from a clean checkout, or pass --allow-dirty (the manifest then says so)")
    listed = [{"commit": c, "dirty": d, "studies": n} for (c, d), n in commits.items()]
    if (run_dir / BASELINE_FILE).is_file():
        return _comparison_code(run_dir, listed)
    return {"commits": listed, "commit": next(iter(commits))[0] if len(commits) == 1 else None,
            "dirty": any(d or d is None for _, d in commits)}


def _comparison_code(run_dir: Path, listed: list[dict]) -> dict:
    """A comparison's training code: the published run's code record (its commit, and the commits that trained its
    studies again), with the methods trained here added under ``contributed``. Their rows may join the published
    ones only when `compare` found this checkout's training code to be the published run's."""
    info = read_json(run_dir / BASELINE_FILE)
    check, here = info.get("code_check") or {}, info.get("trained_here") or {}
    if not check.get("checked") or check.get("changed_files") or check.get("package_differences"):
        why = check.get("reason") or "; ".join([*([f"changed: {', '.join(check['changed_files'])}"]
                                                   if check.get("changed_files") else []),
                                                 *check.get("package_differences", [])])
        raise ValueError(f"{run_dir} trained {', '.join(here.get('methods') or [])} with training code or packages that "
                         f"are not the published run's ({why}; compared with --allow-code-change): those rows cannot join "
                         f"the published ones. Publish a whole run of this code instead (run_all.sh, then publish)")
    code = dict(info.get("published_code") or {"commit": info["published"]["commit"],
                                                 "dirty": info["published"]["dirty"]})
    code["commits"] = listed
    code["contributed"] = [*code.get("contributed", []), {
        "methods": here["methods"], "commit": here.get("commit"), "dirty": here.get("dirty"),
        "date": (here.get("started") or "")[:10], "code_check": check}]
    return code


def _data(run_dir: Path) -> dict:
    """Each data set's checksum and size: the training set's from the studies' records, the external ones'
    from ``external.json``."""
    out = {}
    for folder in study_folders(run_dir):
        record = read_record(folder / RESULTS_FILE, warn=False) if (folder / RESULTS_FILE).is_file() else None
        data = (record or {}).get("dataset") or {}
        if data.get("name"):
            seen = out.setdefault(data["name"], {"checksum": data.get("checksum"), "n_images": data.get("n_images")})
            if seen["checksum"] != data.get("checksum"):
                raise ValueError(f"{folder} was trained on {data['name']} with checksum {data.get('checksum')}, "
                                 f"other studies of {run_dir} on {seen['checksum']}: one run, one data set")
    external = read_json(run_dir / EXTERNAL_FILE) if (run_dir / EXTERNAL_FILE).is_file() else {}
    for name, info in external.items():
        out[name] = {"checksum": info.get("checksum"), "n_images": info.get("n_images"), "external": True}
    return out


def _trained(run_dir: Path) -> dict:
    """When the studies ended (their records' times), their package versions and machine (the first record's)."""
    records = [f / RESULTS_FILE for f in study_folders(run_dir) if (f / RESULTS_FILE).is_file()]
    first = read_record(records[0], warn=False) or {}
    prov = first.get("provenance") or {}
    day = max(p.stat().st_mtime for p in records)
    return {"date": datetime.fromtimestamp(day, timezone.utc).strftime("%Y-%m-%d"), "versions": prov.get("versions"),
            "machine": prov.get("machine"), "command": prov.get("command")}


def _profile_methods(profile: dict, default: list[str]) -> list[str]:
    """The methods the profile names, its sets resolved by the registry; as named when one is not registered here
    (a plugin this checkout lacks)."""
    named = list(profile.get("methods") or default)
    try:
        return method_set(named)
    except (KeyError, ValueError):
        return named


def _regenerate(suite: dict, out: Path) -> list[str]:
    """The commands that make the published folder again: the run, then its publication. A run folder of a
    sites profile is one ``train-<set>/`` folder of the sites run, which trains every [sites] set at once."""
    profile = suite.get("profile") or {}
    run = f"./run_all.sh --profile {profile.get('name', 'quick')}"
    methods = suite.get("methods") or []
    if methods and methods != _profile_methods(profile, methods):
        run += f" --methods {','.join(methods)}"  # e.g. a comparison's: the profile's and the contributed ones
    if (profile.get("sites") or {}).get("train"):
        return [run, f"petl-bench publish reports/latest/{SITE_RUN_PREFIX}{suite.get('dataset')} --out {_shown(out)}"]
    external = "".join(f" --external {e}" for e in suite.get("external") or [])
    return [f"{run} --dataset {suite.get('dataset')}{external}", f"petl-bench publish reports/latest --out {_shown(out)}"]


def _shown(path: Path) -> str:
    """``path`` relative to the working folder when it is inside it (results/quick-busi), else as given."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _gzip(data: bytes) -> bytes:
    """gzip without a name or a time in its header: the same bytes give the same file."""
    return gzip.compress(data, compresslevel=9, mtime=0)


def published_files(stage: Path) -> list[Path]:
    """Every file under ``stage``, relative to it, sorted."""
    return sorted(p.relative_to(stage) for p in stage.rglob("*") if p.is_file())


def publish(run_dir, out=None, allow_dirty: bool = False, replace: bool = False,
            compress_above: int = COMPRESS_ABOVE, log=print) -> dict:
    """Publish the finished run folder ``run_dir`` into ``out`` (default :func:`default_out`); return the manifest.

    The run folder is only read: its files are copied into a temporary folder, whose derived tables this
    checkout rebuilds (``refresh(force=True)``, and ``leaderboard.md``), then written into ``out`` with
    ``MANIFEST.json``. A comparison (``petl-bench compare``'s run folder) publishes over the folder it compared
    with: the published rows with the methods trained here, listed in the manifest's ``code.contributed``.
    Refused: a run trained by uncommitted code (unless ``allow_dirty``), a comparison whose training code was not
    the published run's, a run whose tables are older than its studies (its report not run since), an existing
    ``out`` (unless ``replace``)."""
    run_dir = Path(run_dir)
    if not (run_dir / SUITE_FILE).is_file() or not (run_dir / PREDICTIONS_FILE).is_file():
        raise FileNotFoundError(f"{run_dir} is not a finished run folder (no {SUITE_FILE} or {PREDICTIONS_FILE})")
    out = Path(out) if out is not None else default_out(run_dir)
    if out.exists() and any(out.iterdir()) and not replace:
        raise FileExistsError(f"{out} exists: pass --replace to publish over it")
    code, data = _code(run_dir, allow_dirty), _data(run_dir)
    code.update(_kept_reproductions(out, code))
    suite = read_json(run_dir / SUITE_FILE)
    with tempfile.TemporaryDirectory(prefix="publish-") as tmp:
        stage = Path(tmp) / "run"
        for rel in _inputs(run_dir):
            (stage / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(run_dir / rel, stage / rel)  # with its time: the tables' staleness is the run's
        if refresh_tables(stage):
            raise ValueError(f"{run_dir}'s {PREDICTIONS_FILE}, {STUDIES_FILE} or {TRIALS_FILE} are older than its "
                             f"studies' files: run `petl-bench report {run_dir}` first")
        log(f"rebuilding the derived tables of {run_dir} with this checkout's evaluation ...")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ctx = refresh(stage, force=True)
            write_text_atomic(stage / LEADERBOARD_PAGES[0], leaderboard_markdown(ctx))
        manifest = _write(stage, Path(tmp) / "out", compress_above)
        manifest = {"format": FORMAT, "profile": suite.get("profile"), "dataset": suite.get("dataset"),
                    "external": suite.get("external") or [], "methods": suite.get("methods"), "code": code,
                    "evaluation_code": _checkout(), "data": data,
                    "partition": read_json(stage / PARTITION_FILE) if (stage / PARTITION_FILE).is_file() else None,
                    "trained": _trained(run_dir), "source": run_dir.name, "derived": sorted(ctx.built),
                    "regenerate": _regenerate(suite, out), **manifest}
        write_json_atomic(Path(tmp) / "out" / MANIFEST_FILE, manifest)
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(Path(tmp) / "out"), str(out))
    return manifest


def _kept_reproductions(out: Path, code: dict) -> dict:
    """The ``reproduced_by`` records of the folder being replaced, when it was published from the same training
    (the same commits, the same studies): republishing (after a change to the evaluation) must not drop them."""
    try:
        old = read_manifest(out).get("code") or {}
    except (FileNotFoundError, ValueError):
        return {}
    if old.get("reproduced_by") and old.get("commits") == code.get("commits"):
        return {"reproduced_by": old["reproduced_by"]}
    return {}


def _write(stage: Path, dest: Path, compress_above: int) -> dict:
    """Copy ``stage`` into ``dest``, compressing files over ``compress_above`` bytes; the manifest's file list."""
    files, raw_total = [], 0
    for rel in published_files(stage):
        data = (stage / rel).read_bytes()
        raw_total += len(data)
        name = rel.as_posix()
        if len(data) > compress_above:
            data, name = _gzip(data), name + COMPRESSED_SUFFIX
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (dest / name).write_bytes(data)
        files.append({"path": name, "bytes": len(data), "sha256": _sha256(data)})
    return {"files": files, "bytes": sum(f["bytes"] for f in files), "uncompressed_bytes": raw_total}


def _checkout() -> dict:
    """The commit of the checkout that rebuilt the derived tables."""
    from benchmark.common.provenance import git_commit

    return git_commit()


def read_manifest(folder) -> dict:
    """A published folder's ``MANIFEST.json`` (FileNotFoundError naming the folder when it has none)."""
    path = Path(folder) / MANIFEST_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{folder} has no {MANIFEST_FILE}: is it a folder `petl-bench publish` wrote?")
    return read_json(path)


def record_reproduction(folder, commit: str, studies: list[str], date: str | None = None) -> dict:
    """Add ``{commit, date, studies}`` to the manifest's ``code.reproduced_by`` (``MANIFEST.json`` rewritten
    atomically): commit ``commit``, with its own training code, trained ``studies`` of the published run again to
    their published predictions (``petl-bench check-published --retrain``). ``petl-bench compare`` then accepts
    a checkout whose training code is that commit's (:func:`benchmark.compare.check_baseline`)."""
    manifest = read_manifest(folder)
    code = manifest.setdefault("code", {})
    entry = {"commit": commit, "date": date or datetime.now(timezone.utc).strftime("%Y-%m-%d"),
             "studies": list(studies)}
    code["reproduced_by"] = [e for e in code.get("reproduced_by") or [] if e.get("commit") != commit] + [entry]
    write_json_atomic(Path(folder) / MANIFEST_FILE, manifest)
    return manifest


def unpack(folder, dest) -> Path:
    """The published ``folder`` as a run folder at ``dest``: each file checked against the manifest's sha256,
    ``.gz`` files decompressed, every file given one time (so no table looks older than its inputs). The
    evaluation and ``petl-bench report`` read it as any run folder (without figures of trained models)."""
    folder, dest = Path(folder), Path(dest)
    manifest = read_manifest(folder)
    written = []
    for entry in manifest["files"]:
        data = (folder / entry["path"]).read_bytes()
        if _sha256(data) != entry["sha256"]:
            raise ValueError(f"{folder / entry['path']} is not the published file (its sha256 differs from "
                             f"{MANIFEST_FILE}'s): restore it with git, or publish again")
        name = entry["path"]
        if name.endswith(COMPRESSED_SUFFIX):
            data, name = gzip.decompress(data), name[: -len(COMPRESSED_SUFFIX)]
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (dest / name).write_bytes(data)
        written.append(dest / name)
    stamp = max(p.stat().st_mtime for p in written)
    for p in written:
        os.utime(p, (stamp, stamp))
    return dest
