"""Run every benchmark in bench/ with its short defaults and print each one's table: ``make bench``.

A benchmark is a ``bench/*.py`` script that defines ``main()`` (helpers are named ``instr_*.py``
or ``_*.py`` and are skipped). Each runs in its own process, in name order, so one's threads,
instrumentation or event loop cannot leak into the next; the exit status is non-zero when any
benchmark failed.

    python bench/run_all.py [NAME ...]     # e.g. instrumentation_overhead
"""

from __future__ import annotations

import ast
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["benchmarks", "main"]

HERE = Path(__file__).resolve().parent


def _defines_main(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return any(
        isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "main"
        for node in tree.body
    )


def benchmarks() -> list[Path]:
    return [
        p
        for p in sorted(HERE.glob("*.py"))
        if p.name != Path(__file__).name and not p.name.startswith(("instr_", "_")) and _defines_main(p)
    ]


def main(argv: list[str] | None = None) -> int:
    wanted = set(sys.argv[1:] if argv is None else argv)
    failed = []
    for path in benchmarks():
        if wanted and path.stem not in wanted:
            continue
        print(f"\n===== {path.stem} =====", flush=True)
        started = time.monotonic()
        code = subprocess.run([sys.executable, str(path)], cwd=str(HERE.parent), check=False).returncode
        print(f"===== {path.stem}: exit {code}, {time.monotonic() - started:.0f} s =====", flush=True)
        if code != 0:
            failed.append(path.stem)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
