"""The command line: ``petl-bench`` (or ``python -m benchmark``)."""
from __future__ import annotations

import argparse
import sys

from benchmark import __version__
from benchmark.cli import info, publish, report, run_all, train
from benchmark.cli.options import show_defaults

# the modules that add commands, in the order `petl-bench --help` lists them
COMMAND_MODULES = (info, train, report, publish, run_all)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="petl-bench", description=__doc__)
    parser.add_argument("--version", action="version", version=f"petl-bench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.add_commands(sub)
    for command in sub.choices.values():
        show_defaults(command)
    return parser


def _reported_errors() -> tuple[type[BaseException], ...]:
    """The errors printed as one line (exit status 2) rather than a traceback. A backbone's
    weights error is among them once its module is loaded (it cannot be raised before; importing
    it here would import torch and timm for every command)."""
    from benchmark.common.profiles import ProfileError

    errors: tuple[type[BaseException], ...] = (ProfileError, FileNotFoundError, KeyError, ValueError)
    backbones = sys.modules.get("benchmark.models.backbones")
    return errors + ((backbones.BackboneWeightsError,) if backbones is not None else ())


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Exception as exc:
        if not isinstance(exc, _reported_errors()):
            raise
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"petl-bench {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
