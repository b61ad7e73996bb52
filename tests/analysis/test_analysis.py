"""Section 3.5 analysis: activation rates, activation rate change, DRS deviation from identity."""
from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from benchmark.analysis import describe_findings, images, representations, write_analysis
from benchmark.analysis.block_signs import block_sign_counts
from benchmark.analysis.images import NATURAL_PHOTOS
from benchmark.analysis.representations import (PRETRAINED_NATURAL, PRETRAINED_TEST, activation_rate_change,
                                                activation_rates, drs_deviation)
from benchmark.reporting.figures.analysis import draw_analysis_figures

SUFFIX = "[SYNTHETIC DATA - not BUSI]"
N_BLOCKS = 16  # efficientnet_lite0
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A real run folder (synthetic data, smoke profile) with feature_extraction and drs on repeat 0,
    fold 0, laid out as ``petl-bench suite`` lays it out (``runs/<method>/repeat-0/fold-0/``,
    ``predictions.csv``, ``studies.csv``, ``test_images.npz``), made with the suite's runner (no
    search, no leaderboard). Depends on the training side: runner.run, records.collect,
    suite.save_test_images."""
    from benchmark.common.profiles import load_profile
    from benchmark.runfolder import collect
    from benchmark.training.runner import RunSpec, evaluation_splits, load_data, run
    from benchmark.training.suite import save_test_images

    run_dir = tmp_path_factory.mktemp("analysis") / "run"
    smoke = load_profile("smoke")  # made smaller still: the analysis needs trained states, not good ones
    profile = replace(smoke, data=replace(smoke.data, synthetic_images=48),
                      train=replace(smoke.train, max_epochs=1))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PETL_BENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
        data, _ = load_data(RunSpec(method="drs", dataset="synthetic", profile=profile))
        for method in ("feature_extraction", "drs"):
            run(RunSpec(method=method, dataset="synthetic", profile=profile, repeat=0, fold=0),
                run_dir / "runs" / method / "repeat-0" / "fold-0", device="cpu", progress=False, data=data)
        save_test_images(run_dir, data, evaluation_splits(profile, data))
        collect(run_dir)
    return run_dir


def _copy(run_dir, dst, methods):
    """A run folder holding only ``methods``' runs (and the saved test images and tables)."""
    dst.mkdir()
    for name in ("test_images.npz", "predictions.csv", "studies.csv"):
        shutil.copy2(run_dir / name, dst / name)
    for m in methods:
        shutil.copytree(run_dir / "runs" / m, dst / "runs" / m)
    return dst


def _edit_state(run_dir, method, edit):
    path = run_dir / "runs" / method / "repeat-0" / "fold-0" / "trained_state.pt"
    state = torch.load(path, weights_only=True)
    edit(state)
    torch.save(state, path)
    return state


def _to_identity(state):
    for key, value in state.items():
        if key.endswith((".spatial_scale", ".channel_scale")):
            value.fill_(1.0)
        elif key.endswith((".spatial_shift", ".channel_shift")):
            value.zero_()


def test_activation_rates_per_block_and_reference(tiny_run):
    rates = activation_rates(tiny_run)
    assert list(rates.columns) == ["model", "block", "block_name", "rate", "images", "where"]
    assert set(rates["model"]) == {PRETRAINED_NATURAL, "feature_extraction", "drs"}
    for model, part in rates.groupby("model"):
        assert list(part["block"]) == list(range(N_BLOCKS)), model
        assert part["block_name"].iloc[0] == "blocks.0.0" and part["block_name"].iloc[-1] == "blocks.6.0"
    assert rates["rate"].between(0.0, 1.0).all() and rates["rate"].gt(0).all()
    nat = rates[rates["model"] == PRETRAINED_NATURAL]
    assert all(name in nat["images"].iloc[0] for name in NATURAL_PHOTOS)
    assert nat["images"].iloc[0].startswith("skimage.data: ")
    assert rates.loc[rates["model"] == "drs", "images"].iloc[0].startswith("test images, repeat 0, fold 0")
    assert set(rates["where"]) == {"block output (no final activation)"}
    # the natural photographs are not the ultrasound images
    fe = rates[rates["model"] == "feature_extraction"]["rate"].to_numpy()
    assert not np.allclose(fe, nat["rate"].to_numpy())


def test_identity_drs_changes_no_sign_and_a_perturbation_does(tiny_run, tmp_path):
    run = _copy(tiny_run, tmp_path / "identity", ["drs"])
    _edit_state(run, "drs", _to_identity)
    rates, change, _ = representations.analyse(run, 0, 0, rates=True, change=True, deviation=False)  # one pass for both
    assert list(change.columns) == ["method", "block", "block_name", "changed_fraction"]
    assert list(change["block"]) == list(range(N_BLOCKS)) and set(change["method"]) == {"drs"}
    assert (change["changed_fraction"] == 0.0).all()
    # without a feature_extraction run, the pretrained backbone on the test images is reported;
    # an identity DRS model has exactly its rates
    ref = rates[rates["model"] == PRETRAINED_TEST]["rate"].to_numpy()
    assert len(ref) == N_BLOCKS
    np.testing.assert_array_equal(rates[rates["model"] == "drs"]["rate"].to_numpy(), ref)

    def flip_last_block(state):  # D_m = -1 in the last block: every nonzero element changes sign
        state["blocks.6.0.inserted.channel_scale"].fill_(-1.0)

    _edit_state(run, "drs", flip_last_block)
    change = activation_rate_change(run).set_index("block")["changed_fraction"]
    assert (change.loc[: N_BLOCKS - 2] == 0.0).all()
    assert change.loc[N_BLOCKS - 1] > 0.99


def test_trained_drs_changes_some_signs(tiny_run):
    change = activation_rate_change(tiny_run)
    assert change["changed_fraction"].between(0.0, 1.0).all()
    assert change["changed_fraction"].gt(0).any()  # two epochs of training moved the DRS parameters


def test_deviation_from_known_values(tiny_run, tmp_path):
    run = _copy(tiny_run, tmp_path / "known", ["drs"])

    def known(state):
        _to_identity(state)
        state["blocks.0.0.inserted.spatial_scale"].fill_(1.5)
        shift = state["blocks.1.0.inserted.channel_shift"]
        shift.view(-1)[0] = -0.25
        state["blocks.1.0.inserted.channel_scale"].view(-1)[:2] = 0.0

    state = _edit_state(run, "drs", known)
    channels = state["blocks.1.0.inserted.channel_shift"].numel()
    dev = drs_deviation(run)
    assert list(dev.columns) == ["method", "block", "block_name", "parameter", "mean_abs_deviation",
                                 "max_abs_deviation"]
    assert len(dev) == 4 * N_BLOCKS and set(dev["parameter"]) == {"S_m", "S_b", "D_m", "D_b"}
    d = dev.set_index(["block", "parameter"])
    assert d.loc[(0, "S_m"), "mean_abs_deviation"] == pytest.approx(0.5)
    assert d.loc[(0, "S_m"), "max_abs_deviation"] == pytest.approx(0.5)
    assert d.loc[(0, "S_m"), "block_name"] == "blocks.0.0"
    assert d.loc[(1, "D_b"), "mean_abs_deviation"] == pytest.approx(0.25 / channels)
    assert d.loc[(1, "D_b"), "max_abs_deviation"] == pytest.approx(0.25)
    assert d.loc[(1, "D_m"), "mean_abs_deviation"] == pytest.approx(2.0 / channels)
    assert d.loc[(1, "D_m"), "max_abs_deviation"] == pytest.approx(1.0)
    others = dev[~((dev["block"] == 0) & (dev["parameter"] == "S_m"))
                 & ~((dev["block"] == 1) & dev["parameter"].isin(["D_b", "D_m"]))]
    assert (others[["mean_abs_deviation", "max_abs_deviation"]] == 0.0).all().all()


def test_write_analysis_files_figures_and_findings(tiny_run, monkeypatch):
    from benchmark.reporting.figures import canvas

    titles = {}
    real_save = canvas.save

    def recording_save(fig, path):
        texts = [t.get_text() for ax in fig.axes for t in (ax.title,)]
        texts.append(fig._suptitle.get_text() if fig._suptitle is not None else "")
        titles[path.name] = texts
        return real_save(fig, path)

    monkeypatch.setattr(canvas, "save", recording_save)
    written = write_analysis(tiny_run)  # the tables; the report draws the figures from them
    assert not (tiny_run / "figures").exists()
    for name in ("analysis/activation_rates.csv", "analysis/activation_rate_change.csv",
                 "analysis/drs_deviation.csv", "analysis/notes.md"):
        assert written[name] == tiny_run / name and written[name].is_file(), name
    drawn = draw_analysis_figures(tiny_run)
    for name in ("figures/activation_rates.png", "figures/activation_rate_change.png", "figures/drs_deviation.png"):
        assert drawn[name] == tiny_run / name and drawn[name].is_file(), name
    for name in ("activation_rates.png", "activation_rate_change.png", "drs_deviation.png"):
        assert (tiny_run / "figures" / name).read_bytes()[:8] == PNG
        assert any(SUFFIX in t for t in titles[name]), titles[name]
    rates = pd.read_csv(tiny_run / "analysis" / "activation_rates.csv")
    assert len(rates) == 3 * N_BLOCKS
    assert len(pd.read_csv(tiny_run / "analysis" / "activation_rate_change.csv")) == N_BLOCKS
    assert len(pd.read_csv(tiny_run / "analysis" / "drs_deviation.csv")) == 4 * N_BLOCKS
    notes = (tiny_run / "analysis" / "notes.md").read_text()
    assert "SYNTHETIC" in notes and "astronaut" in notes and "no final activation" in notes
    assert not list((tiny_run / "analysis").glob("*.tmp"))
    findings = describe_findings(tiny_run)
    assert findings and all(isinstance(f, str) and f.endswith(".") for f in findings)
    text = " ".join(findings)
    assert "natural photographs" in text and "drs changes the sign of" in text and "synthetic" in text


def test_run_without_drs_and_missing_state(tiny_run, tmp_path):
    run = _copy(tiny_run, tmp_path / "nodrs", ["feature_extraction", "drs"])
    (run / "runs" / "drs" / "repeat-0" / "fold-0" / "trained_state.pt").unlink()
    with pytest.warns(UserWarning, match="skipping drs .*no trained_state.pt"):
        write_analysis(run)
    drawn = draw_analysis_figures(run)
    assert drawn["figures/activation_rates.png"].is_file()
    for name in ("activation_rate_change", "drs_deviation"):
        frame = pd.read_csv(run / "analysis" / f"{name}.csv")
        assert frame.empty and len(frame.columns) >= 4
        assert isinstance(drawn[f"figures/{name}.png"], str)
        assert drawn[f"figures/{name}.png"].startswith("not written: no method with DRS layers")
        assert not (run / "figures" / f"{name}.png").exists()
    rates = pd.read_csv(run / "analysis" / "activation_rates.csv")
    assert set(rates["model"]) == {PRETRAINED_NATURAL, "feature_extraction"}
    assert "skipping drs" in (run / "analysis" / "notes.md").read_text()


def test_resnet_block_output_is_after_the_final_relu():
    from benchmark.models.backbones import create_structure
    from methods.drs import add_drs_layers

    torch.manual_seed(0)
    backbone = create_structure("resnet18", 64)
    layers = add_drs_layers(backbone)
    with torch.no_grad():
        for layer in layers:  # push the DRS output (before the ReLU) negative in places
            layer.channel_shift.normal_(0.0, 1.0)
    backbone.model.eval()
    seen = []
    hooks = [b.register_forward_hook(lambda m, i, o: seen.append(float(o.min()))) for b in backbone.blocks()]
    x = torch.randn(4, 3, 64, 64)
    counts = block_sign_counts(backbone, [x[:2], x[2:]])
    for h in hooks:
        h.remove()
    assert len(counts.total) == 8
    assert min(seen) >= 0.0  # outputs after the ReLU
    np.testing.assert_array_equal(counts.positive, counts.nonzero)  # so "positive" = "nonzero"
    assert ((counts.rate > 0) & (counts.rate < 1)).all()
    shapes = backbone.site_shapes()
    np.testing.assert_array_equal(counts.total, [4 * c * h * w for c, h, w in shapes])
    # whereas EfficientNet-Lite block outputs are signed (no final activation)
    lite = create_structure("efficientnet_lite0", 64)
    lite_counts = block_sign_counts(lite, [x])
    assert (lite_counts.nonzero > lite_counts.positive).all()


def test_sign_comparison_against_itself_is_zero():
    from benchmark.models.backbones import create_structure

    backbone = create_structure("resnet18", 32)
    batches = [torch.randn(3, 3, 32, 32), torch.randn(2, 3, 32, 32)]
    ref = block_sign_counts(backbone, batches, keep_signs=True)
    again = block_sign_counts(backbone, batches, reference=ref.signs)
    assert (again.changed == 0).all()
    np.testing.assert_array_equal(again.positive, ref.positive)
    with pytest.raises(ValueError, match="reference signs"):
        block_sign_counts(backbone, batches[:1], reference=ref.signs)


def test_natural_photographs_are_rgb_in_unit_range():
    photos, names = images.natural_photographs(48)
    assert photos.shape == (len(NATURAL_PHOTOS), 3, 48, 48) and names == list(NATURAL_PHOTOS)
    assert float(photos.min()) >= 0.0 and float(photos.max()) <= 1.0
    assert float((photos[:, 0] - photos[:, 1]).abs().mean()) > 0.01  # colour, not gray


def test_drs_layers_are_found_by_their_parameters_and_models_rebuilt_with_the_recorded_seed(tiny_run):
    from benchmark.analysis.fold_models import drs_layers, fold_runs, load_trained
    from benchmark.models.build import rebuild_trained
    from methods.drs import DRSLayer

    runs = {r.method: r for r in fold_runs(tiny_run)}
    backbone, state = load_trained(runs["drs"])
    found = [m for block in drs_layers(backbone) for _, m in block]
    assert len(found) == N_BLOCKS and all(isinstance(m, DRSLayer) for m in found)
    assert len(found) == sum(isinstance(m, DRSLayer) for m in backbone.model.modules())
    assert not any(drs_layers(load_trained(runs["feature_extraction"])[0]))
    config = {k: v for k, v in runs["drs"].config.items() if k != "train_seed"}
    with pytest.raises(ValueError, match="no train_seed"):  # the trainer always records it
        rebuild_trained(config, state)


@pytest.mark.slow
def test_the_report_draws_missing_figures_from_the_tables_alone(tiny_run, tmp_path, monkeypatch):
    from benchmark.reporting.sections.analysis import run_analysis

    run = _copy(tiny_run, tmp_path / "tables", ["feature_extraction", "drs"])
    write_analysis(run)
    tables = {p.name: p.read_bytes() for p in (run / "analysis").iterdir()}

    def no_model(*args, **kwargs):
        raise AssertionError("the tables are there: no model is run")

    findings, notes = run_analysis(run, analyse=no_model)
    assert findings == describe_findings(run) and not notes  # the findings the analysis wrote, read back
    pngs = {n: run / "figures" / n for n in ("activation_rates.png", "activation_rate_change.png", "drs_deviation.png")}
    assert all(p.read_bytes()[:8] == PNG for p in pngs.values())
    assert {p.name: p.read_bytes() for p in (run / "analysis").iterdir()} == tables
    times = {n: p.stat().st_mtime_ns for n, p in pngs.items()}
    run_analysis(run, analyse=no_model)  # up to date: not redrawn
    assert {n: p.stat().st_mtime_ns for n, p in pngs.items()} == times
    pngs["drs_deviation.png"].unlink()
    findings, notes = run_analysis(run)  # no analysis at hand: still drawn from the tables
    assert findings and notes == [] and pngs["drs_deviation.png"].is_file()
