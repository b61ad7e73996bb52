"""benchmark.reporting.pages.index on a fake run folder (no training, no browser): structure of index.html."""
from __future__ import annotations

import json
import re
import shutil
import sys
import warnings
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark.common.io import write_csv_atomic, write_json_atomic
from benchmark.reporting import write_report
from benchmark.reporting.sections.gallery import gallery_order

METHODS = {"good": 150_000, "middling": 1_281, "weak": 2_000_000}
N_TEST = 16
THRESHOLD = 0.5
# test image -> methods that get it wrong (at THRESHOLD): majority-wrong ones must come first
WRONG = {3: ("good", "middling", "weak"), 7: ("middling", "weak"), 5: ("weak",), 10: ("middling",)}
PNG = b"\x89PNG\r\n\x1a\n"


def _labels() -> np.ndarray:
    return np.array([i % 2 for i in range(N_TEST)])


def _ids() -> list[str]:
    return [f"case/{i:03d}" for i in range(N_TEST)]


def _scores(method: str, labels: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(sum(map(ord, method)))
    margin = {"good": 0.4, "middling": 0.25, "weak": 0.1}[method]
    s = np.where(labels == 1, THRESHOLD + margin, THRESHOLD - margin) + rng.uniform(-0.05, 0.05, labels.size)
    for i, wrong in WRONG.items():
        if method in wrong:  # on the other side of the threshold
            s[i] = THRESHOLD - 0.2 if labels[i] == 1 else THRESHOLD + 0.2
    return np.clip(s, 0.0, 1.0)


def _profile() -> dict:
    return {"name": "fake", "description": "a fake profile for report tests",
            "backbone": {"name": "efficientnet_lite0", "image_size": 32, "weights": None},
            "train": {"max_epochs": 3, "patience": 2, "batch_size": 8},
            "search": {"sampler": "grid", "lr": [0.001], "beta1": [0.9], "n_trials": 1},
            "evaluation": {"scheme": "kfold", "folds": FOLDS, "split_seeds": [0], "n_bootstrap": 50}}


FOLDS = 2


def _groups() -> np.ndarray:
    groups = np.arange(N_TEST)
    groups[2] = 0  # images 0 and 2 (both benign) are duplicates
    return groups


def make_run_folder(run_dir: Path, synthetic: bool = True, failed: tuple = ()) -> Path:
    """Three methods, 2-fold cross-validation (repeat 0), in the suite's layout: predictions.csv,
    studies.csv, runs/<method>/repeat-0/fold-<f>/results.json, and the saved images (shuffled, to
    test alignment by id). ``failed`` methods found no working configuration in fold 1."""
    labels, ids, groups = _labels(), _ids(), _groups()
    fold_of = np.arange(N_TEST) // 2 % FOLDS  # keeps the duplicate pair (0, 2) in one fold: 0, 0
    fold_of[2] = fold_of[0]
    methods = {**METHODS, **{m: 1_000 for m in failed}}
    write_json_atomic(run_dir / "suite.json", {"profile": _profile(), "dataset": "synthetic",
                                               "methods": list(methods), "external": []})
    rows, studies = [], []
    for method, trainable in methods.items():
        scores = _scores(method if method in METHODS else "weak", labels)
        for f in range(FOLDS):
            folder = run_dir / "runs" / method / "repeat-0" / f"fold-{f}"
            if method in failed and f == 1:
                write_json_atomic(folder / "failed.json", {"method": method, "repeat": 0, "fold": f,
                                                           "status": "no_working_configuration",
                                                           "reason": "every trial collapsed", "trials": []})
                studies.append({"method": method, "repeat": 0, "fold": f, "status": "no_working_configuration",
                                "reason": "every trial collapsed"})
                continue
            test = np.flatnonzero(fold_of == f)
            record = {
                "config": {"method": method, "repeat": 0, "fold": f, "lr": 1e-3, "beta1": 0.9, "method_params": {}},
                "method": {"name": method, "description": f"the {method} method", "citation": "Someone 2020"},
                "dataset": {"name": "synthetic" if synthetic else "busi", "synthetic": synthetic,
                            "checksum": "abc123", "n_images": 80, "n_excluded": 1,
                            "excluded": [{"id": "case/999", "reason": "duplicate"}],
                            "split_sizes": {"train": 54, "val": 10, "test": len(test)},
                            "split_malignant": {"train": 27, "val": 5, "test": int(labels[test].sum())}},
                "backbone": {"name": "efficientnet_lite0", "weights": {"source": "random", "detail": "test"}},
                "parameters": {"trainable": trainable, "trainable_without_head": trainable - 1281, "head": 1281,
                               "total": 3_372_289},
                "training": {"seconds_per_epoch": 0.5, "epochs_run": 3, "train_seconds": 1.5},
                "metrics": {},
                "profile": _profile(),
                "provenance": {"code": {"commit": "0123456789abcdef", "dirty": True},
                               "versions": {"python": "3.11", "torch": "2.4"},
                               "machine": {"device": "cpu", "processor": "x86_64", "cpu_count": 2}},
            }
            write_json_atomic(folder / "results.json", record)
            studies.append({"method": method, "repeat": 0, "fold": f, "status": "ok", "reason": ""})
            rows += [{"dataset": "synthetic", "method": method, "repeat": 0, "fold": f, "image_id": ids[i],
                      "group": int(groups[i]), "label": int(labels[i]), "score": float(scores[i]),
                      "threshold": THRESHOLD} for i in test]
    write_csv_atomic(run_dir / "predictions.csv", pd.DataFrame(rows).sample(frac=1.0, random_state=0))
    write_csv_atomic(run_dir / "studies.csv", pd.DataFrame(studies))
    perm = np.random.default_rng(1).permutation(N_TEST)
    images = (np.arange(N_TEST)[:, None, None] * 15 + np.zeros((1, 32, 32))).astype(np.uint8)
    with open(run_dir / "test_images.npz", "wb") as fh:
        np.savez_compressed(fh, images=images[perm], labels=labels[perm], ids=np.array(ids)[perm])
    return run_dir


class _Page(HTMLParser):
    """The parts of index.html the tests look at."""

    def __init__(self):
        super().__init__()
        self.body_first = None     # (tag, attrs) of the first element inside <body>
        self._in_body = False
        self.stack = []
        self.leaderboard_rows = 0
        self._in_leaderboard = self._in_tbody = False
        self.cards = []            # (image id, misclassified) in page order
        self.imgs = []
        self.hrefs = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self._in_body = True
            return
        if self._in_body and self.body_first is None:
            self.body_first = (tag, a)
        if tag == "table" and a.get("id") == "leaderboard":
            self._in_leaderboard = True
        if self._in_leaderboard and tag == "tbody":
            self._in_tbody = True
        if self._in_tbody and tag == "tr":
            self.leaderboard_rows += 1
        if "data-image-id" in a:
            self.cards.append((a["data-image-id"], a.get("data-misclassified") == "true"))
        if tag == "img":
            self.imgs.append(a.get("src", ""))
        if "href" in a:
            self.hrefs.append(a["href"])

    def handle_endtag(self, tag):
        if tag == "tbody" and self._in_tbody:
            self._in_tbody = self._in_leaderboard = False


def _parse(path: Path) -> tuple[str, _Page]:
    text = path.read_text()
    page = _Page()
    page.feed(text)
    return text, page


@pytest.fixture
def no_analysis(monkeypatch):
    """benchmark.analysis unavailable (import fails), so no model is run."""
    monkeypatch.setitem(sys.modules, "benchmark.analysis", None)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """The fake run folder as the suite leaves it: runs and test images, no leaderboard, no report."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_run_folder(tmp_path_factory.mktemp("report") / "base")


@pytest.fixture(scope="module")
def built(base, tmp_path_factory):
    """A copy of ``base`` with its report written (benchmark.analysis unavailable)."""
    run_dir = tmp_path_factory.mktemp("report") / "built"
    shutil.copytree(base, run_dir)
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "benchmark.analysis", None)
        _write(run_dir)
    return run_dir


@pytest.fixture
def run_folder(built, tmp_path, no_analysis):
    """A private copy of ``built`` (file times kept, so the leaderboard is not rebuilt)."""
    return Path(shutil.copytree(built, tmp_path / "run"))


def _write(run_dir: Path, analyse=None) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return write_report(run_dir, analyse=analyse)


def test_page_structure_and_rebuild(base, tmp_path, no_analysis):
    run_folder = Path(shutil.copytree(base, tmp_path / "run"))
    assert not (run_folder / "leaderboard.csv").exists()
    path = _write(run_folder)
    assert path == run_folder / "index.html"
    # write_report alone rebuilt the leaderboard, significance table and figures
    for name in ("leaderboard.csv", "leaderboard.md", "significance.csv", "figures/roc.png",
                 "figures/auc_vs_parameters.png", "figures/pvalues_nadeau_bengio.png"):
        assert (run_folder / name).is_file(), name
    text, page = _parse(path)
    assert page.body_first[0] == "div" and "banner" in page.body_first[1].get("class", "")
    assert "SYNTHETIC" in text and "say nothing about BUSI" in text
    assert page.leaderboard_rows == len(METHODS)
    # order of the sections
    heads = [text.index(h) for h in ('id="leaderboard"', 'id="significance"', 'id="roc"', 'id="auc-parameters"',
                                     'id="cost"', 'id="analysis"', 'id="gallery"', 'id="protocol"')]
    assert heads == sorted(heads)
    # the summary names the best method, its fold-stratified AUC and interval; the primary test is reported
    best = pd.read_csv(run_folder / "leaderboard.csv").iloc[0]
    assert (f'class="summary"><b>{best.method}</b> has the highest fold-stratified test AUC (pairs within one fold '
            f"model's test images), <b>{best.auc:.3f}</b> (95% CI {best.auc_ci_low:.3f}") in text
    assert "(method-level; Nadeau &amp; Bengio) (primary)" in text and "2-fold cross-validation" in text
    # protocol and provenance
    for needle in ("0123456789abcdef", "uncommitted changes", "abc123", "case/999", "efficientnet_lite0",
                   "32 px", "at most 3", "patience 2", "grid sampler", "bootstrap resamples", "torch 2.4"):
        assert needle in text, needle
    # the reporting checklist, named with its path in this checkout
    checklist = re.search(r'id="checklist">docs/checklist.md</span> in the suite\'s repository \(here <code>([^<]+)</code>',
                          text.replace("&#39;", "'"))
    assert checklist and Path(checklist.group(1)).is_file() and "TRIPOD+AI" in Path(checklist.group(1)).read_text()
    # the optional inputs are missing: short notes
    assert (f"not computed: run <code>petl-bench bench --backbone efficientnet_lite0 --image-size 32 --methods "
            f"{','.join(pd.read_csv(run_folder / 'leaderboard.csv')['method'])} --out {run_folder}</code>") in text
    assert "write_analysis" in text and "not computed" in text


def test_everything_is_embedded(built):
    text, page = _parse(built / "index.html")
    assert not re.search(r'(src|href)\s*=\s*["\']?\s*(https?:)?//', text, re.I)
    assert "<script" not in text.lower() and "<link" not in text.lower() and "@import" not in text
    assert "url(" not in text
    assert page.imgs and all(src.startswith("data:image/png;base64,") for src in page.imgs)
    assert all(h.startswith("#") for h in page.hrefs)
    # figures (3, the Pareto figure, a reliability diagram and a decision curve) + one thumbnail per test image
    # (16 < the gallery's cap)
    assert len(page.imgs) == 3 + 3 + N_TEST


def test_gallery_misclassified_first(built):
    _, page = _parse(built / "index.html")
    ids = _ids()
    assert len(page.cards) == N_TEST
    shown = [c[0] for c in page.cards]
    assert shown[:2] == [ids[3], ids[7]]  # wrong by 3 of 3, then by 2 of 3
    assert [c[1] for c in page.cards] == [True, True] + [False] * (N_TEST - 2)
    assert set(shown[2:4]) == {ids[5], ids[10]}  # wrong by one method: next


def test_gallery_order_unit():
    labels = np.array([1, 0, 1, 0])
    scores = {"a": np.array([0.2, 0.9, 0.8, 0.1]), "b": np.array([0.3, 0.1, 0.9, 0.7]),
              "c": np.array([0.9, 0.8, 0.9, 0.2])}
    order, wrong, majority = gallery_order(labels, scores, {"a": 0.5, "b": 0.5, "c": 0.5})
    assert list(wrong) == [2, 2, 0, 1]
    assert list(majority) == [True, True, False, False]
    assert order == [0, 1, 3, 2]
    # the threshold is inclusive: score >= threshold is malignant
    _, wrong, _ = gallery_order(np.array([1]), {"a": np.array([0.5])}, {"a": 0.5})
    assert wrong[0] == 0


def test_no_banner_on_real_data(run_folder, tmp_path):
    real = tmp_path / "real"
    shutil.copytree(run_folder, real)
    for path in real.glob("runs/*/repeat-*/fold-*/results.json"):
        record = json.loads(path.read_text())
        record["dataset"]["synthetic"] = False
        record["dataset"]["name"] = "busi"
        write_json_atomic(path, record)
    text, page = _parse(_write(real))
    assert "banner" not in page.body_first[1].get("class", "")
    assert page.body_first[0] == "header"
    assert "SYNTHETIC" not in text
    assert page.leaderboard_rows == len(METHODS)


@pytest.mark.slow
def test_cost_and_analysis_included(run_folder, monkeypatch):
    cost = pd.DataFrame({"method": list(METHODS), "backbone": "efficientnet_lite0", "image_size": 32,
                         "device": "cpu", "batch_size": 8, "train_images_per_s": [10.0, 20.0, 5.0],
                         "infer_images_per_s": [100.0, 200.0, 50.0], "latency_ms": 3.5, "peak_memory_mb": 300.0,
                         "forward_gflops_per_image": 0.4, "train_gflops_per_image": 1.2,
                         "achieved_train_gflops_per_s": 12.0, "fraction_of_peak": 0.0625,
                         "trainable_parameters": list(METHODS.values()), "total_parameters": 3_372_289,
                         "machine_peak_gflops_per_s": 192.0, "error": [None, None, "RuntimeError: out of memory"]})
    write_csv_atomic(run_folder / "cost.csv", cost)
    calls = []

    def write_analysis(run_dir):
        from PIL import Image

        calls.append(run_dir)
        (run_dir / "analysis").mkdir(exist_ok=True)
        for name in ("activation_rates", "activation_rate_change", "drs_deviation"):
            pd.DataFrame({"x": [1]}).to_csv(run_dir / "analysis" / f"{name}.csv", index=False)
            Image.new("RGB", (40, 20), "white").save(run_dir / "figures" / f"{name}.png")
        (run_dir / "analysis" / "notes.md").write_text("# Analysis\n\n## Findings\n\n- A finding about activation "
                                                       "rates.\n")

    (run_folder / "figures").mkdir(exist_ok=True)
    text, page = _parse(_write(run_folder, analyse=write_analysis))
    assert len(calls) == 1
    assert 'id="cost-table"' in text and "192.0 GFLOP/s" in text and "6.25" in text  # % of machine peak
    assert "train img/s" in text.split('id="leaderboard-more"')[1].split("</table>")[0]  # cost: more columns
    assert "A finding about activation rates." in text
    assert "petl-bench bench" not in text
    assert "Not measured: weak (RuntimeError: out of memory)" in text
    assert len(page.imgs) == 3 + 3 + 3 + N_TEST  # + Pareto, reliability and decision-curve figures
    _write(run_folder, analyse=write_analysis)
    assert len(calls) == 1  # CSVs present: not recomputed


def test_failing_analysis_is_a_note(run_folder):
    def write_analysis(run_dir):
        raise RuntimeError("no trained state")

    text, _ = _parse(_write(run_folder, analyse=write_analysis))
    assert "The analysis failed while building this report (RuntimeError: no trained state)" in text


@pytest.mark.slow
def test_stale_leaderboard_is_rebuilt(run_folder):
    _write(run_folder)
    assert "train img/s" not in (run_folder / "leaderboard.md").read_text()
    write_csv_atomic(run_folder / "cost.csv", pd.DataFrame({"method": list(METHODS), "train_images_per_s": 1.0,
                                                            "infer_images_per_s": 2.0}))
    _write(run_folder)  # cost.csv is newer than leaderboard.csv
    assert "train img/s" in (run_folder / "leaderboard.md").read_text()


def test_gallery_is_capped_and_thumbnails_are_small(run_folder, monkeypatch):
    import base64
    import io

    from PIL import Image

    import benchmark.reporting.pages.index as report

    monkeypatch.setattr(report, "GALLERY_SIZE", 5)
    run_dir = run_folder
    _, page = _parse(_write(run_dir))
    assert len(page.cards) == 5
    thumbs = [s for s in page.imgs if s.startswith("data:image/png;base64,")][-5:]
    for src in thumbs:
        img = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
        assert 96 <= max(img.size) <= 128


def test_unranked_method_is_listed_but_not_compared_or_shown(tmp_path, no_analysis):
    run_dir = make_run_folder(tmp_path / "run", failed=("broken",))
    text, page = _parse(_write(run_dir))
    assert page.leaderboard_rows == len(METHODS) + 1
    table = text.split('id="leaderboard"')[1].split("</table>")[0]
    assert "no working configuration found: every trial collapsed (1 of 2 studies)" in table
    assert 'class="unranked"' in table
    gallery = text.split('id="gallery"')[1].split("</section>")[0]
    assert "broken" not in gallery
    significance = text.split('id="significance"')[1].split("</section>")[0]
    assert "broken" not in significance
    assert "Unranked (1): broken" in text


# ------------------------------------------------------------------------- external validation
def _external_run(tmp_path: Path, facts: bool = True) -> Path:
    """A fake run (tests/support/fake_runs.py) of three methods with one external set, ``ext_a``, and its external.json."""
    from fake_runs import make_run_folder as fake_run_folder

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_dir = fake_run_folder(tmp_path, methods=("good", "random_a", "weak"), folds=2, n_images=60,
                                  n_malignant=20, duplicate_pairs=5, externals={"ext_a": (30, 10)}, n_bootstrap=50,
                                  synthetic=True)
    if facts:
        write_json_atomic(run_dir / "external.json", {"ext_a": {
            "name": "ext_a", "title": "External Set A", "description": "an external test set",
            "citation": "Doe J. An external set. 2024", "licence": "CC BY 4.0 (test)", "synthetic": False,
            "n_images": 30, "n_malignant": 10, "checksum": "ext999", "n_excluded": 0,
            "duplicates_of_training_images": 2,
            "duplicate_pairs": [["img_0001", "ext_a_0003"], ["img_0004", "ext_a_0007"]]}})
    return run_dir


def _section(text: str, anchor: str) -> str:
    start = text.index(f'<section id="{anchor}">')
    return text[start:text.index("</section>", start)]


def _table_rows(html_text: str, table_id: str) -> list[list[str]]:
    body = html_text.split(f'id="{table_id}"')[1].split("<tbody>")[1].split("</tbody>")[0]
    return [re.findall(r"<td>(.*?)</td>", tr) for tr in re.findall(r"<tr>(.*?)</tr>", body)]


@pytest.mark.slow
def test_external_validation_section(tmp_path, no_analysis):
    run_dir = _external_run(tmp_path)
    text, page = _parse(_write(run_dir))
    assert "#external" in page.hrefs
    heads = [text.index(h) for h in ('id="auc-parameters"', 'id="external"', 'id="cost"')]
    assert heads == sorted(heads)
    section = _section(text, "external")
    assert "<h2>External validation</h2>" in section
    for needle in ("External Set A", "CC BY 4.0 (test)", "Doe J. An external set. 2024",
                   "30 images: 10 malignant, 20 benign", "2 external images duplicate a training image",
                   "ext_a_0003", "ext999"):
        assert needle in section, needle
    # the table: every ranked method, in leaderboard order, with the leaderboard's external columns
    lb = pd.read_csv(run_dir / "leaderboard.csv")
    ranked = lb[lb["rank"].notna()]
    rows = _table_rows(section, "external-ext_a-table")
    assert [r[0] for r in rows] == list(ranked["method"])
    for row, (_, r) in zip(rows, ranked.iterrows()):
        assert row[1] == f"{r.auc:.3f} [{r.auc_ci_low:.3f}, {r.auc_ci_high:.3f}]"
        assert row[2] == f"{r.external_ext_a_auc:.3f} [{r.external_ext_a_ci_low:.3f}, {r.external_ext_a_ci_high:.3f}]"
        assert row[3] == f"{r.external_ext_a_drop:+.3f}"
        assert r.external_ext_a_drop == pytest.approx(r.auc - r.external_ext_a_auc)
    # the differences that survive Holm on the external images (the method-level primary test)
    sig = pd.read_csv(run_dir / "significance.csv")
    ext = sig[(sig["dataset"] == "ext_a") & (sig["test"] == "nadeau_bengio")]
    n_sig = int(ext["significant"].astype(str).str.lower().eq("true").sum())
    assert len(ext) == 3
    assert (f"{n_sig} of 3 differences between methods survive Holm" if n_sig else
            "no difference between methods survives Holm correction") in section
    # the figure: drawn, embedded in the section
    import base64

    figure = run_dir / "figures" / "external_ext_a.png"
    assert figure.is_file() and figure.read_bytes().startswith(PNG)
    assert f'src="data:image/png;base64,{base64.b64encode(figure.read_bytes()).decode()}"' in section
    # the training data set's licence in the protocol
    assert "synthetic licence" in _section(text, "protocol")


@pytest.mark.slow
def test_external_section_without_external_json(tmp_path, no_analysis):
    run_dir = _external_run(tmp_path, facts=False)
    section = _section(_parse(_write(run_dir))[0], "external")
    assert "30 images: 10 malignant, 20 benign" in section  # counted from predictions.csv
    assert "not recorded" in section and "duplicate a training image" not in section
    assert len(_table_rows(section, "external-ext_a-table")) == 3
    assert (run_dir / "figures" / "external_ext_a.png").is_file()


def test_no_external_section_without_external_sets(built):
    text, page = _parse(built / "index.html")
    assert 'id="external"' not in text and "External validation" not in text
    assert "#external" not in page.hrefs
    assert not list((built / "figures").glob("external_*.png"))
