"""Hyper-parameter search with Optuna: one study per (method, backbone, repeat, fold), run.

What a study searches and its name are in :mod:`benchmark.training.search_space`; where studies
live (SQLite under the run folder, or a shared storage URL) in :mod:`benchmark.training.study_storage`.

- ``grid`` (the paper's protocol): the grid's points are queued and run one at a time.
- ``tpe``: Optuna's TPE sampler over the method's own space: the first trial is the method's
  default point, the next ``startup_trials - 1`` random, the rest TPE's. Each study has its own
  sampler seed (method, repeat, fold and ``[search] seed``: :mod:`benchmark.training.seeds`),
  so methods, folds and repeats get their own draws; a resumed study reseeds past the trials
  it has, so it continues instead of repeating them. Median pruning
  compares a trial's validation metric with the completed trials' at the same epoch, once two
  trials have completed, after the third epoch.

Selection uses validation data only (:mod:`benchmark.training.selection`): the profile's metric
(validation AUC by default; the paper's accuracy in the ``paper`` profile), trials within
``tie_se`` standard errors of the best tied, ties to the lower validation loss. A trial whose
loss became NaN ("diverged") or whose model collapsed (constant validation scores, or a loss
that never left the class-prior loss; see ``benchmark.training.trainer``) is failed, with the
reason, and never selected. Optuna stores it as pruned, not failed: its samplers learn nothing from
failed trials, so TPE would propose a region that collapses again and again
(docs/protocol.md); the run's records (``trials.csv``, the budget) call it failed.
When no trial of a study completes, the study ends
as "no working configuration found": ``failed.json`` with the reason, no model, no test.
Each completed trial's model also scores the test fold and the external sets when it finishes
(``trial_predictions.csv`` of the study, :mod:`benchmark.training.trial_predictions`; ``[search]
keep_trial_predictions = false`` switches it off), for the budget curves only: selection never reads them.
A changed profile makes a new study (its name carries a fingerprint) and never returns an old
result. Re-running resumes.

Many processes, on one machine or several, can share a study (``--storage
postgresql+psycopg://...``): the process that creates a study puts all its trials in the
study's queue (the grid's points; the TPE study's first point and ``n_trials - 1`` open
slots, whose parameters TPE proposes when a process takes one), and every process takes
trials only from that queue, which the storage hands out atomically. So no trial is trained
twice and a study never gets more trials than one process would have run. Trained states go to
Optuna's artifact store (``--artifacts``, a folder all hosts mount; by default the run
folder's ``artifacts/``), so any host can test the selected model. On shared storage a running
trial sends a heartbeat; a trial whose host died (no heartbeat for three intervals) is failed
and queued again with the same parameters for another host. Each process then waits until its
studies are complete and tests and records them, so every host ends with the complete results.
"""
from __future__ import annotations

import json
import os
import socket
import tempfile
import threading
import time
import warnings
from pathlib import Path

import optuna
import torch
from optuna.artifacts import FileSystemArtifactStore, download_artifact, upload_artifact
from optuna.artifacts.exceptions import ArtifactNotFound
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from benchmark.data import ImageSet
from benchmark.common.io import write_json_atomic
from benchmark.models.build import count_parameters, rebuild_trained
from benchmark.common.profiles import Profile
from benchmark.runfolder import FAILED_FILE, PREDICTIONS_FILE, RESULTS_FILE, TRIAL_PREDICTIONS_FILE
from benchmark.plugins.registry import Method, get_method
from benchmark.runfolder import STATE_FILE
from benchmark.training.runner import Fold, TrainedModel, record_run, train_model
from benchmark.training.seeds import sampler_seed
from benchmark.training.selection import SelectionRule
from benchmark.training.search_space import describe_space, search_space, study_fingerprint, study_name, \
    trial_slots
from benchmark.training.study_storage import DEFAULT_HEARTBEAT, STUDY_DB, default_storage, open_storage, redact
from benchmark.training.trainer import TrainingCollapsed, TrainResult, TrialFailed, trained_state
from benchmark.training.trial_predictions import keep_trial_rows, trial_rows, write_trial_predictions
from benchmark.training.device import resolve_device

ARTIFACTS_DIR = "artifacts"       # trained states of trials (Optuna's artifact store), by default in the run folder
STATE_ARTIFACT_ATTR = "state_artifact"
WORKER_ATTR = "worker"            # host:pid of the process that ran a trial
FAILURE_ATTR = "failure"          # set on trials that failed on their own (diverged, collapsed)
INTERRUPTED_ATTR = "interrupted"  # set on trials a killed run left behind
NO_WORKING_CONFIGURATION = "no_working_configuration"
PRUNE_AFTER_TRIALS, PRUNE_WARMUP_EPOCHS = 2, 3


def _suggest(trial: optuna.Trial, name: str, dist):
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    if isinstance(dist, FloatDistribution):
        return trial.suggest_float(name, dist.low, dist.high, log=dist.log, step=dist.step)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, log=dist.log, step=dist.step)
    raise TypeError(f"search space entry {name!r}: unsupported distribution {type(dist).__name__}")


def _sampler_and_pruner(profile: Profile, method: str, fold: Fold, n_finished: int):
    s = profile.search
    # own draws per study (method, repeat, fold, [search] seed: seeds.py); a resume continues
    seed = sampler_seed(method, fold.split_seed, fold.fold, fold.search_seed, n_finished)
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(1, s.startup_trials)) \
        if s.sampler == "tpe" else optuna.samplers.RandomSampler(seed=seed)  # grid: enqueued
    pruner = {"none": optuna.pruners.NopPruner(),
              "median": optuna.pruners.MedianPruner(n_startup_trials=PRUNE_AFTER_TRIALS,
                                                    n_warmup_steps=PRUNE_WARMUP_EPOCHS),
              "hyperband": optuna.pruners.HyperbandPruner(min_resource=2,
                                                          max_resource=profile.train.max_epochs)}[s.pruner]
    return sampler, pruner


def _fail_stale_trials(study: optuna.Study) -> None:
    """Fail trials whose heartbeat stopped (their host died); the storage queues them again."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def _mark_interrupted(study: optuna.Study, shared: bool) -> int:
    """Trials left 'running' by a killed run: failed and queued again with the same parameters.

    On shared storage other processes may be running trials: there only trials whose heartbeat
    stopped are failed (and queued again by the storage's retry callback). Returns how many
    trials this process queued again."""
    if shared:
        _fail_stale_trials(study)
        return 0
    storage, count = study._storage, 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        storage.set_trial_user_attr(t._trial_id, INTERRUPTED_ATTR, True)
        storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        study.enqueue_trial(t.system_attrs.get("fixed_params") or t.params)
        count += 1
    return count


def _counts_as_done(t: optuna.trial.FrozenTrial) -> bool:
    if t.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return _failed_on_its_own(t)  # studies written before failed trials were stored as pruned


def _failed_on_its_own(t: optuna.trial.FrozenTrial) -> bool:
    """Diverged or collapsed (stored as pruned, or as failed by earlier versions), not interrupted."""
    return FAILURE_ATTR in t.user_attrs


def _outcome(t: optuna.trial.FrozenTrial) -> str:
    """The trial's state in the run's records: FAIL for a trial that failed on its own."""
    return "FAIL" if _failed_on_its_own(t) else t.state.name


def selection_rule(profile: Profile, data: ImageSet, fold: Fold) -> SelectionRule:
    """The study's selection rule: the profile's metric and tie width on this fold's validation set."""
    labels = data.labels[fold.split["val"]]
    n_pos = int((labels == 1).sum())
    return SelectionRule(profile.search.selection, profile.search.tie_se, n_pos, int(len(labels) - n_pos))


class _Objective:
    def __init__(self, method: Method, profile: Profile, data: ImageSet, fold: Fold, base_config: dict,
                 device: torch.device, artifacts: FileSystemArtifactStore, progress: bool,
                 external: dict | None = None):
        self.method, self.profile, self.data, self.fold = method, profile, data, fold
        self.base, self.device, self.artifacts, self.progress = base_config, device, artifacts, progress
        self.external = external
        self.space = search_space(profile, method)

    def __call__(self, trial: optuna.Trial) -> float:
        trial.set_user_attr(WORKER_ATTR, f"{socket.gethostname()}:{os.getpid()}")
        params = {name: _suggest(trial, name, dist) for name, dist in self.space.items()}
        index = trial.number
        if self.profile.search.sampler == "grid":
            index = trial.suggest_categorical("repeat", list(range(self.profile.search.repeats)))
        config = {**self.base, "lr": params.pop("lr"), "beta1": params.pop("beta1", self.profile.train.beta1),
                  "train_seed": self.fold.train_seed(index),
                  "method_params": params}

        def on_epoch(epoch: int, metric: float) -> None:
            trial.report(metric, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {epoch} (validation "
                                         f"{self.profile.search.selection} {metric:.3f})")

        try:
            trained = train_model(self.profile, config, self.data, self.fold.split, self.device,
                                  progress=self.progress, on_epoch=on_epoch)
            if trained.result.collapse:
                raise TrainingCollapsed(trained.result.collapse)
        except TrialFailed as exc:  # pruned in Optuna, so that TPE counts it among the bad trials
            trial.set_user_attr(FAILURE_ATTR, str(exc))
            raise optuna.TrialPruned(str(exc)) from exc
        except optuna.TrialPruned:
            raise
        except (Exception, KeyboardInterrupt):
            # Ctrl-C, or an error outside the trial's own failures: Optuna marks the trial failed and
            # re-raises. Queue its parameters again, so that a rerun redoes it (as a killed run's trial).
            trial.set_user_attr(INTERRUPTED_ATTR, True)
            trial.study.enqueue_trial(dict(trial.params))
            raise
        result = trained.result
        state = {k: v.cpu() for k, v in trained_state(trained.backbone.model).items()}
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"trial-{trial.number}.pt"
            torch.save(state, path)
            artifact = upload_artifact(artifact_store=self.artifacts, file_path=str(path), study_or_trial=trial)
        trial.set_user_attr(STATE_ARTIFACT_ATTR, artifact)
        if self.profile.search.keep_trial_predictions:  # for the budget curves; selection never reads them
            keep_trial_rows(trial, self.artifacts, trial_rows(trained, self.data, self.fold, self.profile,
                                                              self.device, self.external, trial.number))
        trial.set_user_attr("config", json.loads(json.dumps(trained.config)))
        trial.set_user_attr("training", json.loads(json.dumps(result.as_dict())))
        trial.set_user_attr("val_loss", result.best_val_loss)
        trial.set_user_attr("val_auc", result.best_val_auc)
        return result.best_val_metric


def finished_search(out_dir: Path, name: str) -> dict | None:
    """The record of a finished study of this name in ``out_dir`` (results.json or failed.json)."""
    for file in (RESULTS_FILE, FAILED_FILE):
        path = Path(out_dir) / file
        if not path.is_file():
            continue
        try:
            record = json.loads(path.read_text())
        except json.JSONDecodeError:
            continue
        if record.get("search", {}).get("study_name") == name:
            return record
    return None


def _trial_rows(study: optuna.Study) -> list[dict]:
    return [{"number": t.number, "state": _outcome(t), "params": t.params, "value": t.value,
             "val_auc": t.user_attrs.get("val_auc"), "val_loss": t.user_attrs.get("val_loss"),
             "epochs": _epochs(t), "seconds": _seconds(t), "worker": t.user_attrs.get(WORKER_ATTR),
             "failure": t.user_attrs.get(FAILURE_ATTR)} for t in study.trials]


def _epochs(t: optuna.trial.FrozenTrial) -> int | None:
    """Epochs the trial trained: its training record's, else (pruned, failed) the epochs it reported."""
    run = t.user_attrs.get("training", {}).get("epochs_run")
    return int(run) if run is not None else (len(t.intermediate_values) or None)


def _seconds(t: optuna.trial.FrozenTrial) -> float | None:
    """The trial's wall time (training, and scoring the test fold when trial predictions are kept)."""
    if t.datetime_start is None or t.datetime_complete is None:
        return None
    return round((t.datetime_complete - t.datetime_start).total_seconds(), 3)


def _no_working_configuration(study: optuna.Study) -> str:
    trials = study.trials
    failures = [t.user_attrs.get(FAILURE_ATTR, "") for t in trials if _outcome(t) == "FAIL"]
    collapsed = sum(f.startswith("collapsed") for f in failures)
    diverged = sum(f.startswith("diverged") for f in failures)
    pruned = sum(_outcome(t) == "PRUNED" for t in trials)
    example = next((f for f in failures if f), "")
    return (f"{len(trials)} trial(s): {collapsed} collapsed, {diverged} diverged, "
            f"{pruned} pruned" + (f" (e.g. {example})" if example else ""))


class NoSlotLeft(Exception):
    """The study's queue is empty: the process takes no more of its trials."""


class _QueueStudy(optuna.Study):
    """A study whose trials come only from its queue: asking for a trial pops a waiting one
    (atomically, in the storage) or raises :class:`NoSlotLeft`; it never creates a new one."""

    _pop_lock = threading.Lock()  # SQLite ignores SELECT ... FOR UPDATE: this process's threads take turns

    def _pop_waiting_trial_id(self) -> int:
        with self._pop_lock:
            trial_id = super()._pop_waiting_trial_id()
        if trial_id is None:
            raise NoSlotLeft
        return trial_id


def _open_study(name: str, storage, profile: Profile, method: Method, fold: Fold,
                shared: bool) -> tuple[optuna.Study, int]:
    """Create or load the study; its creator fills its queue. Returns (study, interrupted trials redone)."""
    try:
        optuna.create_study(study_name=name, storage=storage, direction="maximize")
        created = True
    except optuna.exceptions.DuplicatedStudyError:
        created = False
    probe = optuna.load_study(study_name=name, storage=storage)
    finished = sum(t.state.is_finished() for t in probe.get_trials(deepcopy=False))
    sampler, pruner = _sampler_and_pruner(profile, method.name, fold, finished)
    study = _QueueStudy(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
    if created:
        for params in trial_slots(profile, method):
            study.enqueue_trial(params)
    return study, _mark_interrupted(study, shared)


def _target(profile: Profile, method: Method) -> int:
    return len(trial_slots(profile, method))


def _finished(study: optuna.Study, target: int) -> bool:
    trials = study.get_trials(deepcopy=False)
    if any(t.state in (TrialState.WAITING, TrialState.RUNNING) for t in trials):
        return False
    return sum(_counts_as_done(t) for t in trials) >= target


def run_search(method_name: str, profile: Profile, dataset: str, data: ImageSet, fold: Fold,
               out_dir: Path, run_dir: Path, storage: str | None = None, device: str = "auto",
               progress: bool = True, weights: str | None = None, parallel_trials: int | None = None,
               concurrent_studies: int = 1, external: dict | None = None, artifacts: str | Path | None = None,
               wait: bool = True, heartbeat: int = DEFAULT_HEARTBEAT, poll_seconds: float = 2.0) -> dict | None:
    """Search on the fold's train/validation images, select on validation, test the selected model
    once (and score each external set once), and record the run; or record why no trial worked.

    Returns the record (``results.json``'s, or ``failed.json``'s whose ``status`` is
    ``no_working_configuration``). With ``wait=False`` it returns None instead of waiting when
    the queue is empty but other processes still run trials of the study (shared storage).
    ``parallel_trials`` (default: the profile's) trials run at once in threads, for a GPU.
    ``concurrent_studies`` is recorded: how many studies shared the machine with this one.
    ``artifacts``: where trained states go (default ``run_dir/artifacts``).
    """
    method = get_method(method_name)
    name = study_name(method_name, profile.backbone.name, fold.repeat, fold.fold,
                      study_fingerprint(profile, method, data.checksum), fold.train_size)
    out_dir = Path(out_dir)
    if (done := finished_search(out_dir, name)) is not None:
        return done
    started = time.perf_counter()
    dev = resolve_device(device)
    shared = storage is not None
    url = storage if shared else default_storage(run_dir)
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    artifacts_dir = Path(artifacts) if artifacts is not None else Path(run_dir) / ARTIFACTS_DIR
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    store = FileSystemArtifactStore(str(artifacts_dir))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study, interrupted = _open_study(name, open_storage(url, heartbeat if shared else None), profile, method,
                                     fold, shared)
    base = {"method": method_name, "dataset": dataset, "profile": profile.name,
            "backbone": profile.backbone.name, "image_size": profile.backbone.image_size,
            "weights": weights if weights is not None else profile.backbone.weights,
            "scheme": profile.evaluation.scheme, "repeat": fold.repeat, "fold": fold.fold,
            "split_seed": fold.split_seed, "search_seed": fold.search_seed, "augment_seed": fold.augment_seed}
    if fold.train_size is not None:  # a training subset ([data] train_sizes); absent: the whole training part
        base["train_size"] = fold.train_size
    objective = _Objective(method, profile, data, fold, base, dev, store, progress, external)
    jobs = max(1, parallel_trials or profile.search.parallel_trials)
    if jobs > 1 and profile.search.sampler == "grid":
        warnings.warn("--parallel-trials applies to the tpe sampler; the grid runs one trial at a time")
        jobs = 1
    rule = selection_rule(profile, data, fold)
    keep_best = lambda study, trial: _prune_states(study, store, rule)  # noqa: E731 (after each trial)
    target = _target(profile, method)
    while True:
        try:
            study.optimize(objective, n_jobs=jobs, callbacks=[keep_best])
        except NoSlotLeft:
            pass
        if _finished(study, target):
            break
        if not shared and not any(t.state == TrialState.WAITING for t in study.get_trials(deepcopy=False)):
            raise RuntimeError(f"{name}: study incomplete with an empty queue; delete the run folder's "
                               f"{STUDY_DB} entry of this study (or the run folder) and run again")
        if not wait:
            return None
        _fail_stale_trials(study)  # a dead host's trial: failed and queued again
        time.sleep(poll_seconds)

    search = {"study_name": name, "storage": redact(url), "sampler": profile.search.sampler,
              "sampler_seed": sampler_seed(method_name, fold.split_seed, fold.fold, fold.search_seed),
              "pruner": profile.search.pruner, "n_trials": len(study.trials),
              "space": describe_space(profile, method), "selection_metric": profile.search.selection,
              "interrupted_trials_redone": interrupted, "concurrent_studies": int(concurrent_studies),
              "artifacts": str(artifacts_dir),
              "n_collapsed": sum((t.user_attrs.get(FAILURE_ATTR) or "").startswith("collapsed") for t in study.trials),
              "n_failed": sum(_outcome(t) == "FAIL" for t in study.trials),
              "selection": rule.describe(), "tie_se": profile.search.tie_se,
              "trials": _trial_rows(study)}
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        reason = _no_working_configuration(study)
        print(f"WARNING: {name}: no working configuration found: {reason}", flush=True)
        record = {"status": NO_WORKING_CONFIGURATION, "reason": reason, "method": method_name,
                  "repeat": fold.repeat, "fold": fold.fold, "config": base, "search": search,
                  "wall_seconds": time.perf_counter() - started}
        for stale in (RESULTS_FILE, PREDICTIONS_FILE, STATE_FILE, TRIAL_PREDICTIONS_FILE):  # an earlier study's
            (out_dir / stale).unlink(missing_ok=True)
        write_json_atomic(out_dir / FAILED_FILE, record)
        return record
    selected = rule.select(complete)
    search["selected_trial"] = selected.number
    best = max(t.value for t in complete)
    search["tie_tolerance"] = rule.tolerance(best)
    search["tied_trials"] = sorted(t.number for t in rule.contenders(complete))
    if profile.search.keep_trial_predictions:  # every completed trial's test rows, apart from the selected run's
        search["trials_with_predictions"] = write_trial_predictions(complete, store, out_dir / TRIAL_PREDICTIONS_FILE)
    else:
        (out_dir / TRIAL_PREDICTIONS_FILE).unlink(missing_ok=True)
    trained = _restore(selected, profile, store)
    record = record_run(out_dir, trained, data, fold, profile, dev, started, extra={"search": search},
                        external=external)
    (out_dir / FAILED_FILE).unlink(missing_ok=True)
    return record


def _prune_states(study: optuna.Study, store: FileSystemArtifactStore, rule: SelectionRule) -> None:
    """Remove the trained states of complete trials that can no longer be selected (below the
    tie bar of the best; the selected trial and those tied with it keep theirs)."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return
    keep = {t.number for t in rule.contenders(complete)}
    for t in complete:
        artifact = t.user_attrs.get(STATE_ARTIFACT_ATTR)
        if t.number not in keep and artifact:
            try:
                store.remove(artifact)
            except (ArtifactNotFound, FileNotFoundError):
                pass  # removed already (by this or another process)


def _restore(trial: optuna.trial.FrozenTrial, profile: Profile, store: FileSystemArtifactStore) -> TrainedModel:
    config = trial.user_attrs["config"]
    artifact = trial.user_attrs.get(STATE_ARTIFACT_ATTR)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state.pt"
        try:
            download_artifact(artifact_store=store, file_path=str(path), artifact_id=artifact)
        except (ArtifactNotFound, FileNotFoundError) as exc:
            raise FileNotFoundError(
                f"the selected trial {trial.number}'s trained state (artifact {artifact}) is not in the artifact "
                f"store {store._directory if hasattr(store, '_directory') else store}; give every host the same "
                "--artifacts folder, or delete the study and search again") from exc
        state = torch.load(path, map_location="cpu", weights_only=True)
    backbone, method = rebuild_trained(config, state, f"artifact {artifact}")
    result = TrainResult.from_dict(trial.user_attrs["training"])
    return TrainedModel(backbone, method, config, count_parameters(backbone), result)

