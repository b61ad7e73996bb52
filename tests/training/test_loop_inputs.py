"""What reaches the training loop, recorded (issue 39).

A study of feature extraction is trained as the runner trains it (``runner.train_model``, then
``runner.record_run``) on fold 0 of the smoke profile's scheme and [train] (2 folds, batches of 8; 3 epochs
here) on 46 synthetic images at 64 px, with a :class:`loop_recorder.LoopRecorder` keeping what reaches the
loop: the images and the frozen prefix's output each batch trains on, the loss's targets and per-image
weights, each epoch's batch order, and what validation and test scoring feed the network. Each is compared
with the split and with a computation of its own:

- every training image of the split reaches the loop once per epoch (none from validation or test), as the
  trainer's view of that epoch (``epoch_view``), with its own label;
- the loss weighs each image by n / (2 n_c) of the training part ("balanced"), or by 1 ("none");
- the batch order changes from epoch to epoch and with the training seed, and is the same for the same seed;
- with the frozen prefix cached, the trained part gets the prefix's output on the epoch's view, to
  ``FEATURE_ATOL``, in the order the uncached study uses; an image changed in another study of the same process
  gets its own features, never the cached ones of the image it replaced;
- validation (every epoch) and the runner's validation and test scoring see the unaugmented images with
  every module in eval mode.

The data come in the two orders the loaders give: the synthetic set's (labels spread evenly) and BUSI's
(every benign image, then every malignant one, each class in natural file order), in which the training part
of a fold is sorted by label too. Each check is a function raising AssertionError; the tests at the end plant
the bug each guards against (by monkeypatch) and watch the check fail.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from benchmark.common.profiles import Profile
from benchmark.data import ImageSet
from benchmark.data.imagefiles import natural_key
from benchmark.data.imageset import CLASS_NAMES
from benchmark.data.synthetic import make_synthetic
from benchmark.models.build import build_model
from benchmark.training import prefix_cache, runner, trainer
from benchmark.training.device import Preprocess
from benchmark.training.runner import Fold, RunSpec, evaluation_splits, record_run, train_model
from benchmark.training.trainer import epoch_view, view_index
from loop_recorder import LoopRecorder  # tests/support

CPU = torch.device("cpu")
METHOD = "feature_extraction"  # its frozen prefix is everything but the head
# the prefix's pooled features lie in [0, 6] (ReLU6), in float32 on the CPU: the same images through the prefix in
# batches of other sizes differ by rounding only, features of different images or views by far more
FEATURE_ATOL = 1e-4
# fold 0 trains on 20 images (7 malignant), validates on 3 (1) and tests on 23 (7): the malignant fractions of the
# training part, the validation part and the whole set (15 of 46) differ, so weights drawn from the wrong one show
N_IMAGES = 46


# -- the data, as the loaders order them ---------------------------------------------------------
def busi_ordered(data: ImageSet) -> ImageSet:
    """``data`` named and ordered as BUSI's loader lists its files: ``benign/benign (1).png`` ... in natural
    order, every benign image before every malignant one."""
    counts = {0: 0, 1: 0}
    ids = []
    for label in data.labels:
        counts[int(label)] += 1
        name = CLASS_NAMES[int(label)]
        ids.append(f"{name}/{name} ({counts[int(label)]}).png")
    order = sorted(range(len(ids)), key=lambda i: natural_key(ids[i]))
    return dataclasses.replace(data, ids=ids).subset(np.asarray(order))


@pytest.fixture(scope="module")
def datasets(smoke_profile) -> dict[str, ImageSet]:
    synthetic = make_synthetic(N_IMAGES, smoke_profile.backbone.image_size, smoke_profile.data.synthetic_seed)
    busi = busi_ordered(synthetic)
    assert (np.diff(busi.labels) >= 0).all() and 0 < busi.labels.sum() < len(busi)  # sorted, both classes
    assert busi.ids[:2] == ["benign/benign (1).png", "benign/benign (2).png"]
    assert not (np.diff(synthetic.labels) >= 0).all()  # spread
    for data in (synthetic, busi):
        split = evaluation_splits(_profile(smoke_profile, False, "none"), data)[0].split
        fractions = {part: data.labels[split[part]].mean() for part in ("train", "val")} | {"all": data.labels.mean()}
        assert len(set(fractions.values())) == 3, fractions
        assert len(split["train"]) % smoke_profile.train.batch_size, "a short last batch"
    return {"synthetic": synthetic, "busi": busi}


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """These studies are too small to gain from a second thread, and one slows them down on a shared CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# -- a study, recorded ----------------------------------------------------------------------------
@dataclass
class Study:
    record: LoopRecorder
    data: ImageSet
    fold: Fold
    profile: Profile
    seed: int                   # the training seed: head, batch order, which view an epoch sees
    result: trainer.TrainResult

    @property
    def train(self) -> np.ndarray:
        return self.fold.split["train"]


def _profile(smoke_profile, cache: bool, weights: str) -> Profile:
    train = dataclasses.replace(smoke_profile.train, max_epochs=3, patience=10, cache_prefix=cache,
                                class_weights=weights, inference_precision="float32")
    return dataclasses.replace(smoke_profile, train=train)


def run_study(smoke_profile, data: ImageSet, *, cache: bool = False, weights: str = "balanced",
              seed: int | None = None, out_dir=None, fold: Fold | None = None) -> Study:
    """Fold 0 of ``data`` trained as the runner does it (and tested, into ``out_dir``), recorded."""
    profile = _profile(smoke_profile, cache, weights)
    fold = fold or evaluation_splits(profile, data)[0]
    config = {**RunSpec(METHOD, "synthetic", profile, fold.repeat, fold.fold).resolved(),
              "augment_seed": fold.augment_seed}  # as runner.run builds it
    if seed is not None:
        config["train_seed"] = seed
    with LoopRecorder() as record:
        trained = train_model(profile, config, data, fold.split, CPU, progress=False)
        if out_dir is not None:
            record_run(out_dir, trained, data, fold, profile, CPU, time.perf_counter())
    assert record.backbone is not None and record.steps, "the recorder saw no training: does the runner still " \
        "call runner.train, and the trainer F.binary_cross_entropy_with_logits?"
    return Study(record, data, fold, profile, config["train_seed"], trained.result)


@pytest.fixture(scope="module")
def studies(smoke_profile, datasets, tmp_path_factory):
    """The studies without a plant, each trained and tested once for the module:
    ``studies(order, **run_study's options)``."""
    done: dict[tuple, Study] = {}

    def get(order: str = "busi", **options) -> Study:
        key = (order, *sorted(options.items()))
        if key not in done:
            done[key] = run_study(smoke_profile, datasets[order], out_dir=tmp_path_factory.mktemp("study"), **options)
        return done[key]

    prefix_cache.clear()
    yield get
    prefix_cache.clear()


# -- what the loop should have got, computed here -------------------------------------------------
def _prep(study: Study) -> Preprocess:
    b = study.record.backbone
    return Preprocess(b.mean, b.std, study.profile.train.channels_last)


def _unaugmented(study: Study, index: np.ndarray) -> torch.Tensor:
    prep = _prep(study)
    return prep(prep.to_unit(torch.as_tensor(study.data.images[index])))


def training_view(study: Study, epoch: int) -> torch.Tensor:
    """Epoch ``epoch``'s augmented view of the split's training images, by the trainer's definition."""
    view = view_index(epoch, study.seed, study.profile.train.max_epochs)
    return epoch_view(torch.as_tensor(study.data.images[study.train]), study.fold.augment_seed, view, _prep(study),
                      study.profile.train.augment)


@torch.no_grad()
def prefix_output(study: Study, x: torch.Tensor) -> torch.Tensor:
    """The frozen prefix (every module before the first trained one, as training began), run here in eval
    mode, without a cache."""
    return study.record.prefix(x).float()


def check_prefix_unchanged(study: Study) -> None:
    """The frozen prefix ends the study as it began (no running statistics updated, nothing trained)."""
    modules = [m for _, m in study.record.backbone.forward_sequence()][:study.record.prefix_length]
    now, then = nn.Sequential(*modules).state_dict(), study.record.prefix.state_dict()
    changed = [name for name in then if not torch.equal(now[name], then[name])]
    assert not changed, f"the frozen prefix changed during the study: {changed[:5]}"


def _cached(study: Study) -> bool:
    return bool(study.result.inputs["frozen_prefix_cached"])


def positions(study: Study, epoch: int) -> np.ndarray:
    """The training position (into the split's "train") of every image of ``epoch``'s batches, in batch order.

    Uncached: each batch image must equal one training image's view exactly. Cached: each batch's features
    must be one training image's prefix output on the view, to FEATURE_ATOL."""
    steps = study.record.steps_of(epoch)
    assert steps, f"epoch {epoch}: no batch reached the loss"
    if _cached(study):
        got = torch.cat([s.features for s in steps]).flatten(1)
        want = prefix_output(study, training_view(study, epoch)).flatten(1)
        distance = (got[:, None, :] - want[None, :, :]).abs().amax(-1)
        match = distance <= FEATURE_ATOL
        what = f"prefix output on its view (to {FEATURE_ATOL})"
    else:
        assert all(s.images is not None for s in steps), "the whole network did not see the batch"
        got = torch.cat([s.images for s in steps]).flatten(1)
        want = training_view(study, epoch).flatten(1)
        match = (got[:, None, :] == want[None, :, :]).all(-1)
        what = "view, exactly"
    hits = match.sum(1)
    bad = np.flatnonzero(hits.numpy() != 1)
    assert not len(bad), (f"epoch {epoch}: {len(bad)} of {len(got)} batch images are no training image's {what}: "
                          "a validation or test image, another image or view, or stale cached features")
    return match.float().argmax(1).numpy()


# -- the checks -----------------------------------------------------------------------------------
def check_images_and_labels(study: Study) -> None:
    """(a) Every training image once per epoch (as many as the split says, none other), with its own label;
    the loss gets the logits the network computed for that batch."""
    n, labels = len(study.train), study.data.labels[study.train]
    assert not set(study.train) & (set(study.fold.split["val"]) | set(study.fold.split["test"]))
    assert study.record.epochs() == list(range(1, study.profile.train.max_epochs + 1))
    for epoch in study.record.epochs():
        seen = positions(study, epoch)
        assert len(seen) == n, f"epoch {epoch}: {len(seen)} images reached the loop, the split has {n} to train on"
        assert sorted(seen) == list(range(n)), f"epoch {epoch}: not every training image once"
        start = 0
        for step in study.record.steps_of(epoch):
            mine = seen[start:start + len(step.target)]
            start += len(step.target)
            wrong = int((step.target.numpy() != labels[mine]).sum())
            assert not wrong, f"epoch {epoch}: {wrong} of {len(mine)} targets of a batch are not its images' labels"
            assert torch.equal(step.logits, step.output.squeeze(1).float()), "the loss got other logits"


def check_class_weights(study: Study, scheme: str) -> None:
    """(b) Each image's weight in the loss, and the validation loss's class weights: n / (2 n_c) of the
    training part for "balanced", 1 for "none"."""
    labels = study.data.labels[study.train]
    counts = np.bincount(labels, minlength=2)
    want = len(labels) / (2.0 * counts) if scheme == "balanced" else np.ones(2)
    assert study.record.steps and all(s.weights is not None for s in study.record.steps)
    for step in study.record.steps:
        expected = torch.as_tensor(want, dtype=torch.float32)[step.target.long()]
        assert torch.allclose(step.weights, expected, rtol=1e-5, atol=0), \
            f"epoch {step.epoch}: the loss weighed images {step.weights.tolist()}, want {expected.tolist()}"
    assert study.record.val_weights
    for w in study.record.val_weights:
        assert torch.allclose(w.double(), torch.as_tensor(want), rtol=1e-6), f"validation loss weights {w.tolist()}"


def orders(study: Study) -> list[list[int]]:
    """Each epoch's batch order, as training positions."""
    return [positions(study, e).tolist() for e in study.record.epochs()]


def check_order_changes_each_epoch(study: Study) -> None:
    """(c) Each epoch's order is new, in batches of the profile's size."""
    each = orders(study)
    assert len({tuple(o) for o in each}) == len(each), f"an order repeats across epochs: {each}"
    size, n = study.profile.train.batch_size, len(study.train)
    for epoch in study.record.epochs():
        sizes = [len(s.target) for s in study.record.steps_of(epoch)]
        assert sizes == [size] * (n // size) + ([n % size] if n % size else []), f"batch sizes {sizes}"


def check_order_follows_the_seed(same: Study, again: Study, other: Study) -> None:
    """(c) ``same`` and ``again``: one seed (``again`` with other class weights, which the order must not
    depend on); ``other``: another seed. The same seed gives the same orders, another seed others."""
    first = orders(same)
    assert again.seed == same.seed != other.seed
    assert orders(again) == first, "the same seed gave another batch order"
    differ = [a != b for a, b in zip(orders(other), first)]
    assert all(differ), f"another seed gave the same batch order in epochs {np.flatnonzero(~np.array(differ)) + 1}"


def check_cached_features(cached: Study, uncached: Study) -> None:
    """(d) The cache was used, and the trained part got the prefix's output on each epoch's view (``positions``
    matches every batch row to its image to FEATURE_ATOL); the same images in the same order as the uncached
    study of the same seed, whose trained part got the prefix output computed on the fly."""
    assert _cached(cached) and not _cached(uncached) and cached.seed == uncached.seed
    check_images_and_labels(cached)
    assert orders(cached) == orders(uncached)
    for a, b in zip(cached.record.steps, uncached.record.steps):
        gap = float((a.features - b.features).abs().max())
        assert gap <= FEATURE_ATOL, f"epoch {a.epoch}: cached features differ from the prefix's output by {gap:.2g}"


def check_scoring(study: Study, scored_after: bool) -> None:
    """(e) Validation in every epoch, and the runner's validation and test scoring: the unaugmented images,
    every module that runs in eval mode."""
    split = study.fold.split
    val = _unaugmented(study, split["val"])
    for epoch in study.record.epochs():
        images, features = (study.record.scored_in("val", k, epoch) for k in ("images", "features"))
        assert features, f"epoch {epoch}: no validation"
        got = torch.cat([s.inputs for s in features])
        assert torch.allclose(got, prefix_output(study, val), rtol=0, atol=FEATURE_ATOL), \
            f"epoch {epoch}: validation features are not the prefix's output on the unaugmented images"
        if not _cached(study):
            assert torch.equal(torch.cat([s.inputs for s in images]), val), \
                f"epoch {epoch}: validation images are not the unaugmented validation images"
        training = sorted({name for s in images + features for name in s.training})
        assert not training, f"epoch {epoch}: validated with modules in training mode: {training[:5]}"
    if scored_after:
        after = study.record.scored_in("after", "images")
        want = torch.cat([val, _unaugmented(study, split["test"])])
        assert torch.equal(torch.cat([s.inputs for s in after]), want), \
            "the runner scored other than the unaugmented validation and test images"
        training = sorted({name for s in study.record.scored if s.phase == "after" for name in s.training})
        assert not training, f"scored with modules in training mode: {training[:5]}"
    check_prefix_unchanged(study)


def changed_one_training_image(data: ImageSet, fold: Fold) -> ImageSet:
    """``data`` with the pixels of one training image inverted (labels, split and seeds unchanged)."""
    images = data.images.copy()
    i = fold.split["train"][len(fold.split["train"]) // 2]
    images[i] = 255 - images[i]
    return dataclasses.replace(data, images=images)


def check_cache_keeps_images_apart(smoke_profile, data: ImageSet) -> None:
    """(d) Two studies in one process on training images that differ in one image (same shape, split and
    seeds): the second gets the prefix output on its own images, not the first one's cached features."""
    prefix_cache.clear()
    first = run_study(smoke_profile, data, cache=True)
    second = run_study(smoke_profile, changed_one_training_image(data, first.fold), cache=True, fold=first.fold)
    assert _cached(second)
    for epoch in second.record.epochs():
        positions(second, epoch)


# -- the tests ------------------------------------------------------------------------------------
@pytest.mark.parametrize("order", ["busi", "synthetic"])
def test_every_training_image_reaches_the_loop_once_per_epoch_with_its_label(studies, order):
    check_images_and_labels(studies(order))


@pytest.mark.parametrize("scheme", ["balanced", "none"])
@pytest.mark.parametrize("order", ["busi", "synthetic"])
def test_the_loss_weighs_each_image_by_its_class_in_the_training_part(studies, order, scheme):
    check_class_weights(studies(order, weights=scheme), scheme)


def test_the_batch_order_changes_each_epoch_and_with_the_seed(studies):
    same = studies()
    check_order_changes_each_epoch(same)
    check_order_follows_the_seed(same, studies(weights="none"), studies(seed=same.seed + 1))


def test_cached_features_are_the_prefix_output_on_the_epochs_view(studies):
    check_cached_features(studies(cache=True), studies())


def test_the_cache_never_gives_an_image_another_images_features(smoke_profile, datasets):
    check_cache_keeps_images_apart(smoke_profile, datasets["busi"])
    # the cache's own key: equal bytes share an entry, one changed image does not
    study_images = datasets["busi"].images[:6]
    changed = study_images.copy()
    changed[5] = 255 - changed[5]
    torch.manual_seed(0)
    backbone, method, _ = build_model(METHOD, "efficientnet_lite0", 64)
    length = prefix_cache.frozen_prefix_length(backbone, method.bn_stats)
    prep = Preprocess(backbone.mean, backbone.std)

    def entry(images):
        x = torch.as_tensor(images)
        return prefix_cache.prefix_views(backbone, length, images, 0, False, CPU,
                                         make_view=lambda v: epoch_view(x, 0, v, prep, False))

    prefix_cache.clear()
    a = entry(study_images)
    assert entry(study_images.copy()) is a and entry(changed) is not a
    assert not torch.allclose(entry(changed).view(0)[5], a.view(0)[5])
    prefix_cache.clear()


@pytest.mark.parametrize("cache", [False, True], ids=["uncached", "cached"])
def test_validation_and_test_images_are_scored_in_eval_mode_unaugmented(studies, cache):
    check_scoring(studies(cache=cache), scored_after=True)


# -- the checks fail on the bugs they guard against (planted by monkeypatch) ---------------------
def _train_wrapped(monkeypatch, change):
    """Plant: the runner hands ``train`` what ``change(arguments)`` makes of its first six arguments."""
    real = runner.train
    names = ["backbone", "bn_stats", "train_images", "train_labels", "val_images", "val_labels"]

    def planted(*args, **kwargs):
        given = dict(zip(names, args))
        change(given)
        return real(*[given[n] for n in names], *args[len(names):], **kwargs)

    monkeypatch.setattr(runner, "train", planted)


def _flip_one_label(a):
    a["train_labels"] = a["train_labels"].copy()
    a["train_labels"][0] = 1 - a["train_labels"][0]


def _shuffle_labels(a):
    a["train_labels"] = np.random.default_rng(0).permutation(a["train_labels"])


def _train_on_a_validation_image(a):
    a["train_images"] = a["train_images"].copy()
    a["train_images"][0] = a["val_images"][0]


@pytest.mark.parametrize("change", [_flip_one_label, _shuffle_labels, _train_on_a_validation_image],
                         ids=["one label flipped", "labels shuffled", "a validation image trained on"])
def test_planted_images_and_labels_are_caught(smoke_profile, datasets, monkeypatch, change):
    _train_wrapped(monkeypatch, change)
    with pytest.raises(AssertionError):
        check_images_and_labels(run_study(smoke_profile, datasets["busi"]))


@pytest.mark.parametrize("plant", ["swapped", "balanced ignored", "of the whole data set", "of the validation part"])
def test_planted_class_weights_are_caught(smoke_profile, datasets, monkeypatch, plant):
    data, real = datasets["busi"], trainer.class_weights
    val = evaluation_splits(_profile(smoke_profile, False, "balanced"), data)[0].split["val"]
    planted = {"swapped": lambda labels, scheme: real(labels, scheme).flip(0),
               "balanced ignored": lambda labels, scheme: real(labels, "none"),
               "of the whole data set": lambda labels, scheme: real(data.labels, scheme),
               "of the validation part": lambda labels, scheme: real(data.labels[val], scheme)}[plant]
    monkeypatch.setattr(trainer, "class_weights", planted)
    with pytest.raises(AssertionError):
        check_class_weights(run_study(smoke_profile, data), "balanced")


@pytest.mark.parametrize("plant", ["no shuffle", "one order for every epoch"])
def test_planted_epoch_orders_are_caught(smoke_profile, datasets, monkeypatch, plant):
    real = torch.randperm

    def planted(n, generator=None):
        return torch.arange(n) if plant == "no shuffle" else real(n, generator=torch.Generator().manual_seed(7))

    monkeypatch.setattr(trainer.torch, "randperm", planted)
    with pytest.raises(AssertionError):
        check_order_changes_each_epoch(run_study(smoke_profile, datasets["busi"]))


def test_a_batch_order_that_ignores_the_seed_is_caught(smoke_profile, datasets, monkeypatch):
    """Plant: the order drawn from a generator of its own, seeded alike in every study."""
    real, own = torch.randperm, SimpleNamespace(generator=None)
    _train_wrapped(monkeypatch, lambda a: setattr(own, "generator", torch.Generator().manual_seed(0)))
    monkeypatch.setattr(trainer.torch, "randperm", lambda n, generator=None: real(n, generator=own.generator))
    same = run_study(smoke_profile, datasets["busi"])
    check_order_changes_each_epoch(same)  # still a new order each epoch
    with pytest.raises(AssertionError):
        check_order_follows_the_seed(same, same, run_study(smoke_profile, datasets["busi"], seed=same.seed + 1))


@pytest.mark.parametrize("plant", ["view 0 in every epoch", "prefix in training mode"])
def test_planted_cached_features_are_caught(smoke_profile, datasets, studies, monkeypatch, plant):
    real = prefix_cache.PrefixViews.view
    if plant == "view 0 in every epoch":
        monkeypatch.setattr(prefix_cache.PrefixViews, "view", lambda self, v: real(self, 0))
    else:
        def view(self, v):
            self.prefix.eval = self.prefix.train  # PrefixViews.view's prefix.eval() trains it instead
            return real(self, v)
        monkeypatch.setattr(prefix_cache.PrefixViews, "view", view)
    uncached = studies()  # no cache: the plant does not reach it
    prefix_cache.clear()
    try:
        with pytest.raises(AssertionError):
            check_cached_features(run_study(smoke_profile, datasets["busi"], cache=True), uncached)
    finally:
        prefix_cache.clear()


def test_a_cache_key_without_the_images_is_caught(smoke_profile, datasets, monkeypatch):
    """Plant: the key hashes no image content (prefix_cache hashes ``np.ascontiguousarray(images)``)."""
    monkeypatch.setattr(prefix_cache, "np", SimpleNamespace(ascontiguousarray=lambda images: np.zeros(1, np.uint8)))
    try:
        with pytest.raises(AssertionError):
            check_cache_keeps_images_apart(smoke_profile, datasets["busi"])
    finally:
        prefix_cache.clear()


@pytest.mark.parametrize("plant", ["validated in training mode", "validation images flipped",
                                   "cached validation in training mode"])
def test_planted_scoring_is_caught(smoke_profile, datasets, monkeypatch, plant):
    cache = plant.startswith("cached")
    if plant == "validated in training mode":  # predict_scores' model.eval() does nothing
        _train_wrapped(monkeypatch, lambda a: setattr(a["backbone"].model, "eval", lambda: a["backbone"].model))
    elif plant == "validation images flipped":
        real = trainer.predict_scores
        monkeypatch.setattr(trainer, "predict_scores", lambda backbone, images, *args, **kwargs: real(
            backbone, np.ascontiguousarray(np.asarray(images)[..., ::-1]), *args, **kwargs))
    else:  # TrainingInputs.val_scores' suffix.eval() does nothing
        real_init = trainer.TrainingInputs.__init__

        def init(self, *args, **kwargs):
            real_init(self, *args, **kwargs)
            if self.prefix_length:
                self.suffix.eval = lambda: self.suffix
        monkeypatch.setattr(trainer.TrainingInputs, "__init__", init)
        prefix_cache.clear()
    try:
        study = run_study(smoke_profile, datasets["busi"], cache=cache)
        with pytest.raises(AssertionError):
            check_scoring(study, scored_after=False)
    finally:
        prefix_cache.clear()
