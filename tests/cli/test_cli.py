"""The command line as a package: shared options declared once, `petl-bench all` (what run_all.sh
runs) with its steps replaced by recorders, and the imports a command costs."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark import pipeline
from benchmark.cli import build_parser, main
from benchmark.cli.options import OPTIONS

ROOT = Path(__file__).resolve().parents[2]
# what run_all.sh accepted before it became a wrapper of `petl-bench all`
RUN_ALL_OPTIONS = ["--profile", "--dataset", "--data-root", "--methods", "--device", "--reports", "--run-dir",
                   "--workers", "--external", "--storage", "--artifacts"]
BENCH_OWN = {"--dataset", "--data-root"}  # bench's --baseline images, not the training data
COMPARE_OWN = {"--methods"}  # compare's new methods (required), not a profile's


def _commands():
    sub = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    return sub.choices


def fake_busi(root: Path) -> Path:
    for label in ("benign", "malignant"):
        (root / label).mkdir(parents=True)
    return root


@pytest.fixture
def steps(monkeypatch):
    """Replace the steps of `all` by recorders; train and bench write what the next step reads."""
    calls = []

    def train(profile, dataset, run_dir, methods=None, **options):
        run_dir.mkdir(parents=True, exist_ok=True)
        calls.append(("train", dataset, run_dir, options.get("data_root"), methods, options))
        return True

    def bench(options):
        (Path(options.out) / "cost.csv").write_text("method\n")
        calls.append(("bench", options))
        return 0

    monkeypatch.setattr(pipeline, "train", train)
    monkeypatch.setattr(pipeline, "bench", bench)
    monkeypatch.setattr(pipeline, "report", lambda run_dir, **kw: calls.append(("report", run_dir)))
    monkeypatch.setattr(pipeline, "site_matrix", lambda run_dirs, out=None: calls.append(("sites", run_dirs)))
    return calls


def test_shared_options_have_one_help_everywhere():
    """Each shared option has its one help text in every command (then, maybe, that command's default)."""
    users: dict[str, set[str]] = {}
    for command, parser in _commands().items():
        for action in parser._actions:
            flag = action.option_strings[0] if action.option_strings else None
            if flag is None or (command == "bench" and flag in BENCH_OWN) or (command == "compare" and
                                                                              flag in COMPARE_OWN):
                continue
            shared = next((kw["help"] for flags, kw in OPTIONS.values() if flags[0] == flag), None)
            if shared is not None:
                assert action.help == shared or action.help.startswith(shared + " (default: "), (command, flag)
                users.setdefault(flag, set()).add(command)
    assert users["--device"] == {"run", "suite", "bench", "reference", "all", "compare"}
    assert users["--profile"] == {"methods", "run", "suite", "bench", "all"}
    assert users["--storage"] == {"suite", "all"} and users["--workers"] == {"suite", "all", "compare"}


def test_profile_defaults_by_command():
    commands = _commands()
    defaults = {c: p.get_default("profile") for c, p in commands.items() if "--profile" in p._option_string_actions}
    assert defaults == {"methods": "quick", "run": "smoke", "suite": "quick", "bench": None, "all": "quick"}
    assert commands["suite"].get_default("workers") == "1" and commands["all"].get_default("workers") == "auto"


def test_all_accepts_every_option_of_run_all(tmp_path):
    args = build_parser().parse_args(["all"])
    assert (args.profile, args.dataset, args.data_root, args.methods, args.device, args.reports, args.run_dir,
            args.workers, args.external, args.storage, args.artifacts) == (
        "quick", None, None, None, "auto", "reports", None, "auto", [], None, None)
    args = build_parser().parse_args([
        "all", "--profile", "smoke", "--dataset", "synthetic", "--data-root", "d", "--methods", "drs,lora",
        "--device", "cpu", "--reports", "r", "--run-dir", "r/x", "--workers", "2", "--external", "busi",
        "--external", "bus_bra", "--storage", "sqlite:///s.db", "--artifacts", "a"])
    assert args.external == ["busi", "bus_bra"] and args.workers == "2" and args.methods == "drs,lora"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["all", "--workers", "0"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["sites", "--train-sets", "sites"])  # the old plumbing flag is gone


def test_run_all_sh_is_the_python_command():
    done = subprocess.run([str(ROOT / "run_all.sh"), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("usage: petl-bench all")
    for option in RUN_ALL_OPTIONS:
        assert option in done.stdout
    text = (ROOT / "run_all.sh").read_text()
    assert 'exec "$PY" -m benchmark all "$@"' in text and len(text.splitlines()) < 25


def test_training_data_is_found_by_the_registry(tmp_path, monkeypatch):
    busi = fake_busi(tmp_path / "busi")
    assert pipeline.training_data(None, str(busi)) == ("busi", str(busi.resolve()))
    monkeypatch.setenv("BUSI_ROOT", str(busi))
    assert pipeline.training_data(None, None) == ("busi", str(busi.resolve()))
    assert pipeline.training_data("bus_bra", None) == ("bus_bra", None)  # given: not looked for here
    warnings = []
    assert pipeline.training_data(None, str(tmp_path / "nowhere"), warn=warnings.append) == ("synthetic", None)
    assert warnings[0].startswith(pipeline.NO_DATA_WARNING) and "nowhere (--data-root): does not exist" in warnings[0]


def test_all_runs_suite_bench_report_into_a_new_run_folder(tmp_path, steps, capsys):
    busi = fake_busi(tmp_path / "busi")
    reports = tmp_path / "reports"
    assert main(["all", "--profile", "smoke", "--reports", str(reports), "--data-root", str(busi),
                 "--methods", "drs", "--device", "cpu", "--workers", "1", "--external", "bus_bra"]) == 0
    (folder,) = [p for p in reports.iterdir() if p.name != "latest"]
    assert re.fullmatch(r"\d{8}-\d{6}-smoke", folder.name) and (reports / "latest").resolve() == folder.resolve()
    assert [c[0] for c in steps] == ["train", "bench", "report"]
    _, dataset, run_dir, data_root, methods, options = steps[0]
    assert (dataset, run_dir, data_root, methods) == ("busi", folder, str(busi.resolve()), "drs")
    assert options["device"] == "cpu" and options["workers"] == "1" and options["external"] == ["bus_bra"]
    bench = steps[1][1]
    assert (bench.steps, bench.profile, bench.methods, bench.device, bench.out) == (5, "smoke", "drs", "cpu",
                                                                                     str(folder))
    assert (bench.warmup, bench.batch_size, bench.baseline) == (2, 24, False)  # the bench command's defaults
    out = capsys.readouterr().out
    assert f"== 1/3 search, select, test: {folder}" in out
    assert re.search(rf"petl-bench all: done in \d+ s; open {re.escape(str(folder / 'index.html'))}", out)


def test_all_without_data_warns_and_trains_on_synthetic_data(tmp_path, steps, capsys):
    main(["all", "--profile", "smoke", "--reports", str(tmp_path / "r"), "--data-root", str(tmp_path / "none")])
    assert steps[0][1:2] == ("synthetic",) and steps[0][3] is None
    assert f"petl-bench all: {pipeline.NO_DATA_WARNING}" in capsys.readouterr().err


def test_all_resumes_a_run_dir_and_names_a_file_profile_by_its_name(tmp_path, steps):
    run_dir = tmp_path / "old-run"
    main(["all", "--profile", "smoke", "--dataset", "synthetic", "--reports", str(tmp_path / "r"),
          "--run-dir", str(run_dir)])
    assert steps[0][2] == run_dir and not (tmp_path / "r").exists()  # resumed: no new folder, no latest
    profile = tmp_path / "my_experiment.toml"
    profile.write_text('base = "smoke"\n')
    main(["all", "--profile", str(profile), "--dataset", "synthetic", "--reports", str(tmp_path / "r")])
    (folder,) = [p for p in (tmp_path / "r").iterdir() if p.name != "latest"]
    assert re.fullmatch(r"\d{8}-\d{6}-my_experiment", folder.name)  # the profile's name: its file's, here


def test_all_with_a_sites_profile_trains_once_per_set(tmp_path, steps):
    assert main(["all", "--profile", "sites", "--reports", str(tmp_path / "r")]) == 0
    folder = (tmp_path / "r" / "latest").resolve()
    assert re.fullmatch(r"\d{8}-\d{6}-sites", folder.name)
    assert [c[0] for c in steps] == ["train", "bench", "report", "train", "report", "sites"]
    assert [c[1:3] for c in steps if c[0] == "train"] == [("busi", folder / "train-busi"),
                                                          ("bus_bra", folder / "train-bus_bra")]
    assert all(c[3] is None for c in steps if c[0] == "train")  # each set found where `datasets` says
    assert (folder / "train-bus_bra" / "cost.csv").read_text() == "method\n"  # measured once, copied
    assert steps[-1] == ("sites", [folder])


def test_a_resumed_run_keeps_a_cost_table_that_measures_every_method(tmp_path, steps, capsys):
    """A resumed run does not measure again what its cost.csv has (minutes of CPU); a missing method,
    an error, another size or device is measured again."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    row = "{m},efficientnet_lite0,{size},cpu,{error}\n"
    table = "method,backbone,image_size,device,error\n"

    def resume(rows):
        (run_dir / "cost.csv").write_text(table + "".join(row.format(**r) for r in rows))
        steps.clear()
        main(["all", "--profile", "smoke", "--dataset", "synthetic", "--methods", "drs,lora", "--device", "cpu",
              "--run-dir", str(run_dir)])
        return [c[0] for c in steps]

    done = [dict(m="drs", size=64, error=""), dict(m="lora", size=64, error="")]
    assert resume(done) == ["train", "report"]
    assert f"== cost: {run_dir / 'cost.csv'} already measures these 2 methods" in capsys.readouterr().out
    assert resume(done[:1]) == ["train", "bench", "report"]
    assert resume([done[0], dict(m="lora", size=64, error="RuntimeError: out of memory")]) == [
        "train", "bench", "report"]
    assert resume([dict(r, size=112) for r in done]) == ["train", "bench", "report"]


@pytest.mark.parametrize("given", [["--dataset", "busi"], ["--data-root", "somewhere"]])
def test_a_sites_profile_refuses_dataset_and_data_root(tmp_path, steps, capsys, given):
    assert main(["all", "--profile", "sites", "--reports", str(tmp_path / "r"), *given]) == 2
    err = capsys.readouterr().err
    assert ("petl-bench all: error: --profile sites trains on its [sites] sets (busi bus_bra), each found where "
            "`petl-bench datasets` says: leave out --dataset and --data-root") in err
    assert not steps and not (tmp_path / "r").exists()


def test_the_parser_and_light_commands_import_no_torch():
    """`--help`, building the parser and parsing `report`/`datasets` import neither torch, timm nor peft."""
    code = ("import runpy, sys\n"
            "sys.argv = ['petl-bench', '--help']\n"
            "try:\n    runpy.run_module('benchmark', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "from benchmark.cli import build_parser\n"
            "build_parser().parse_args(['report', 'x']); build_parser().parse_args(['datasets', '--json'])\n"
            "print(sorted(m for m in ('torch', 'timm', 'peft') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_methods_verbose_prints_the_reviewer_table(capsys):
    """The reviewer's table (benchmark.plugins.method_table) is printed by `methods --verbose`, not kept in a page."""
    from benchmark.cli import main
    from benchmark.plugins.registry import list_methods

    assert main(["methods", "--verbose"]) == 0
    out = capsys.readouterr().out
    table = out[out.rindex("\nmethod"):]  # after the one-line-per-method list
    assert "identity  merge  bn stats  lr range" in table.splitlines()[1]
    for m in list_methods():
        assert f"citation: {m.citation}" in table, m.name
