"""Command line: ``otel-llm-processor run|validate|backtest``. Only this module's caller exits."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sys
from collections.abc import Sequence

from otel_llm_processor import __version__
from otel_llm_processor.config import Config, ConfigError, load_config

__all__ = ["build_parser", "main"]

_BACKTEST = "otel_llm_processor.backtest"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="otel-llm-processor", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the service")
    run.add_argument("--config", help="YAML config file (embedded defaults when omitted)")
    validate = sub.add_parser("validate", help="validate a config file and exit (1 when invalid)")
    validate.add_argument("--config", required=True)
    backtest = sub.add_parser(
        "backtest", help="replay recorded data through detectors and rules", add_help=False
    )
    backtest.add_argument("args", nargs=argparse.REMAINDER, help="arguments of the backtest command")
    return parser


def _load(path: str | None) -> Config | None:
    try:
        return load_config(path)
    except ConfigError as exc:
        source = path or "<embedded default>"
        print(f"{source}: invalid config ({len(exc.errors)} error(s)):", file=sys.stderr)
        for line in exc.errors:
            print(f"  {line}", file=sys.stderr)
        return None


def _run(path: str | None) -> int:
    config = _load(path)
    if config is None:
        return 1
    level = config.service.telemetry.logs.level.upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from otel_llm_processor.runtime import tune_gc
    from otel_llm_processor.service import Service, StartError

    tune_gc()
    try:
        asyncio.run(Service(config).run())
    except StartError as exc:
        print(f"otel-llm-processor: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def _validate(path: str) -> int:
    config = _load(path)
    if config is None:
        return 1
    names = ", ".join(p.name for p in config.pipelines)
    print(f"{path}: ok ({len(config.components)} components, pipelines: {names})")
    return 0


def _backtest(args: Sequence[str]) -> int:
    try:
        module = importlib.import_module(_BACKTEST)
    except ModuleNotFoundError as exc:
        if exc.name and _BACKTEST.startswith(exc.name):
            print("otel-llm-processor: backtest is not available in this build", file=sys.stderr)
            return 2
        raise
    return int(module.main(list(args)) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["backtest"]:  # its own parser owns every argument after the word
        return _backtest(argv[1:])
    args = build_parser().parse_args(argv)
    if args.command == "run":
        return _run(args.config)
    if args.command == "validate":
        return _validate(args.config)
    return _backtest(args.args)
