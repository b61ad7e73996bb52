"""Hyper-parameter search with Optuna: one study per (method, backbone, split seed).

- ``grid`` (the paper's protocol, Byra 2021 section 3.4): every learning rate x beta1 of the
  profile, each trained ``repeats`` times with different training seeds; the method's own
  hyper-parameters keep their defaults.
- ``tpe``: Optuna's TPE sampler over the same learning rates and beta1 values and the
  method's own search space, ``n_trials`` trials, optionally pruned (median or Hyperband)
  on validation accuracy per epoch.

Selection uses validation data only (best validation accuracy, ties to the lower validation
loss, then the earlier trial); the selected model alone is tested, once. Studies live in
Optuna storage: SQLite under the run folder by default, or any storage URL (a shared
PostgreSQL study, say; ``optuna-dashboard`` reads either). Re-running resumes: finished
trials are kept, a trial that a killed run left "running" is marked failed and redone, and a
trial whose loss became NaN is marked failed and the study goes on.
"""
from __future__ import annotations

import itertools
import warnings
import json
import time
from pathlib import Path

import optuna
import torch
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from .data import ImageSet
from .data.split import stratified_group_split
from .model import build_model, count_parameters
from .profiles import Profile
from .registry import Method, get_method
from .runner import RESULTS_FILE, TrainedModel, record_run, train_model
from .trainer import TrainingDiverged, TrainResult, resolve_device, trained_state

STUDY_DB = "optuna.db"
FAILURE_ATTR = "failure"          # set on trials that failed on their own (diverged)
INTERRUPTED_ATTR = "interrupted"  # set on trials a killed run left behind


class SearchFailed(RuntimeError):
    """No trial of a study completed (all diverged or were pruned)."""


def default_storage(run_dir: Path) -> str:
    return f"sqlite:///{(Path(run_dir) / STUDY_DB).resolve()}"


def study_name(method: str, backbone: str, split_seed: int) -> str:
    return f"{method}.{backbone}.split-{split_seed}"


def search_space(profile: Profile, method: Method) -> dict:
    space = {"lr": CategoricalDistribution(list(profile.search.lr)),
             "beta1": CategoricalDistribution(list(profile.search.beta1))}
    if profile.search.sampler == "tpe":
        space.update(method.search_space)
    return space


def grid_points(profile: Profile) -> list[dict]:
    s = profile.search
    return [{"lr": lr, "beta1": b1, "repeat": r}
            for lr, b1, r in itertools.product(s.lr, s.beta1, range(s.repeats))]


def _suggest(trial: optuna.Trial, name: str, dist):
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    if isinstance(dist, FloatDistribution):
        return trial.suggest_float(name, dist.low, dist.high, log=dist.log, step=dist.step)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, log=dist.log, step=dist.step)
    raise TypeError(f"search space entry {name!r}: unsupported distribution {type(dist).__name__}")


def _sampler_and_pruner(profile: Profile, split_seed: int):
    s = profile.search
    sampler = optuna.samplers.TPESampler(seed=split_seed, n_startup_trials=min(3, s.n_trials)) \
        if s.sampler == "tpe" else optuna.samplers.RandomSampler(seed=split_seed)  # grid: enqueued
    pruner = {"none": optuna.pruners.NopPruner(),
              "median": optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=2),
              "hyperband": optuna.pruners.HyperbandPruner(min_resource=2,
                                                          max_resource=profile.train.max_epochs)}[s.pruner]
    return sampler, pruner


def _mark_interrupted(study: optuna.Study, own_storage: bool) -> int:
    """Trials left 'running' by a killed run: failed, to be redone. Returns how many."""
    if not own_storage:
        # shared storage: other machines may be running trials; only stale heartbeats fail
        optuna.storages.fail_stale_trials(study)
        return 0
    storage, count = study._storage, 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        storage.set_trial_user_attr(t._trial_id, INTERRUPTED_ATTR, True)
        storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        count += 1
    return count


def _counts_as_done(t: optuna.trial.FrozenTrial) -> bool:
    if t.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return t.state == TrialState.FAIL and FAILURE_ATTR in t.user_attrs


def _selection_key(t: optuna.trial.FrozenTrial):
    return (t.value, -t.user_attrs.get("val_loss", float("inf")), -t.number)


class _Objective:
    def __init__(self, method: Method, profile: Profile, data: ImageSet, split: dict, base_config: dict,
                 device: torch.device, state_dir: Path, progress: bool):
        self.method, self.profile, self.data, self.split = method, profile, data, split
        self.base, self.device, self.state_dir, self.progress = base_config, device, state_dir, progress
        self.space = search_space(profile, method)

    def __call__(self, trial: optuna.Trial) -> float:
        params = {name: _suggest(trial, name, dist) for name, dist in self.space.items()}
        if self.profile.search.sampler == "grid":
            repeat = trial.suggest_categorical("repeat", list(range(self.profile.search.repeats)))
            train_seed = 1000 * self.base["split_seed"] + repeat
        else:
            train_seed = 1000 * self.base["split_seed"] + trial.number
        config = {**self.base, "lr": params.pop("lr"), "beta1": params.pop("beta1"),
                  "train_seed": train_seed, "method_params": params}

        def on_epoch(epoch: int, val_accuracy: float) -> None:
            trial.report(val_accuracy, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {epoch} (validation accuracy {val_accuracy:.3f})")

        try:
            trained = train_model(self.profile, config, self.data, self.split, self.device,
                                  progress=self.progress, on_epoch=on_epoch)
        except TrainingDiverged as exc:
            trial.set_user_attr(FAILURE_ATTR, str(exc))
            raise
        result = trained.result
        self.state_dir.mkdir(parents=True, exist_ok=True)
        from .io import write_atomic

        state = {k: v.cpu() for k, v in trained_state(trained.backbone.model).items()}
        write_atomic(self.state_dir / f"trial-{trial.number}.pt", lambda p: torch.save(state, p))
        trial.set_user_attr("config", json.loads(json.dumps(trained.config)))
        trial.set_user_attr("training", json.loads(json.dumps(result.as_dict())))
        trial.set_user_attr("val_loss", result.best_val_loss)
        return result.best_val_accuracy


def _keep_only(state_dir: Path, keep: set[int]) -> None:
    for path in state_dir.glob("trial-*.pt"):
        if int(path.stem.split("-")[1]) not in keep:
            path.unlink(missing_ok=True)


def finished_search(out_dir: Path, name: str) -> dict | None:
    path = Path(out_dir) / RESULTS_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    return record if record.get("search", {}).get("study_name") == name else None


def run_search(method_name: str, profile: Profile, dataset: str, data: ImageSet, split_seed: int,
               out_dir: Path, run_dir: Path, storage: str | None = None, device: str = "auto",
               progress: bool = True, weights: str | None = None, parallel_trials: int | None = None,
               concurrent_studies: int = 1) -> dict:
    """Search, select on validation, test the selected model once, and record the run.

    ``parallel_trials`` (default: the profile's) trials run at once in threads: on a GPU a
    small model leaves the card mostly idle, so several trials share it.
    ``concurrent_studies`` is recorded: how many studies shared the machine with this one
    (``petl-bench suite --workers``), which its recorded times depend on.
    """
    method = get_method(method_name)
    name = study_name(method_name, profile.backbone.name, split_seed)
    out_dir = Path(out_dir)
    if (done := finished_search(out_dir, name)) is not None:
        return done
    started = time.perf_counter()
    dev = resolve_device(device)
    split = stratified_group_split(data.labels, data.groups, seed=split_seed)
    own_storage = storage is None
    url = default_storage(run_dir) if own_storage else storage
    if own_storage:
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        storage_obj = url
    else:
        storage_obj = optuna.storages.RDBStorage(url, heartbeat_interval=60, grace_period=180) \
            if not url.startswith("journal") else url
    sampler, pruner = _sampler_and_pruner(profile, split_seed)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=name, storage=storage_obj, direction="maximize",
                                sampler=sampler, pruner=pruner, load_if_exists=True)
    interrupted = _mark_interrupted(study, own_storage)
    base = {"method": method_name, "dataset": dataset, "profile": profile.name,
            "backbone": profile.backbone.name, "image_size": profile.backbone.image_size,
            "weights": weights if weights is not None else profile.backbone.weights,
            "split_seed": split_seed}
    state_dir = out_dir / "trials"
    objective = _Objective(method, profile, data, split, base, dev, state_dir, progress)
    catch = (TrainingDiverged,)

    jobs = max(1, parallel_trials or profile.search.parallel_trials)
    if jobs > 1 and profile.search.sampler == "grid":
        # Optuna's threads can pop the same enqueued grid point twice; grid trials run one by one
        warnings.warn("--parallel-trials applies to the tpe sampler; the grid runs one trial at a time")
        jobs = 1
    keep_best = lambda study, trial: _prune_states(study, state_dir)  # noqa: E731 (after each trial)
    if profile.search.sampler == "grid":
        trials = study.get_trials(deepcopy=False)
        todo = [p for p in grid_points(profile)
                if not any(_counts_as_done(t) and _same_point(t.params, p) for t in trials)]
        for point in todo:
            if not any(t.state == TrialState.WAITING and _same_point(t.params, point) for t in trials):
                study.enqueue_trial(point)
        if todo:
            study.optimize(objective, n_trials=len(todo), n_jobs=jobs, catch=catch, callbacks=[keep_best])
    else:
        left = profile.search.n_trials - sum(_counts_as_done(t) for t in study.get_trials(deepcopy=False))
        if left > 0:
            study.optimize(objective, n_trials=left, n_jobs=jobs, catch=catch, callbacks=[keep_best])

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise SearchFailed(f"{name}: no trial completed ({len(study.trials)} trials: every one diverged "
                           "or was pruned); try smaller learning rates in the profile's [search] lr")
    selected = max(complete, key=_selection_key)
    trained = _restore(selected, profile, state_dir)
    search = {"study_name": name, "storage": _redact(url), "sampler": profile.search.sampler,
              "pruner": profile.search.pruner, "n_trials": len(study.trials),
              "interrupted_trials_redone": interrupted, "selected_trial": selected.number,
              "concurrent_studies": int(concurrent_studies),
              "selection": "best validation accuracy; ties: lower validation loss, then earlier trial",
              "trials": [{"number": t.number, "state": t.state.name, "params": t.params, "value": t.value,
                          "val_loss": t.user_attrs.get("val_loss"),
                          "epochs": t.user_attrs.get("training", {}).get("epochs_run"),
                          "failure": t.user_attrs.get(FAILURE_ATTR)} for t in study.trials]}
    record = record_run(out_dir, trained, data, split, profile, dev, started, extra={"search": search})
    _keep_only(state_dir, set())
    if state_dir.is_dir() and not any(state_dir.iterdir()):
        state_dir.rmdir()
    return record


def _same_point(params: dict, point: dict) -> bool:
    return all(params.get(k) == v for k, v in point.items())


def _prune_states(study: optuna.Study, state_dir: Path) -> None:
    """Keep the state files of the best complete trial and of trials still running."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    running = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    if complete:
        _keep_only(state_dir, {max(complete, key=_selection_key).number} | running)


def _restore(trial: optuna.trial.FrozenTrial, profile: Profile, state_dir: Path) -> TrainedModel:
    config = trial.user_attrs["config"]
    path = state_dir / f"trial-{trial.number}.pt"
    if not path.is_file():
        raise SearchFailed(f"the selected trial's weights {path} are missing; delete the run's study "
                           "(or the run folder) and search again")
    torch.manual_seed(config["train_seed"])
    backbone, method, _ = build_model(config["method"], profile.backbone.name, profile.backbone.image_size,
                                      config["weights"], config["method_params"])
    missing = backbone.model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True),
                                             strict=False)
    if missing.unexpected_keys:
        raise SearchFailed(f"{path} does not fit the model: unexpected {missing.unexpected_keys[:3]}")
    t = trial.user_attrs["training"]
    result = TrainResult(t["best_epoch"], t["best_val_accuracy"], t["best_val_loss"], t["epochs_run"],
                         t["stopped_early"], t["train_seconds"], t["history"], t.get("inputs", {}))
    return TrainedModel(backbone, method, config, count_parameters(backbone), result)


def _redact(url: str) -> str:
    """A storage URL without its password."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':')[0]}:***@{host}"
    return url
