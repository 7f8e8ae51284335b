"""Command line: ``otel-llm-processor run|validate|backtest``."""

from __future__ import annotations

import argparse
import sys

from otel_llm_processor import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="otel-llm-processor", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the service")
    run.add_argument("--config", help="YAML config file (embedded defaults when omitted)")
    validate = sub.add_parser("validate", help="validate a config file and exit")
    validate.add_argument("--config", required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    print(f"otel-llm-processor {__version__}: '{args.command}' is not implemented yet", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
