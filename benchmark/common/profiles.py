"""Profiles: TOML files that fix the protocol (backbone, input size, training, search, repeats).

The built-in ones live in ``benchmark/profiles/``; a user copies one, edits it, and passes
its path. Unknown keys and wrong types are errors that name the file and the key.
"""
from __future__ import annotations

import tomllib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from benchmark.common.train_sizes import ALL, OPTION, size_label, size_order

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "profiles"


class ProfileError(ValueError):
    pass


@dataclass(frozen=True)
class BackboneSection:
    name: str = "efficientnet_lite0"
    image_size: int = 224
    weights: str | None = None  # None: the family's default source; a path; or "random"


@dataclass(frozen=True)
class DataSection:
    synthetic_images: int = 647  # size of the generated data set
    synthetic_seed: int = 0
    include_normal: bool = False
    # data-efficiency curves: each fold's training part subsampled to these sizes (numbers of images,
    # "all": not subsampled), nested, stratified, whole groups (benchmark.data.subsample); () = off
    train_sizes: tuple = ()
    # drop the images flagged as carrying burnt-in annotations (the data set's `overlay` column,
    # benchmark.data.overlays) before splitting; an error for a data set without the column
    exclude_overlays: bool = False


@dataclass(frozen=True)
class TrainSection:
    max_epochs: int = 200
    patience: int = 20            # early stopping on validation accuracy
    batch_size: int = 24
    lr: float = 1e-3              # used when the learning rate is not searched
    beta1: float = 0.9
    lr_decay_patience: int = 4    # learning rate x lr_decay_factor after this many epochs without improvement
    lr_decay_factor: float = 0.9
    augment: bool = True
    eval_batch_size: int = 128
    cache_prefix: bool = True     # frozen-prefix caching (what a method trains on is the same either way)
    cache_budget_mb: int = 512    # memory for cached prefix outputs, all entries together (one view per epoch)
    inference_precision: str = "auto"  # forward passes without gradients: auto, float32 or bfloat16
    channels_last: bool = True    # NHWC activations (faster for these networks on CPU and GPU)
    class_weights: str = "none"   # the loss's class weights: "none" or "balanced" (n / 2 n_c); why: docs/decisions/class-weighting.md


@dataclass(frozen=True)
class SearchSection:
    sampler: str = "grid"         # "grid" (the paper's) or "tpe"
    lr: tuple[float, ...] = (1e-3, 1e-2, 1e-1)   # grid: the learning rates
    beta1: tuple[float, ...] = (0.85, 0.9, 0.95)  # grid: every value; tpe: searched if more than one
    repeats: int = 3              # grid: each setting trained this many times
    n_trials: int = 9             # tpe: trial budget
    startup_trials: int = 1       # tpe: trials before the model takes over (the first: the method's default)
    lr_range: tuple[float, ...] = ()  # tpe: [low, high] for every method instead of each method's own
    selection: str = "auc"        # validation metric for early stopping and selection: auc or accuracy
    tie_se: float = 1.0           # trials within this many standard errors of the best metric tie; lower validation loss wins
    pruner: str = "none"          # "none", "median" or "hyperband"
    parallel_trials: int = 1      # trials run at once (threads; for a GPU)
    seed: int = 0                 # another value: other sampler draws and training seeds on the same folds (training/seeds.py)
    keep_trial_predictions: bool = True  # every completed trial also scores the test fold and external sets (budget curves)


@dataclass(frozen=True)
class EvaluationSection:
    scheme: str = "holdout"       # "kfold" (k folds, every image tested once) or "holdout" (the paper's split)
    folds: int = 5                # kfold: k
    split_seeds: tuple[int, ...] = (0,)  # one repeat per seed (kfold: a partition; holdout: a split)
    n_bootstrap: int = 1000
    external: tuple[str, ...] = ()  # data sets every selected model also scores (external validation)
    partition: str = "stratified"  # kfold test folds: "stratified" (the suite's, from split_seeds) or "official" (the data set's own file)


@dataclass(frozen=True)
class SitesSection:
    """The train-site x test-site matrix (``run_all.sh``, ``petl-bench sites``): one suite run per
    ``train`` data set, whose selected models also score every ``test`` data set but their own."""
    train: tuple[str, ...] = ()   # data sets trained on, one run folder each (RUN_DIR/train-<set>/)
    test: tuple[str, ...] = ()    # data sets every run scores (all but its training set): external sets

    def externals(self, dataset: str) -> list[str]:
        """The ``test`` data sets a run trained on ``dataset`` scores as external sets."""
        return [name for name in self.test if name != dataset]


@dataclass(frozen=True)
class Profile:
    name: str
    description: str = ""
    source: str = ""
    methods: tuple[str, ...] = ("all",)  # method names and sets ("all", "core", a source): petl-bench methods
    backbone: BackboneSection = field(default_factory=BackboneSection)
    data: DataSection = field(default_factory=DataSection)
    train: TrainSection = field(default_factory=TrainSection)
    search: SearchSection = field(default_factory=SearchSection)
    evaluation: EvaluationSection = field(default_factory=EvaluationSection)
    sites: SitesSection = field(default_factory=SitesSection)

    def as_dict(self) -> dict:
        return asdict(self)

    def training_dict(self) -> dict:
        """What decides a study's trials and their selection (a changed value: a new study);
        leaves out what only changes reporting or speed (bootstrap size, external sets,
        parallel trials, frozen-prefix caching and its budget, the evaluation batch, names)."""
        d = self.as_dict()
        for key in ("name", "description", "source", "methods", "sites"):  # sites: which external sets
            d.pop(key)
        d["search"].pop("parallel_trials")
        d["search"].pop("keep_trial_predictions")  # what the trials' models also score: the same trials and selection
        for key in ("cache_prefix", "cache_budget_mb", "eval_batch_size"):  # speed only: the same training
            d["train"].pop(key)
        for key in ("n_bootstrap", "external"):
            d["evaluation"].pop(key)
        d["data"].pop("train_sizes")  # each size is its own study: the size is in the study's name instead
        if not d["data"]["exclude_overlays"]:  # the behaviour before the key existed: the same studies
            d["data"].pop("exclude_overlays")
        if d["train"]["class_weights"] == "balanced":  # the behaviour before the key existed: the same studies
            d["train"].pop("class_weights")
        return d


INFERENCE_PRECISIONS = ("auto", "float32", "bfloat16")  # [train] inference_precision, bench --inference-precision
CLASS_WEIGHTS = ("balanced", "none")  # [train] class_weights
SELECTION_METRICS = ("auc", "accuracy")  # [search] selection
PARTITIONS = ("stratified", "official")  # [evaluation] partition

_SECTIONS = {"backbone": BackboneSection, "data": DataSection, "train": TrainSection,
             "search": SearchSection, "evaluation": EvaluationSection, "sites": SitesSection}
_CHOICES = {("search", "sampler"): ("grid", "tpe"),
            ("train", "inference_precision"): INFERENCE_PRECISIONS,
            ("train", "class_weights"): CLASS_WEIGHTS,
            ("search", "pruner"): ("none", "median", "hyperband"),
            ("search", "selection"): SELECTION_METRICS,
            ("evaluation", "scheme"): ("kfold", "holdout"),
            ("evaluation", "partition"): PARTITIONS}


_ZERO_ALLOWED = {("search", "tie_se")}  # 0 switches the feature off


def builtin_profiles() -> list[str]:
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.toml"))


def load_profile(name_or_path: str | Path) -> Profile:
    """Load a built-in profile by name (smoke, quick, paper) or any TOML file by path.

    A profile may start from another: ``base = "quick"`` (a built-in name, or a path relative
    to the file) takes every key of that profile, then this file's keys replace its, key by
    key within each section (``repeats.toml``: the quick profile with more split seeds)."""
    path, raw = _read(name_or_path)
    return _parse(raw, path)


def _read(name_or_path: str | Path, seen: tuple[Path, ...] = ()) -> tuple[Path, dict]:
    path = Path(name_or_path)
    if not path.suffix and not path.exists():
        path = BUILTIN_DIR / f"{name_or_path}.toml"
        if not path.is_file():
            raise ProfileError(f"no profile named {name_or_path!r}; built-in: "
                               f"{', '.join(builtin_profiles())}, or pass the path of a TOML file")
    if not path.is_file():
        raise ProfileError(f"profile file {path} does not exist")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"profile {path} is not valid TOML: {exc}") from exc
    base = raw.pop("base", None)
    if base is None:
        return path, raw
    if not isinstance(base, str) or path.resolve() in seen:
        raise ProfileError(f"{path}: base must name another profile (a built-in name or a path), got {base!r}")
    relative = path.parent / base
    _, merged = _read(relative if relative.suffix and relative.is_file() else base, seen + (path.resolve(),))
    merged.pop("name", None)
    merged.pop("description", None)
    for key, value in raw.items():
        merged[key] = {**merged.get(key, {}), **value} if isinstance(value, dict) and key in _SECTIONS else value
    return path, merged


def profile_from_dict(values: dict, source: str) -> Profile:
    """A profile from :meth:`Profile.as_dict`'s dictionary (a run's ``suite.json``), checked as a profile file is;
    ``source`` names where it came from in errors and in the profile's ``source``. A dictionary without
    ``[train] class_weights`` was written before the setting existed, when every run trained with balanced
    class weights: it gets ``"balanced"``, not today's default."""
    raw = {k: v for k, v in json.loads(json.dumps(values)).items() if k != "source"}  # lists, as a file has them
    raw.setdefault("train", {}).setdefault("class_weights", "balanced")  # written before the key: trained so
    return _parse(raw, Path(source))


def _parse(raw: dict, path: Path) -> Profile:
    top = {"name": raw.pop("name", path.stem), "description": raw.pop("description", ""),
           "source": str(path), "methods": _methods(raw.pop("methods", ["all"]), path)}
    for section, cls in _SECTIONS.items():
        values = raw.pop(section, {})
        if not isinstance(values, dict):
            raise ProfileError(f"{path}: [{section}] must be a table")
        top[section] = _section(cls, values, section, path)
    if raw:
        raise ProfileError(f"{path}: unknown key(s) {sorted(raw)}; known: name, description, methods, "
                           f"{', '.join(f'[{s}]' for s in _SECTIONS)}")
    return Profile(**top)


def _methods(value, path: Path) -> tuple[str, ...]:
    """``methods``: a list of method names and sets (checked against the registry when a suite starts)."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise ProfileError(f"{path}: methods must be a non-empty list of method names or sets (\"all\", \"core\", "
                           f"\"paper\", \"peft\", \"literature\"), got {value!r}")
    return tuple(v.strip() for v in value)


def _train_sizes(values: tuple, path: Path) -> tuple[str, ...]:
    """``[data] train_sizes`` as labels, smallest first ("all" last); errors name the file and the key."""
    try:
        labels = [size_label(v) for v in values]
    except ValueError as exc:
        raise ProfileError(f"{path}: {exc}") from None
    if len(set(labels)) < len(labels):
        raise ProfileError(f"{path}: {OPTION} {list(values)} lists a size twice; give each size once")
    if all(v == ALL for v in labels):
        raise ProfileError(f"{path}: {OPTION} must list at least one number of training images (e.g. [50, 100, "
                           f"\"{ALL}\"]); leave it out to train on whole training parts only")
    return tuple(size_order(labels))


def _check_sites(train: tuple, test: tuple, path: Path) -> None:
    """``[sites]``: data-set names (checked against the registry when a run starts), each once; every
    ``train`` set also in ``test``; both given or neither. Errors name the file and the key."""
    where = f"{path}: [sites]"
    for key, names in (("train", train), ("test", test)):
        bad = [n for n in names if not isinstance(n, str) or not n.strip()]
        if bad:
            raise ProfileError(f"{where} {key} must list data-set names (see `petl-bench datasets`), got {bad!r}")
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ProfileError(f"{where} {key} lists {', '.join(twice)} twice; give each data set once")
    if bool(train) != bool(test):
        raise ProfileError(f"{where} needs both train (the data sets trained on, one run each) and test (every "
                           f"data set scored, the train ones included), got train {list(train)}, test {list(test)}")
    missing = [n for n in train if n not in test]
    if missing:
        raise ProfileError(f"{where} test must list every train data set too (each run scores all but its own; its "
                           f"own is its cross-validation): add {', '.join(missing)} to test {list(test)}")


def _section(cls, values: dict, section: str, path: Path):
    known = {f.name: f for f in fields(cls)}
    unknown = set(values) - set(known)
    if unknown:
        raise ProfileError(f"{path}: unknown key(s) {sorted(unknown)} in [{section}]; "
                           f"known: {', '.join(known)}")
    defaults = cls()
    out = {}
    for key, value in values.items():
        expected = getattr(defaults, key)
        where = f"{path}: [{section}] {key}"
        if isinstance(expected, tuple):
            if not isinstance(value, list) or (not value and expected):
                raise ProfileError(f"{where} must be a non-empty list")
            value = tuple(value)
        elif isinstance(expected, bool):
            if not isinstance(value, bool):
                raise ProfileError(f"{where} must be true or false, got {value!r}")
        elif isinstance(expected, int):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ProfileError(f"{where} must be a non-negative integer, got {value!r}")
        elif isinstance(expected, float):
            zero_ok = (section, key) in _ZERO_ALLOWED
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (value == 0 and not zero_ok):
                raise ProfileError(f"{where} must be a {'non-negative' if zero_ok else 'positive'} number, got {value!r}")
            value = float(value)
        choices = _CHOICES.get((section, key))
        if choices and value not in choices:
            raise ProfileError(f"{where} must be one of {choices}, got {value!r}")
        out[key] = value
    if section == "search" and out.get("lr_range") and (
            len(out["lr_range"]) != 2 or not 0 < out["lr_range"][0] < out["lr_range"][1]):
        raise ProfileError(f"{path}: [search] lr_range must be [low, high] with 0 < low < high, "
                           f"got {list(out['lr_range'])}")
    if section == "data" and out.get("train_sizes"):
        out["train_sizes"] = _train_sizes(out["train_sizes"], path)
    if section == "evaluation" and len(set(out.get("split_seeds", ()))) < len(out.get("split_seeds", ())):
        raise ProfileError(f"{path}: [evaluation] split_seeds {list(out['split_seeds'])} repeat a seed: a repeat "
                           "with the same seed repeats the same partition and training; give distinct seeds")
    if section == "sites":
        _check_sites(out.get("train", ()), out.get("test", ()), path)
    if section == "evaluation" and out.get("scheme") == "kfold" and out.get("folds", 5) < 2:
        raise ProfileError(f"{path}: [evaluation] folds must be at least 2 for the kfold scheme")
    if section == "evaluation" and out.get("partition") == "official" and out.get("scheme", "holdout") != "kfold":
        raise ProfileError(f"{path}: [evaluation] partition = \"official\" (a data set's own k-fold file) needs "
                           f"scheme = \"kfold\" and folds = the file's k (bus_bra: 5 or 10)")
    return cls(**out)
