"""The options several commands share, each declared once with one help text.

A command takes them through an argparse parent parser: ``shared("suite", "profile", "device")``.
Where a default differs by command (``--profile``: smoke for ``run``, quick elsewhere, none for
``bench``), the difference is written here, in ``DEFAULTS``, and nowhere else. Nothing here
imports torch: ``--dataset`` is checked against the data-set registry, read when a name is checked.
"""
from __future__ import annotations

import argparse

RUN_DIR_HELP = "a run folder written by `petl-bench suite` (e.g. reports/latest)"


def _dataset(name: str) -> str:
    """``--dataset``: a registered data set (the registry is read here, when a name is checked)."""
    from benchmark.data import DATASETS

    if name not in DATASETS:
        raise argparse.ArgumentTypeError(f"invalid choice: {name!r} (choose from {', '.join(DATASETS)})")
    return name


def _workers(text: str) -> str:
    """``--workers``, checked by ``suite.resolve_workers`` before a run folder is made."""
    from benchmark.training.suite import resolve_workers

    try:
        resolve_workers(text, "cpu")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return text


# name -> (flags, add_argument keywords); "default" here is the default of every command not in DEFAULTS
OPTIONS: dict[str, tuple[tuple[str, ...], dict]] = {
    "profile": (("--profile",), dict(help="a built-in profile (smoke, quick, paper, sites, ...) or the path of a TOML profile")),
    "device": (("--device",), dict(default="auto", help="auto, cpu, cuda, cuda:1, mps")),
    "dataset": (("--dataset",), dict(type=_dataset, metavar="NAME",
                                     help="the data set to train and test on (see `petl-bench datasets`)")),
    "data_root": (("--data-root",), dict(default=None, metavar="PATH",
                                         help="the data set's folder (default: its environment variable, "
                                              "datasets/<name>, ../shared/datasets/<dir>; see `petl-bench datasets`)")),
    "methods": (("--methods",), dict(default=None, help="comma-separated method names or sets: all, core, paper, "
                                                        "peft, literature (default: the profile's methods; bench "
                                                        "without --profile: all)")),
    "external": (("--external",), dict(action="append", default=[], metavar="NAME",
                                       help="a data set every trained model also scores once (external validation), "
                                            "besides the profile's [evaluation] external; repeatable (see "
                                            "`petl-bench datasets`)")),
    "reports": (("--reports",), dict(default="reports", help="folder for run folders (default: reports)")),
    "run_dir": (("--run-dir",), dict(default=None, help="resume or write this run folder instead of a new one")),
    "workers": (("--workers",), dict(type=_workers,
                                     help="studies at once, each in its own process with a share of the threads: "
                                          "a number, or auto (2 on a CPU, 1 on a GPU)")),
    "storage": (("--storage",), dict(default=None,
                                     help="Optuna storage URL, SQLAlchemy's form, e.g. postgresql+psycopg://USER@HOST:"
                                          "PORT/DB (psycopg 3: pip install -e \".[postgres]\"): several suite "
                                          "processes, on this machine or others, given the same URL and --artifacts "
                                          "share the search (default: SQLite optuna.db in the run folder; see "
                                          "docs/distributed.md)")),
    "artifacts": (("--artifacts",), dict(default=None,
                                         help="folder for the trials' trained states (Optuna's artifact store); hosts "
                                              "that share a --storage must see the same folder (default: "
                                              "RUN_DIR/artifacts)")),
    "no_progress": (("--no-progress",), dict(action="store_true", help="no progress bars")),
    "json": (("--json",), dict(action="store_true", help="machine-readable output")),
}

# the defaults that differ by command: (option, command) -> default
DEFAULTS: dict[tuple[str, str], object] = {
    ("profile", "methods"): "quick", ("profile", "run"): "smoke", ("profile", "suite"): "quick",
    ("profile", "all"): "quick", ("profile", "bench"): None,
    ("dataset", "run"): "busi", ("dataset", "suite"): "busi", ("dataset", "all"): None,
    ("workers", "suite"): "1", ("workers", "all"): "auto", ("workers", "compare"): "auto",
}
# what a default of None means, where it means something (shown in --help)
DEFAULT_MEANS: dict[tuple[str, str], str] = {
    ("profile", "bench"): "none: --backbone and --image-size as given",
    ("dataset", "all"): "busi if found (--data-root, $BUSI_ROOT, datasets/busi, ../shared/datasets/busi), else "
                        "synthetic, with a warning",
}


def default(option: str, command: str):
    """The default of ``option`` in ``command`` (``DEFAULTS``, else the option's own)."""
    return DEFAULTS.get((option, command), OPTIONS[option][1].get("default"))


def shared(command: str, *names: str) -> argparse.ArgumentParser:
    """A parent parser holding the shared options ``names`` with ``command``'s defaults (a new
    parser per command: argparse shares a parent's actions with its children)."""
    parent = argparse.ArgumentParser(add_help=False)
    for name in names:
        flags, keywords = OPTIONS[name]
        keywords = {**keywords, "default": default(name, command)}
        if (name, command) in DEFAULT_MEANS:
            keywords["help"] += f" (default: {DEFAULT_MEANS[name, command]})"
        parent.add_argument(*flags, **keywords)
    return parent


def run_dir_argument(parser: argparse.ArgumentParser) -> None:
    """The positional RUN_DIR of ``report`` and ``reference``."""
    parser.add_argument("run_dir", help=RUN_DIR_HELP)


def show_defaults(parser: argparse.ArgumentParser) -> None:
    """Every option's help ends with its default (``--help`` hides none), unless it already names it."""
    for action in parser._actions:
        if (action.option_strings and action.help not in (None, argparse.SUPPRESS) and "default" not in action.help
                and action.default not in (None, False, [], argparse.SUPPRESS) and action.nargs != 0):
            action.help += " (default: %(default)s)"
